# RADOS (issue 10): rados_storage put/get (sync and N in flight) and cas_map
# ingest on the one-host test cluster (tools/ceph/start.sh), next to
# file_storage. Built only where librados is installed (stowage::rados).
if(TARGET stowage::rados)
  stowage_benchmark(rados_bench rados_bench.cpp stowage::rados)
endif()
