// testing/conformance.hpp — what every conformance kit returns: a report
// that names each property a policy failed.
//
// The kits (testing/storage.hpp, hasher.hpp, codec.hpp, eviction.hpp,
// chunk.hpp) check a policy against its contract in concepts.hpp. They are
// for a client's own test suite and use no test framework: each returns a
// conformance_report; `require()` turns a failed one into an exception.
//
//   auto r = stowage::testing::check_hasher<fnv1a64>();
//   BOOST_TEST(r.ok(), r.summary());        // Boost.Test
//   EXPECT_TRUE(r.ok()) << r.summary();     // GoogleTest
//   r.require();                            // anything else: throws
//
// A property is named "<family>.<property>" (e.g. "hasher.pieces_equal_whole");
// a failure says what was expected and what happened. An exception that
// escapes the policy during a property's checks fails that property (and
// only it: the kit goes on with the next).
//
// Thread safety: a report is a plain value (no sharing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stowage::testing {

// One check a policy failed.
struct conformance_failure {
    std::string property;  // "<family>.<property>"
    std::string detail;    // what was expected, what happened
};

class conformance_report {
public:
    explicit conformance_report(std::string subject = {}) : subject_(std::move(subject)) {}

    // What was checked ("hasher fnv1a64").
    const std::string& subject() const { return subject_; }
    bool ok() const { return failures_.empty(); }
    explicit operator bool() const { return ok(); }
    // The failures kept: the first few of each property (failed_checks()
    // counts them all).
    const std::vector<conformance_failure>& failures() const { return failures_; }
    std::size_t checks() const { return checks_; }
    std::size_t failed_checks() const { return failed_; }

    // Whether `property` failed at all.
    bool failed(std::string_view property) const {
        for (const auto& f : failures_)
            if (f.property == property) return true;
        return false;
    }

    // Counts a check; records a failure when it does not hold. Returns holds.
    bool expect(bool holds, std::string_view property, std::string_view detail = {}) {
        ++checks_;
        if (!holds) fail(property, std::string(detail));
        return holds;
    }

    void fail(std::string_view property, std::string detail) {
        ++failed_;
        auto& n = per_property_[std::string(property)];
        if (++n <= max_kept_per_property) failures_.push_back({std::string(property), std::move(detail)});
    }

    // Runs f (one property's checks); an exception escaping it fails the
    // property, naming the exception.
    template <class F>
    void property(std::string_view name, F&& f) {
        try {
            f();
        } catch (const std::exception& e) {
            fail(name, std::string("unexpected exception: ") + e.what());
        } catch (...) {
            fail(name, "unexpected exception of an unknown type");
        }
    }

    // Folds another report's checks and failures into this one.
    void merge(const conformance_report& other) {
        checks_ += other.checks_;
        for (const auto& f : other.failures_) fail(f.property, f.detail);
        failed_ += other.failed_ - other.failures_.size();
    }

    // "hasher fnv1a64: ok (120 checks)" or one line per failure.
    std::string summary() const {
        std::string out = subject_.empty() ? std::string("policy") : subject_;
        if (ok()) return out + ": ok (" + std::to_string(checks_) + " checks)";
        out += ": " + std::to_string(failed_) + " of " + std::to_string(checks_) + " checks failed";
        for (const auto& f : failures_) out += "\n  " + f.property + ": " + f.detail;
        for (const auto& [p, n] : per_property_)
            if (n > max_kept_per_property)
                out += "\n  " + p + ": ... and " + std::to_string(n - max_kept_per_property) + " more";
        return out;
    }

    // Throws conformance_error (below) when a property failed.
    void require() const;

    friend std::ostream& operator<<(std::ostream& os, const conformance_report& r) { return os << r.summary(); }

    static constexpr std::size_t max_kept_per_property = 5;

private:
    std::string subject_;
    std::vector<conformance_failure> failures_;
    std::map<std::string, std::size_t, std::less<>> per_property_;
    std::size_t checks_ = 0;
    std::size_t failed_ = 0;
};

// A failed conformance report, as an exception: what() is its summary.
class conformance_error : public std::logic_error {
public:
    explicit conformance_error(conformance_report report)
        : std::logic_error(report.summary()), report_(std::move(report)) {}
    const conformance_report& report() const { return report_; }

private:
    conformance_report report_;
};

inline void conformance_report::require() const {
    if (!ok()) throw conformance_error(*this);
}

namespace detail {
// Deterministic sample data for the kits (splitmix64).
class kit_random {
public:
    explicit kit_random(std::uint64_t seed) : x_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (x_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }

private:
    std::uint64_t x_;
};
}  // namespace detail

}  // namespace stowage::testing
