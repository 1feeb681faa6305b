#!/usr/bin/env bash
# start.sh WORKDIR — starts a single-host Ceph test cluster on loopback under
# WORKDIR (created if missing) and prints the path of its ceph.conf as the
# last line of output.
#
# One monitor, one manager, three bluestore OSDs on sparse files,
# authentication off, replicated pools of size 3 / min size 2 with 8
# placement groups (autoscale off), replicas spread over OSDs (chooseleaf
# type 0, all OSDs live on one host), and one pool for the tests. No systemd:
# every daemon is started directly and writes its PID under WORKDIR/run,
# which stop.sh (and osd.sh) use. Needs the Debian packages ceph-mon
# ceph-osd ceph-mgr ceph-common (scripts/install-deps) and runs as root.
#
# Settings (environment):
#   STOWAGE_CEPH_PORT       monitor port (default: a free port from 20000 up)
#   STOWAGE_CEPH_POOL       the pool created for tests (default: stowage)
#   STOWAGE_CEPH_OSD_SIZE   sparse size of each OSD's block file (default: 2G)
#   STOWAGE_CEPH_WAIT       seconds to wait for active+clean (default: 120)
# Everything a run writes lives in WORKDIR, so runs with different WORKDIRs
# (and ports) do not collide. Exit status: 0 when the cluster is up and every
# placement group is active+clean; 1 otherwise (daemons started so far are
# stopped again); 2 on usage errors or missing packages.
set -euo pipefail

if (($# != 1)); then
    echo "usage: $0 WORKDIR" >&2
    exit 2
fi
for tool in ceph ceph-mon ceph-osd ceph-mgr monmaptool uuidgen; do
    if ! command -v "$tool" >/dev/null; then
        echo "start.sh: $tool not found (install ceph-mon ceph-osd ceph-mgr ceph-common)" >&2
        exit 2
    fi
done

here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
work=$(cd "$1" && pwd)
pool=${STOWAGE_CEPH_POOL:-stowage}
osd_size=${STOWAGE_CEPH_OSD_SIZE:-2G}
wait_limit=${STOWAGE_CEPH_WAIT:-120}
conf=$work/ceph.conf
started=$(date +%s)

if [[ -e $work/run/mon.a.pid ]] && kill -0 "$(cat "$work/run/mon.a.pid")" 2>/dev/null; then
    echo "start.sh: a cluster is already running in $work (stop it with stop.sh)" >&2
    exit 1
fi

# A port is taken when something accepts a connection on it (bash's
# /dev/tcp: no iproute2 needed).
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=${STOWAGE_CEPH_PORT:-}
if [[ -z $port ]]; then
    port=$((20000 + ($$ % 1000) * 40))
    while port_in_use "$port"; do port=$((port + 40)); done
elif port_in_use "$port"; then
    echo "start.sh: port $port is in use" >&2
    exit 1
fi

rm -rf "$work/mon.a" "$work/mgr.x" "$work"/osd.* "$work/run" "$work/log"
mkdir -p "$work/run" "$work/log" "$work/mon.a" "$work/mgr.x"

fsid=$(uuidgen)
# Messenger v2 only, IPv4 loopback only. Each OSD and the manager bind
# ports from a range of their own beside the monitor's port, so two
# clusters on one host do not collide.
cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$port]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
ms bind port min = $((port + 1))
ms bind port max = $((port + 39))
ms mon client mode = crc
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
run dir = $work/run
pid file = $work/run/\$name.pid
admin socket = $work/run/\$name.asok
log file = $work/log/\$name.log
keyring = /dev/null
osd pool default size = 3
osd pool default min size = 2
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
# Fast failure detection, so the failure tests do not wait for defaults
# meant for real networks: a killed OSD is marked down within seconds.
osd heartbeat interval = 1
osd heartbeat grace = 4
mon osd adjust heartbeat grace = false
mon osd min down reporters = 1
osd fast fail on connection refused = true
# Recovery at full speed (the sparse files look like rotational disks, for
# which Ceph sleeps between recovery ops), and placement-group states
# reported every second, so waits for active+clean end promptly.
osd recovery sleep = 0
osd recovery sleep hdd = 0
osd recovery max active = 16
mgr stats period = 1
osd mgr report interval = 1

[mon]
mon data = $work/\$name
mon cluster log file = $work/log/cluster.log

[mgr]
mgr data = $work/\$name
mgr initial modules =

[osd]
osd data = $work/\$name
osd objectstore = bluestore
bluestore block create = true
bluestore block size = $osd_size
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mount = false
osd memory target = 939524096
osd crush update on start = true
osd crush initial weight = 1
osd max object name len = 2048
EOF

fail() {
    echo "start.sh: $*" >&2
    "$here/stop.sh" "$work" >&2 || true
    exit 1
}
# Every call is bounded: a monitor that never answers must not hang the run.
cephc() { timeout 30 ceph -c "$conf" --connect-timeout 15 "$@"; }

monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$port]" "$work/monmap" >/dev/null
ceph-mon -c "$conf" -i a --mkfs --monmap "$work/monmap" >"$work/log/mkfs-mon.out" 2>&1 ||
    fail "ceph-mon --mkfs failed; see $work/log/mkfs-mon.out"
ceph-mon -c "$conf" -i a >>"$work/log/daemons.out" 2>&1 || fail "ceph-mon did not start; see $work/log/mon.a.log"
ceph-mgr -c "$conf" -i x >>"$work/log/daemons.out" 2>&1 || fail "ceph-mgr did not start; see $work/log/mgr.x.log"

# The three OSDs are created and started in parallel (mkfs dominates).
start_osd() {
    local uuid id
    uuid=$(uuidgen)
    id=$(cephc osd new "$uuid") || { echo "ceph osd new failed (monitor not answering?)"; return 1; }
    mkdir -p "$work/osd.$id"
    ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$uuid" >"$work/log/mkfs-osd.$id.out" 2>&1 ||
        { echo "ceph-osd --mkfs for osd.$id failed; see $work/log/mkfs-osd.$id.out"; return 1; }
    ceph-osd -c "$conf" -i "$id" >>"$work/log/daemons.out" 2>&1 ||
        { echo "ceph-osd $id did not start; see $work/log/osd.$id.log"; return 1; }
}
osd_jobs=()
for i in 0 1 2; do
    start_osd >"$work/log/start-osd.$i.out" 2>&1 &
    osd_jobs+=($!)
done
for i in 0 1 2; do
    wait "${osd_jobs[$i]}" || fail "$(cat "$work/log/start-osd.$i.out")"
done

cephc osd pool create "$pool" 8 8 replicated --autoscale-mode=off >/dev/null 2>&1 ||
    fail "creating pool $pool failed"
cephc osd pool application enable "$pool" rados >/dev/null 2>&1 || true

# Bounded wait: every placement group active+clean, three OSDs up and in.
deadline=$((started + wait_limit))
while :; do
    status=$(cephc status --format json 2>/dev/null || true)
    if [[ -n $status ]] && python3 -c '
import json, sys
s = json.loads(sys.argv[1])
pg = s["pgmap"]
clean = sum(x["count"] for x in pg.get("pgs_by_state", []) if x["state_name"] == "active+clean")
osd = s["osdmap"]
ok = pg["num_pgs"] > 0 and clean == pg["num_pgs"] and osd["num_up_osds"] == 3 and osd["num_in_osds"] == 3
sys.exit(0 if ok else 1)' "$status" 2>/dev/null; then
        break
    fi
    if (($(date +%s) >= deadline)); then
        cephc status >&2 || true
        fail "placement groups not active+clean within ${wait_limit}s"
    fi
    sleep 1
done

echo "start.sh: cluster up in $(($(date +%s) - started))s: mon 127.0.0.1:$port, 3 OSDs, pool $pool, data in $work" >&2
echo "$conf"
