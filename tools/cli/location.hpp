// cli/location.hpp — where a command's data lives: a directory (DIR), or,
// when the command is built with librados (STOWAGE_HAVE_RADOS, the
// stowage::rados target), a Ceph pool written as rados:POOL:CONF (CONF: the
// path of a ceph.conf).
//
//   return with_storage(pos[0], open_mode::read_only, [&](auto storage) { ... });
//
// calls the function with a file_storage or a rados_storage opened in the
// given mode, so one command body serves both. Without librados a rados:
// location is errc::unsupported, named, rather than a directory of that name.
// Thread safety: stateless.
#pragma once

#include <string>
#include <utility>

#include <stowage/error.hpp>
#include <stowage/storage/file.hpp>
#ifdef STOWAGE_HAVE_RADOS
#include <stowage/storage/rados.hpp>
#endif

namespace stowage::cli {

template <class F>
decltype(auto) with_storage(const std::string& location, open_mode mode, F&& f) {
#ifdef STOWAGE_HAVE_RADOS
    if (auto o = rados_storage::parse_location(location)) {
        o->mode = mode;
        return std::forward<F>(f)(rados_storage(std::move(*o)));
    }
#else
    if (location.starts_with("rados:"))
        throw error(errc::unsupported, "cannot open " + location + ": this stowage command was built without librados");
#endif
    return std::forward<F>(f)(file_storage(location, mode));
}

// Whether a location names a Ceph pool (rados:POOL:CONF) rather than a
// directory: backups of a pool need --root, and restore into a pool is one
// transaction instead of a directory swap (backup.hpp).
inline bool is_pool(const std::string& location) { return location.starts_with("rados:"); }

}  // namespace stowage::cli
