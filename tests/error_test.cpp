#define BOOST_TEST_MODULE error
#include <stowage/error.hpp>

#include "test_support.hpp"

BOOST_AUTO_TEST_CASE(message_names_context_and_kind) {
    stowage::error e(stowage::errc::checksum_mismatch, "sessions/42");
    BOOST_TEST(std::string(e.what()) == "sessions/42: checksum mismatch");
    BOOST_TEST(e.code().category().name() == std::string("stowage"));
    BOOST_TEST((e.kind() == stowage::errc::checksum_mismatch));
    BOOST_TEST((e.code() == stowage::errc::checksum_mismatch));
}

BOOST_AUTO_TEST_CASE(errno_maps_full_device_to_no_space) {
    BOOST_TEST((stowage::errc_from_errno(ENOSPC) == stowage::errc::no_space));
    BOOST_TEST((stowage::errc_from_errno(EDQUOT) == stowage::errc::no_space));
    BOOST_TEST((stowage::errc_from_errno(EIO) == stowage::errc::io));
    BOOST_TEST((stowage::errc_from_errno(EACCES) == stowage::errc::permission_denied));
    BOOST_TEST((stowage::errc_from_errno(EPERM) == stowage::errc::permission_denied));
    BOOST_TEST((stowage::errc_from_errno(ETIMEDOUT) == stowage::errc::timeout));
    BOOST_TEST(stowage::error(stowage::errc::timeout, "rados op").what() == std::string("rados op: timed out"));
    try {
        stowage::throw_errno(ENOSPC, "write wal/1.log");
        BOOST_FAIL("no throw");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == stowage::errc::no_space));
        BOOST_TEST(std::string(e.what()).find("wal/1.log") != std::string::npos);
    }
}
