#!/usr/bin/env bash
# Builds tests/install/ (an outside project) against stowage two ways:
#   1. configure stowage alone, `cmake --install` it into WORK/prefix, then
#      find_package(stowage) from there;
#   2. add_subdirectory(SOURCE).
# Each consumer is built and run. Usage: run.sh SOURCE WORK [CXX]
set -euo pipefail
src=$(cd "$1" && pwd)
work=$2
cxx=${3:-c++}

rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
log=$work/log.txt
step() { echo "== $*"; }
quiet() {  # run a step, showing its output only when it fails
    if ! "$@" >>"$log" 2>&1; then
        echo "install_test: failed: $*" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
}
# No build type: -O0, the quickest compile; the point is that it builds and runs.
common=(-DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=)

step "configure stowage alone and install it into $work/prefix"
quiet cmake -S "$src" -B "$work/stowage-build" "${common[@]}" \
    -DCMAKE_INSTALL_PREFIX="$work/prefix" -DSTOWAGE_BUILD_TESTS=OFF \
    -DSTOWAGE_BUILD_BENCHMARKS=OFF -DSTOWAGE_BUILD_EXAMPLES=OFF -DSTOWAGE_BUILD_TOOLS=OFF
quiet cmake --install "$work/stowage-build"
for f in include/stowage/stowage.hpp include/stowage/hash/sha256.hpp; do
    [[ -f $work/prefix/$f ]] || { echo "install_test: $f not installed" >&2; exit 1; }
done
config=$(find "$work/prefix" -name stowage-config.cmake)
[[ -n $config ]] || { echo "install_test: stowage-config.cmake not installed" >&2; exit 1; }
echo "   installed $(find "$work/prefix" -type f | wc -l) files; config at ${config#$work/}"

step "consumer via find_package(stowage) from the prefix"
quiet cmake -S "$src/tests/install" -B "$work/consumer-package" "${common[@]}" \
    -DCONSUMER_MODE=package -DCMAKE_PREFIX_PATH="$work/prefix" \
    -DEXPECTED_PREFIX="$work/prefix" -DSTOWAGE_SOURCE="$src"
quiet cmake --build "$work/consumer-package"
"$work/consumer-package/consumer"

step "consumer via add_subdirectory($src)"
quiet cmake -S "$src/tests/install" -B "$work/consumer-subdirectory" "${common[@]}" \
    -DCONSUMER_MODE=subdirectory -DSTOWAGE_SOURCE="$src"
quiet cmake --build "$work/consumer-subdirectory"
"$work/consumer-subdirectory/consumer"

rm -rf "$work"
echo "install_test: both ways work"
