// Compile-fail checks of struct projections (tests/cmake/compile_fail.cmake):
// each STOWAGE_CASE must fail to compile with a message naming the field.
#include <cstdint>
#include <string>

#include <stowage/projection.hpp>

namespace app {
struct session {
    std::string id, name;
    std::int64_t started_at = 0;
    std::int64_t count = 0;
};
STOWAGE_DESCRIBE(session, id, name, started_at, count)

#if STOWAGE_CASE == 1
// A misspelled field: it used to stay empty.
struct summary {
    std::string id, nmae;
};
STOWAGE_DESCRIBE(summary, id, nmae)
#elif STOWAGE_CASE == 2
// A string from an int64: it used to be assigned a char ("*" from 42).
struct summary {
    std::string id, started_at;
};
STOWAGE_DESCRIBE(summary, id, started_at)
#elif STOWAGE_CASE == 3
// A narrowing conversion (int64 -> int32).
struct summary {
    std::string id;
    std::int32_t count = 0;
};
STOWAGE_DESCRIBE(summary, id, count)
#endif
}  // namespace app

int main() {
    app::session s{"1", "weekly sync", 42, 7};
    return static_cast<int>(stowage::project<app::summary>(s).id.size());
}
