// cli/common.hpp — what every `stowage` command shares: the command table
// entry, exit codes, argument parsing and one-line error reporting.
//
// A command is a function over its arguments that returns an exit code and
// throws for failures; run_command() turns each exception into one line on
// stderr ("stowage: <message>") and the matching exit code, so commands never
// print errors or pick exit codes for failures themselves.
// Thread safety: single-threaded; the tool runs one command per process.
#pragma once

#include <cstddef>
#include <exception>
#include <iostream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <stowage/error.hpp>

namespace stowage::cli {

// --- exit codes: stable, scripts depend on them -------------------------------
enum exit_code : int {
    exit_ok = 0,        // success
    exit_damaged = 1,   // damage found: a digest or record failed verification
    exit_usage = 2,     // usage error: unknown command or option, bad arguments
    exit_failure = 3,   // I/O or any other error
};

struct exit_code_doc {
    exit_code code;
    std::string_view meaning;
};
inline constexpr exit_code_doc exit_codes[] = {
    {exit_ok, "success"},
    {exit_damaged, "damage found: data failed verification"},
    {exit_usage, "usage error: unknown command or option, bad arguments"},
    {exit_failure, "I/O or other error (unreadable file, full disk, ...)"},
};

// Thrown for anything wrong with the command line: exit 2.
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Thrown when a command found damaged data: exit 1.
class damage_found : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// --- arguments -----------------------------------------------------------------

// The words after the command name. A command first takes its options
// (`--name VALUE`, `--name=VALUE`, flags), then the positionals; whatever
// still looks like an option at that point is a usage error. "--" ends the
// options; "-" alone is a positional (standard input, by convention).
class arguments {
public:
    arguments(std::string_view command, std::vector<std::string> words)
        : command_(command), words_(std::move(words)) {}

    std::string_view command() const { return command_; }

    // The value of --name, or nullopt when absent.
    std::optional<std::string> option(std::string_view name) {
        std::optional<std::string> value;
        for (std::size_t i = 0; i < end_of_options(); ++i) {
            const std::string& w = words_[i];
            if (!is_named(w, name)) continue;
            if (value) throw usage_error(std::string(command_) + ": option " + std::string(name) + " given twice");
            if (w.size() > name.size()) {  // --name=value
                value = w.substr(name.size() + 1);
                words_.erase(words_.begin() + static_cast<std::ptrdiff_t>(i));
            } else {
                if (i + 1 >= end_of_options())
                    throw usage_error(std::string(command_) + ": option " + std::string(name) + " needs a value");
                value = words_[i + 1];
                words_.erase(words_.begin() + static_cast<std::ptrdiff_t>(i),
                             words_.begin() + static_cast<std::ptrdiff_t>(i + 2));
            }
            --i;
        }
        return value;
    }

    // Every value of a repeatable option (--name A --name B, or
    // --name=A), in order; empty when absent.
    std::vector<std::string> options(std::string_view name) {
        std::vector<std::string> values;
        for (std::size_t i = 0; i < end_of_options(); ++i) {
            const std::string& w = words_[i];
            if (!is_named(w, name)) continue;
            if (w.size() > name.size()) {  // --name=value
                values.push_back(w.substr(name.size() + 1));
                words_.erase(words_.begin() + static_cast<std::ptrdiff_t>(i));
            } else {
                if (i + 1 >= end_of_options())
                    throw usage_error(std::string(command_) + ": option " + std::string(name) + " needs a value");
                values.push_back(words_[i + 1]);
                words_.erase(words_.begin() + static_cast<std::ptrdiff_t>(i),
                             words_.begin() + static_cast<std::ptrdiff_t>(i + 2));
            }
            --i;
        }
        return values;
    }

    // Whether the flag --name (no value) is present.
    bool flag(std::string_view name) {
        bool found = false;
        for (std::size_t i = 0; i < end_of_options(); ++i) {
            if (words_[i] != name) continue;
            found = true;
            words_.erase(words_.begin() + static_cast<std::ptrdiff_t>(i));
            --i;
        }
        return found;
    }

    // Removes and returns the first word when it is not an option (for
    // commands with subcommands: `stowage cas put ...`).
    std::optional<std::string> subcommand() {
        if (words_.empty() || words_.front().starts_with("-")) return std::nullopt;
        std::string w = std::move(words_.front());
        words_.erase(words_.begin());
        return w;
    }

    // The positional words, in order, between min and max of them.
    std::vector<std::string> positionals(std::size_t min = 0,
                                         std::size_t max = std::numeric_limits<std::size_t>::max()) {
        std::vector<std::string> out;
        bool options_over = false;
        for (const std::string& w : words_) {
            if (!options_over && w == "--") {
                options_over = true;
            } else if (!options_over && w.size() > 1 && w[0] == '-') {
                throw usage_error(std::string(command_) + ": unknown option " + w);
            } else {
                out.push_back(w);
            }
        }
        if (out.size() < min || out.size() > max) {
            std::string want = min == max ? std::to_string(min)
                             : max == std::numeric_limits<std::size_t>::max()
                                 ? "at least " + std::to_string(min)
                                 : std::to_string(min) + " to " + std::to_string(max);
            throw usage_error(std::string(command_) + ": expected " + want + " argument" +
                              (max == 1 ? "" : "s") + ", got " + std::to_string(out.size()));
        }
        return out;
    }

private:
    std::size_t end_of_options() const {
        for (std::size_t i = 0; i < words_.size(); ++i)
            if (words_[i] == "--") return i;
        return words_.size();
    }
    static bool is_named(std::string_view word, std::string_view name) {
        return word.starts_with(name) && (word.size() == name.size() || word[name.size()] == '=');
    }

    std::string_view command_;
    std::vector<std::string> words_;
};

// --- the command table ----------------------------------------------------------
struct command {
    std::string_view name;
    std::string_view synopsis;  // arguments, as in "hash [--algo ALGO] [FILE...]"
    std::string_view summary;   // one line for `stowage --help`
    std::string_view details;   // shown by `stowage <name> --help`; may be empty
    int (*run)(arguments& args);
};

// --- errors -----------------------------------------------------------------------

// One line on stderr, whatever the message holds.
inline void print_error(std::string_view message) {
    std::string line = "stowage: ";
    for (char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;
    line += '\n';
    std::cerr << line << std::flush;
}

// The exit code for a library error: damaged data is 1, a bad argument 2.
inline exit_code exit_code_for(const error& e) {
    switch (e.kind()) {
        case errc::corrupt:
        case errc::checksum_mismatch: return exit_damaged;
        case errc::bad_input: return exit_usage;
        default: return exit_failure;
    }
}

// Flushes stdout and reports a failed write (a full disk, a closed pipe).
inline int finish_output(int code) {
    std::cout.flush();
    if (!std::cout) {
        print_error("error writing to standard output");
        return exit_failure;
    }
    return code;
}

// Runs a command, mapping every failure to one stderr line and its exit code.
inline int run_command(const command& cmd, arguments& args) {
    try {
        return finish_output(cmd.run(args));
    } catch (const usage_error& e) {
        print_error(std::string(e.what()) + "; try 'stowage " + std::string(cmd.name) + " --help'");
        return exit_usage;
    } catch (const damage_found& e) {
        print_error(e.what());
        return exit_damaged;
    } catch (const error& e) {
        print_error(e.what());
        return exit_code_for(e);
    } catch (const std::bad_alloc&) {
        print_error("out of memory");
        return exit_failure;
    } catch (const std::exception& e) {
        print_error(e.what());
        return exit_failure;
    }
}

}  // namespace stowage::cli
