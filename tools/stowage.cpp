// stowage.cpp — the `stowage` command: a table of subcommands over data
// directories, for people inspecting their data and for black-box tests.
//
// Each group of commands lives in its own header under cli/ and contributes
// `command` entries (name, synopsis, help, function) to the table below;
// cli/common.hpp holds argument parsing, exit codes and error reporting.
#include <iostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli/cache_commands.hpp"
#include "cli/common.hpp"
#include "cli/hash_command.hpp"
#include "cli/store_commands.hpp"
#include "cli/db_commands.hpp"
#include "cli/cas_commands.hpp"
#include "cli/index_commands.hpp"
#include "cli/backup_commands.hpp"

namespace {

using namespace stowage::cli;

// Every subcommand, in the order `stowage --help` lists them.
constexpr const command* commands[] = {
    &put_command, &get_command, &ls_command, &rm_command, &verify_command,
    &stress_command, &race_command, &wal_dump_command, &cas_command,
    &hash_command, &cache_sim_command,
    &backup_command, &export_command, &import_command, &repair_command,
    &index_command,
};

const command* find_command(std::string_view name) {
    for (const command* c : commands)
        if (c->name == name) return c;
    return nullptr;
}

void print_usage(std::ostream& out) {
    out << "usage: stowage <command> [arguments]\n"
           "       stowage <command> --help\n"
           "\n"
           "Inspects and checks data written by the stowage library.\n"
#ifdef STOWAGE_HAVE_RADOS
           "Wherever a command takes DIR (a data directory) it also takes rados:POOL:CONF:\n"
           "a Ceph pool and the path of the cluster's ceph.conf.\n"
#endif
           "\n"
           "commands:\n";
    for (const command* c : commands)
        out << "  " << c->name << " " << c->synopsis << "\n      " << c->summary << "\n";
    out << "\nexit codes:\n";
    for (const auto& e : exit_codes) out << "  " << static_cast<int>(e.code) << "  " << e.meaning << "\n";
}

void print_command_help(const command& c) {
    std::cout << "usage: stowage " << c.name << " " << c.synopsis << "\n\n" << c.summary << ".\n";
    if (!c.details.empty()) std::cout << "\n" << c.details << "\n";
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> words(argv + std::min(argc, 2), argv + argc);
    std::string_view first = argc > 1 ? argv[1] : "";

    if (first == "--help" || first == "-h" || first == "help") {
        if (first == "help" && !words.empty()) {
            const command* c = find_command(words[0]);
            if (!c) {
                print_error("no such command '" + words[0] + "'; try 'stowage --help'");
                return exit_usage;
            }
            print_command_help(*c);
        } else {
            print_usage(std::cout);
        }
        return finish_output(exit_ok);
    }
    if (first.empty()) {  // one line, not the whole table: 'stowage --help' has that
        std::cerr << "usage: stowage <command> [arguments]; 'stowage --help' lists the commands\n";
        return exit_usage;
    }
    const command* cmd = find_command(first);
    if (!cmd) {
        print_error("unknown command '" + std::string(first) + "'; try 'stowage --help'");
        return exit_usage;
    }
    arguments args(cmd->name, std::move(words));
    if (args.flag("--help") || args.flag("-h")) {
        print_command_help(*cmd);
        return finish_output(exit_ok);
    }
    return run_command(*cmd, args);
}
