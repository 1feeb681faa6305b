// Compile-fail checks of entity types (tests/cmake/compile_fail_codec.cmake):
// each STOWAGE_CASE must fail with a first error that names the type, the
// field path from the entity, and the fix.
#include <deque>
#include <string>
#include <variant>
#include <vector>

#include <stowage/storage/memory.hpp>
#include <stowage/store.hpp>

namespace app {
#if STOWAGE_CASE == 1
// An entity without STOWAGE_DESCRIBE.
struct thing {
    std::string id;
    int n = 0;
};
#elif STOWAGE_CASE == 2
// A field two levels down whose type no codec knows.
struct meta {
    std::deque<int> q;
};
STOWAGE_DESCRIBE(meta, q)
struct thing {
    std::string id;
    std::vector<meta> metas;
};
STOWAGE_DESCRIBE(thing, id, metas)
#elif STOWAGE_CASE == 3
// A variant whose alternatives cannot be told apart by name.
struct thing {
    std::string id;
    std::variant<std::vector<int>, std::string> v;
};
STOWAGE_DESCRIBE(thing, id, v)
#else
struct thing {
    std::string id;
};
#endif
}  // namespace app

#if STOWAGE_CASE == 4
// STOWAGE_DESCRIBE in the wrong namespace: argument-dependent lookup cannot
// find it, so the type is undescribed.
STOWAGE_DESCRIBE(app::thing, id)
#endif

int main() {
    stowage::store<app::thing, stowage::memory_storage> s(stowage::memory_storage{}, "things");
    s.put(app::thing{});
    return s.get("x").has_value();
}
