# The persistence queue: enqueue latency under load, batched vs per-write throughput.
stowage_benchmark(queue_bench queue_bench.cpp)
