#!/bin/sh
# run.sh — restic on the CAS benchmark corpus, the peer of cas_bench's
# corpus/* rows (benchmarks/RESULTS.md, "Content-addressed blobs").
#
#   benchmarks/restic/run.sh [CORPUS_DIR] [WORK_DIR]
#
# CORPUS_DIR comes from benchmarks/corpus/fetch-linux-headers.sh (default
# /tmp/stowage-corpus); WORK_DIR (default /tmp/stowage-restic) receives one
# repository per form and is emptied first. For each form — every version
# as one tar stream (`backup --stdin`), and every version as a directory of
# files (`backup --force .`, so each file is read and hashed as cas_bench
# does) — the versions are backed up oldest first into one repository.
#
# The repository is format version 1 (`init --repository-version 1`):
# restic 0.14 compresses by default (version 2), and the comparison is of
# deduplicated bytes before compression. Printed per form:
#   logical   bytes given to restic (tar sizes / regular files' sizes)
#   data      `restic stats --mode blobs-per-file`: deduplicated file data
#             (the counterpart of cas_map's physical bytes)
#   raw_data  `restic stats --mode raw-data`: deduplicated blob bytes, file
#             data plus tree metadata (names, modes, times of every
#             snapshot), before encryption overhead
#   repo      `du -sb` of the repository (packs, index, snapshots, keys)
#   wall/user/sys  seconds summed over the backups (/usr/bin/time); restic
#             uses every core, so user+sys is the comparable cost.
# Needs restic (Debian: apt-get install restic) and python3.
set -eu

corpus=${1:-/tmp/stowage-corpus}
work=${2:-/tmp/stowage-restic}
export RESTIC_PASSWORD=stowage-bench  # the repository is thrown away

[ -d "$corpus/tar" ] && [ -d "$corpus/files" ] || {
    echo "run.sh: no corpus in $corpus (run benchmarks/corpus/fetch-linux-headers.sh)" >&2
    exit 2
}
versions=$(cd "$corpus/tar" && ls *.tar | sed 's/\.tar$//' | sort)
restic version
echo "versions: $(echo $versions)"
rm -rf "$work"
mkdir -p "$work"

printf '%-6s %12s %12s %12s %12s %10s %10s %10s %8s %8s %8s\n' \
    form logical data raw_data repo ratio_data ratio_raw ratio_repo wall user sys
for form in tar files; do
    repo=$work/repo-$form
    times=$work/times-$form
    : > "$times"
    restic init --quiet --repo "$repo" --repository-version 1 --cache-dir "$work/cache" >/dev/null
    logical=0
    for v in $versions; do
        if [ $form = tar ]; then
            size=$(stat -c %s "$corpus/tar/$v.tar")
            /usr/bin/time -a -o "$times" -f '%e %U %S' \
                restic backup --quiet --repo "$repo" --cache-dir "$work/cache" --host bench \
                --stdin --stdin-filename linux-headers.tar < "$corpus/tar/$v.tar"
        else
            size=$(find "$corpus/files/$v" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
            (cd "$corpus/files/$v" && /usr/bin/time -a -o "$times" -f '%e %U %S' \
                restic backup --quiet --force --repo "$repo" --cache-dir "$work/cache" --host bench .)
        fi
        logical=$((logical + size))
    done
    repo_stat() {
        restic stats --quiet --repo "$repo" --cache-dir "$work/cache" --mode "$1" --json |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["total_size"])'
    }
    data=$(repo_stat blobs-per-file)
    raw=$(repo_stat raw-data)
    on_disk=$(du -sb "$repo" | cut -f1)
    awk -v form=$form -v logical=$logical -v data=$data -v raw=$raw -v repo=$on_disk '
        { wall += $1; user += $2; sys += $3 }
        END { printf "%-6s %12d %12d %12d %12d %10.3f %10.3f %10.3f %8.2f %8.2f %8.2f\n", form, logical, data,
                     raw, repo, logical / data, logical / raw, logical / repo, wall, user, sys }' "$times"
done
