// fuzz_support.hpp — what the libFuzzer harnesses of tests/fuzz/ share: the
// described record type they decode (make_corpus.cpp encodes the seeds with
// the same type), and the rule every harness enforces: decoding arbitrary
// bytes either succeeds or throws stowage::error. Any other exception is a
// finding: it is reported and the process aborts, so libFuzzer saves the input.
#pragma once

#include <stowage/codec/adapter.hpp>
#include <stowage/describe.hpp>
#include <stowage/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <array>
#include <chrono>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <unistd.h>

namespace fuzz {

enum class state { draft, active, done };
STOWAGE_DESCRIBE_ENUM(state, draft, active, done)

struct item {
    std::int32_t n = 0;
    std::optional<double> score;
};
STOWAGE_DESCRIBE(item, n, score)

// The field kinds of issue 20, so the decoders' paths for them run too.
struct kinds {
    std::chrono::system_clock::time_point at;
    std::chrono::milliseconds length{0};
    std::vector<std::byte> blob;
    std::array<std::byte, 4> digest{};
    std::array<std::int16_t, 2> pair_of{};
    std::set<std::string> labels;
    std::map<std::int64_t, state> by_number;
    std::unordered_map<std::string, bool> flags;
    std::pair<std::uint8_t, std::string> pair;
    std::tuple<double, state> tuple;
    std::variant<std::monostate, std::int64_t, std::string, item> choice;
    std::optional<std::optional<std::int32_t>> maybe_maybe;
    std::filesystem::path path;
};
STOWAGE_DESCRIBE(kinds, at, length, blob, digest, pair_of, labels, by_number, flags, pair, tuple, choice, maybe_maybe, path)

// string, int64, vector<string> and optional fields, plus a few more kinds
// (enum, nested structs, map, float, bool) so the decoders' other paths run.
struct record {
    std::string id;
    std::int64_t count = 0;
    std::vector<std::string> tags;
    std::optional<std::string> note;
    std::optional<std::int64_t> parent;
    state status = state::draft;
    std::vector<item> items;
    std::map<std::string, std::uint32_t> counters;
    std::optional<float> ratio;
    std::optional<bool> flag;
    std::optional<kinds> more;
};
STOWAGE_DESCRIBE(record, id, count, tags, note, parent, status, items, counters, ratio, flag, more)

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

// A path of this process under $TMPDIR (several fuzzers may run at once),
// removed at a normal exit.
struct scratch_path {
    std::filesystem::path path;
    explicit scratch_path(std::string_view name)
        : path(std::filesystem::temp_directory_path() / (std::string(name) + "-" + std::to_string(::getpid()))) {}
    ~scratch_path() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

// Runs f(); a stowage::error is an expected outcome, anything else aborts.
template <class F>
void expect_only_stowage_errors(const char* what, F&& f) {
    try {
        f();
    } catch (const stowage::error&) {
        // Refused with the one exception type stowage throws: fine.
    } catch (const std::exception& e) {
        std::fprintf(stderr, "FUZZ FINDING (%s): unexpected exception %s: %s\n", what, typeid(e).name(), e.what());
        std::abort();
    } catch (...) {
        std::fprintf(stderr, "FUZZ FINDING (%s): unexpected non-std exception\n", what);
        std::abort();
    }
}

}  // namespace fuzz
