# RADOS: rados_storage and the `stowage` command over a real Ceph cluster.
# The cluster is a CTest fixture: rados_cluster_start runs tools/ceph/start.sh
# (one host, three OSDs; ~20 s) before the tests that need it and
# rados_cluster_stop stops it after them. Everything is labelled `rados`, so
#   ctest -L rados       runs only these,   ctest -LE rados   all but these.
# Where the Ceph packages (or root) are missing, the start step only says so
# and the tests report themselves skipped (exit 77), never passed. The tests
# that use the cluster never run at the same time (RESOURCE_LOCK): the
# failure tests kill OSDs under everyone using it.
if(TARGET stowage::rados AND STOWAGE_TEST_RADOS)
  set(STOWAGE_RADOS_WORKDIR ${PROJECT_BINARY_DIR}/rados-cluster)
  set(STOWAGE_CEPH_TOOLS ${PROJECT_SOURCE_DIR}/tools/ceph)
  add_test(NAME rados_cluster_start COMMAND bash -c
    "if ! command -v ceph-osd >/dev/null || ((EUID != 0)); then echo 'no ceph-osd or not root: rados tests are skipped'; rm -f \"$1/ceph.conf\"; exit 0; fi; \"$0\" \"$1\" </dev/null"
    ${STOWAGE_CEPH_TOOLS}/start.sh ${STOWAGE_RADOS_WORKDIR})
  add_test(NAME rados_cluster_stop COMMAND ${STOWAGE_CEPH_TOOLS}/stop.sh ${STOWAGE_RADOS_WORKDIR})
  # The cluster chain (start, tests, stop) is the longest path of the suite:
  # start it first.
  set_tests_properties(rados_cluster_start PROPERTIES FIXTURES_SETUP rados_cluster LABELS rados TIMEOUT 180 COST 100)
  set_tests_properties(rados_cluster_stop PROPERTIES FIXTURES_CLEANUP rados_cluster LABELS rados TIMEOUT 60)
  set(STOWAGE_RADOS_ENV
    "STOWAGE_RADOS_CONF=${STOWAGE_RADOS_WORKDIR}/ceph.conf;STOWAGE_RADOS_POOL=stowage;STOWAGE_RADOS_WORKDIR=${STOWAGE_RADOS_WORKDIR};STOWAGE_CEPH_TOOLS=${STOWAGE_CEPH_TOOLS}")

  stowage_test(storage_rados_test storage_rados_test.cpp LABELS rados TIMEOUT 300 COST 90)
  target_link_libraries(storage_rados_test PRIVATE stowage::rados)
  set_tests_properties(storage_rados_test PROPERTIES FIXTURES_REQUIRED rados_cluster
    SKIP_RETURN_CODE 77 ENVIRONMENT "${STOWAGE_TEST_ENV};${STOWAGE_RADOS_ENV}" RESOURCE_LOCK rados_cluster)

  if(STOWAGE_BUILD_TOOLS AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/cli_rados_test.cpp)
    stowage_test(cli_rados_test cli_rados_test.cpp LABELS "rados;cli" DEPENDS stowage_cli TIMEOUT 120)
    target_compile_definitions(cli_rados_test PRIVATE STOWAGE_CLI="$<TARGET_FILE:stowage_cli>")
    target_link_libraries(cli_rados_test PRIVATE stowage::rados)
    set_tests_properties(cli_rados_test PROPERTIES FIXTURES_REQUIRED rados_cluster
      SKIP_RETURN_CODE 77 ENVIRONMENT "${STOWAGE_TEST_ENV};${STOWAGE_RADOS_ENV}" RESOURCE_LOCK rados_cluster)
  endif()
endif()
