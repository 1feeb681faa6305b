#!/bin/sh
# fetch-linux-headers.sh — the versioned corpus of the CAS benchmarks
# (benchmarks/cas_bench.cpp, benchmarks/restic/run.sh): several successive
# Debian linux-headers-*-common packages, each unpacked twice:
#
#   DIR/debs/<pkg>.deb          what `apt-get download` fetched
#   DIR/tar/<NN>-<abi>.tar      the package's data as one tar stream
#                               (dpkg-deb --fsys-tarfile: the uncompressed
#                               data.tar that dpkg-deb wrote)
#   DIR/files/<NN>-<abi>/...    the same package unpacked to individual files
#
# NN orders the versions oldest first. The data is written by others
# (Debian's kernel team and dpkg-deb) and never belongs in the repository:
# DIR must be outside the source tree (default /tmp/stowage-corpus).
#
#   benchmarks/corpus/fetch-linux-headers.sh [DIR] [ABI...]
#
# ABIs default to five successive Debian 12 kernel updates, 6.1.170 ..
# 6.1.192 (6.1.0-56 is left out on purpose: it rebuilds 6.1.192 unchanged,
# which would flatter every dedup ratio). Needs apt-get and dpkg-deb; no root.
set -eu

dir=${1:-/tmp/stowage-corpus}
[ $# -gt 0 ] && shift
abis=${*:-6.1.0-47 6.1.0-50 6.1.0-53 6.1.0-54 6.1.0-55}

here=$(cd "$(dirname "$0")/../.." && pwd)
case $(cd "$(dirname "$dir")" 2>/dev/null && pwd)/ in
    "$here"/*) echo "fetch-linux-headers: $dir is inside the source tree; pick a directory outside it" >&2; exit 2 ;;
esac

mkdir -p "$dir/debs" "$dir/tar" "$dir/files"
n=0
for abi in $abis; do
    n=$((n + 1))
    pkg=linux-headers-$abi-common
    tag=$(printf '%02d-%s' "$n" "$abi")
    deb=$(ls "$dir/debs/${pkg}_"*.deb 2>/dev/null | head -n 1 || true)
    if [ -z "$deb" ]; then
        (cd "$dir/debs" && apt-get download "$pkg")
        deb=$(ls "$dir/debs/${pkg}_"*.deb | head -n 1)
    fi
    if [ ! -s "$dir/tar/$tag.tar" ]; then
        dpkg-deb --fsys-tarfile "$deb" > "$dir/tar/$tag.tar.part"
        mv "$dir/tar/$tag.tar.part" "$dir/tar/$tag.tar"
    fi
    if [ ! -d "$dir/files/$tag" ]; then
        rm -rf "$dir/files/$tag.part"
        mkdir -p "$dir/files/$tag.part"
        dpkg-deb -x "$deb" "$dir/files/$tag.part"
        mv "$dir/files/$tag.part" "$dir/files/$tag"
    fi
    printf '%s  %s  %s bytes (tar), %s regular files\n' "$tag" "$(basename "$deb")" \
        "$(stat -c %s "$dir/tar/$tag.tar")" "$(find "$dir/files/$tag" -type f | wc -l)"
done
