# Codec throughput: json, binary, gzip levels 1/6/9, json_document.
stowage_benchmark(codec_bench codec_bench.cpp)
