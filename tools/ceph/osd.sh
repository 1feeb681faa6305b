#!/usr/bin/env bash
# osd.sh WORKDIR kill|start|wait-clean [ID] — for failure tests on the
# cluster start.sh runs under WORKDIR:
#   kill ID       SIGKILL osd.ID (by its saved PID), as a crash would
#   start ID      start osd.ID again on its existing data
#   wait-clean    wait (bounded: STOWAGE_CEPH_WAIT, default 120 s) until
#                 every placement group is active+clean again
set -euo pipefail

if (($# < 2)); then
    echo "usage: $0 WORKDIR kill|start|wait-clean [ID]" >&2
    exit 2
fi
work=$1
conf=$work/ceph.conf
case $2 in
kill)
    pid=$(cat "$work/run/osd.$3.pid")
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == ceph-osd ]] || { echo "osd.$3 is not running" >&2; exit 1; }
    kill -KILL "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    ;;
start)
    ceph-osd -c "$conf" -i "$3" >>"$work/log/daemons.out" 2>&1
    ;;
wait-clean)
    deadline=$(($(date +%s) + ${STOWAGE_CEPH_WAIT:-120}))
    clean_polls=0
    while :; do
        status=$(timeout 20 ceph -c "$conf" --connect-timeout 10 status --format json 2>/dev/null || true)
        if [[ -n $status ]] && python3 -c '
import json, sys
s = json.loads(sys.argv[1]); pg = s["pgmap"]
clean = sum(x["count"] for x in pg.get("pgs_by_state", []) if x["state_name"] == "active+clean")
sys.exit(0 if pg["num_pgs"] > 0 and clean == pg["num_pgs"] and s["osdmap"]["num_up_osds"] == s["osdmap"]["num_osds"] else 1)' "$status"; then
            # Twice in a row: the manager's placement-group states lag
            # the OSD map by up to a report interval.
            ((++clean_polls >= 2)) && exit 0
        else
            clean_polls=0
        fi
        (($(date +%s) < deadline)) || { echo "osd.sh: not active+clean in time" >&2; exit 1; }
        sleep 1
    done
    ;;
*)
    echo "usage: $0 WORKDIR kill|start|wait-clean [ID]" >&2
    exit 2
    ;;
esac
