#!/usr/bin/env bash
# stop.sh WORKDIR — stops the test cluster start.sh started under WORKDIR:
# every daemon by the PID it saved in WORKDIR/run, the OSDs first, then the
# manager, the monitor last (so the monitor never sees a cluster it cannot
# reach). Waits (bounded) for each to exit and SIGKILLs stragglers. Leaves
# the data in WORKDIR (logs stay readable); start.sh wipes it on the next
# start. Exit status 0 when nothing of the cluster is left running.
set -uo pipefail

if (($# != 1)); then
    echo "usage: $0 WORKDIR" >&2
    exit 2
fi
run=$1/run
[[ -d $run ]] || exit 0

# Only a PID whose process is a Ceph daemon is signalled: a stale PID file
# must not kill an unrelated process that reused the number.
ceph_pid() {
    local file=$1 pid
    [[ -f $file ]] || return 1
    pid=$(cat "$file" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == ceph-* ]] || return 1
    echo "$pid"
}

stop_group() {
    local pids=() f pid
    for f in "$@"; do
        pid=$(ceph_pid "$f") && pids+=("$pid")
    done
    ((${#pids[@]})) || return 0
    kill -TERM "${pids[@]}" 2>/dev/null
    for _ in $(seq 100); do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null; done
    for f in "$@"; do rm -f "$f"; done
    return 0
}

shopt -s nullglob
stop_group "$run"/osd.*.pid
stop_group "$run"/mgr.*.pid
stop_group "$run"/mon.*.pid
exit 0
