#!/usr/bin/env bash
# Deploy benchmark (issue 5): (1) time from `zlayer-agent deploy` start to all replicas healthy
# for SIZES replicas of a busybox httpd web service with an http health check; (2) the deploy
# process's CPU use (utime+stime from /proc/PID/stat over CPU_SECONDS) while it supervises
# CPU_REPLICAS replicas with 1 s tcp and http checks, and EXEC_REPLICAS with 1 s command checks.
# Everything runs in a network namespace this script creates, with its own bridge/subnet,
# cgroup parent zlayer-dbench-PID and ZLAYER_* dirs under mktemp -d /var/tmp/zlayer-dbench.XXXXXX;
# the EXIT trap stops deploy (SIGINT, wait) and removes the namespace, cgroups and dirs.
# Knobs: BUILD_DIR, ZLAYER_BIN, SIZES ("1 10 50"), CPU_REPLICAS (100), EXEC_REPLICAS (20),
# CPU_SECONDS (30), SETTLE (10 s after all healthy before measuring), CHECKS ("tcp http exec":
# which CPU measurements to run). See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-$PWD/build}
ZLAYER_BIN=${ZLAYER_BIN:-$BUILD_DIR/zlayer-agent}
SIZES=${SIZES:-1 10 50}
CPU_REPLICAS=${CPU_REPLICAS:-100}
EXEC_REPLICAS=${EXEC_REPLICAS:-20}
CPU_SECONDS=${CPU_SECONDS:-30}
SETTLE=${SETTLE:-10}
CHECKS=${CHECKS:-tcp http exec}

[ "$(id -u)" = 0 ] || { echo "deploy_bench.sh: needs root (netns, mounts, cgroups)" >&2; exit 1; }
[ -x "$ZLAYER_BIN" ] || { echo "deploy_bench.sh: $ZLAYER_BIN not built" >&2; exit 1; }

state=$(mktemp -d /var/tmp/zlayer-dbench.XXXXXX)
source examples/lib.sh
netns=zlayer-dbench-$$
cgroup_parent=zlayer-dbench-$$
deploy_pid=

stop_deploy() {
  if [ -n "$deploy_pid" ]; then
    kill -INT "$deploy_pid" 2>/dev/null || true
    wait "$deploy_pid" 2>/dev/null || true
    deploy_pid=
  fi
}

cleanup() {
  local rc=$?
  set +e
  stop_deploy
  # Mounts left under our dir (none expected), deepest first.
  findmnt -rn -o TARGET | grep "^$state/" | sort -r | while read -r m; do umount -l "$m"; done
  for h in /sys/fs/cgroup/* /sys/fs/cgroup/unified; do
    [ -d "$h/$cgroup_parent" ] && find "$h/$cgroup_parent" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  ip netns del "$netns" 2>/dev/null
  # Verify nothing of ours is left.
  local left=""
  for p in /proc/[0-9]*; do
    if [ "$(cat "$p/comm" 2>/dev/null)" = zlayer-monitor ] &&
       tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q "$state"; then left="$left monitor:${p#/proc/}"; fi
  done
  findmnt -rn -o TARGET | grep -q "^$state/" && left="$left mounts"
  for h in /sys/fs/cgroup/* /sys/fs/cgroup/unified; do [ -d "$h/$cgroup_parent" ] && left="$left cgroup:$h"; done
  rm -rf "$state"
  if [ -n "$left" ]; then echo "cleanup: left behind:$left" >&2; else echo "cleanup: nothing left behind"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$netns"
in_ns() { nsenter --net="/run/netns/$netns" "$@"; }
in_ns ip link set lo up

export ZLAYER_ROOT_DIR=$state/root ZLAYER_RUNTIME_DIR=$state/run ZLAYER_WASM_CACHE_DIR=$state/root/wasm
export ZLAYER_OCI_RUNTIME=crun ZLAYER_CGROUP_PARENT=$cgroup_parent ZLAYER_CNI_NETWORK=zldbench
ZLAYER_BRIDGE_NAME=zldb$(printf '%06x' $(((RANDOM * 32768 + RANDOM) & 0xffffff)))
export ZLAYER_BRIDGE_NAME
# A /22: room for 1000 addresses, more than any size here.
export ZLAYER_BRIDGE_SUBNET=10.$((RANDOM % 250 + 1)).$(((RANDOM % 60) * 4)).0/22
export ZLAYER_SUPERVISION_STOP_GRACE=2s ZLAYER_SUPERVISION_RESTART_BACKOFF=1s

build_busybox_image "$state/layout" >/dev/null
"$ZLAYER_BIN" image import "$state/layout:latest" dbench/busybox:latest >/dev/null
image=dbench/busybox:latest

# spec NAME REPLICAS CHECK — the web service of the demo with a 1 s health check CHECK.
spec() {
  cat > "$state/$1.yaml" <<YAML
version: v1
deployment: $1
services:
  web:
    image: { name: "$image" }
    command:
      entrypoint: [/bin/sh, -c]
      args: ["trap 'exit 0' TERM; mkdir -p /www; echo hello > /www/index.html; httpd -f -p 8080 -h /www & wait"]
    endpoints: [ { name: http, protocol: http, port: 18080, target_port: 8080 } ]
    scale: { mode: fixed, replicas: $2 }
    health:
      start_grace: 30s
      interval: 1s
      timeout: 1s
      retries: 2
      check: $3
YAML
}
HTTP_CHECK='{ type: http, url: "http://localhost:8080/", expect_status: 200 }'
TCP_CHECK='{ type: tcp, port: 8080 }'
EXEC_CHECK='{ type: command, command: "test -f /www/index.html" }'

healthy_count() {
  sqlite3 "$ZLAYER_ROOT_DIR/state.db" \
    "SELECT count(*) FROM replicas WHERE service='web' AND state='running' AND health='healthy'" 2>/dev/null || echo 0
}

# start NAME REPLICAS CHECK — starts deploy, waits until all replicas are healthy; sets
# $elapsed (seconds from start).
start() {
  local name=$1 n=$2
  spec "$name" "$n" "$3"
  local t0 t1
  t0=$(date +%s.%N)
  # nsenter execs deploy (no --fork), so $! is the deploy process itself.
  nsenter --net="/run/netns/$netns" "$ZLAYER_BIN" deploy "$state/$name.yaml" > "$state/$name.log" 2>&1 &
  deploy_pid=$!
  local deadline=$((SECONDS + 120 + 5 * n))
  while [ "$(healthy_count)" -lt "$n" ]; do
    if ! kill -0 "$deploy_pid" 2>/dev/null; then
      echo "deploy $name exited early:" >&2; tail -20 "$state/$name.log" >&2; deploy_pid=; exit 1
    fi
    if [ $SECONDS -gt $deadline ]; then
      echo "deploy $name: only $(healthy_count)/$n healthy after $((120 + 5 * n)) s" >&2
      tail -20 "$state/$name.log" >&2; exit 1
    fi
    sleep 0.1
  done
  t1=$(date +%s.%N)
  elapsed=$(echo "$t1 - $t0" | bc -l)
}

# cpu_ticks PID — utime+stime of every thread of PID, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure_cpu NAME REPLICAS CHECK LABEL
measure_cpu() {
  start "$1" "$2" "$3"
  sleep "$SETTLE"
  local hz a b
  hz=$(getconf CLK_TCK)
  a=$(cpu_ticks "$deploy_pid"); sleep "$CPU_SECONDS"; b=$(cpu_ticks "$deploy_pid")
  local healthy; healthy=$(healthy_count)
  printf '%-34s %4d replicas  %6.2f %% of one core  (%d ticks in %d s; %d/%d healthy at the end)\n' \
    "$4" "$2" "$(echo "100 * ($b - $a) / $hz / $CPU_SECONDS" | bc -l)" "$((b - a))" "$CPU_SECONDS" "$healthy" "$2"
  stop_deploy
}

echo "== zlayer deploy benchmark ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start)"
echo "-- time from deploy start to all replicas healthy (http check, interval 1s)"
printf '%8s %10s %14s\n' replicas seconds s/replica
for n in $SIZES; do
  start "up$n" "$n" "$HTTP_CHECK"
  printf '%8d %10.2f %14.3f\n' "$n" "$elapsed" "$(echo "$elapsed / $n" | bc -l)"
  stop_deploy
done

echo "-- deploy's CPU use while supervising (settle ${SETTLE}s, measure ${CPU_SECONDS}s; target < 2 %)"
for check in $CHECKS; do
  case $check in
    tcp) measure_cpu cputcp "$CPU_REPLICAS" "$TCP_CHECK" "tcp check every 1s" ;;
    http) measure_cpu cpuhttp "$CPU_REPLICAS" "$HTTP_CHECK" "http check every 1s" ;;
    exec) measure_cpu cpuexec "$EXEC_REPLICAS" "$EXEC_CHECK" "command (exec) check every 1s" ;;
    *) echo "deploy_bench.sh: CHECKS: unknown check \"$check\" (tcp, http, exec)" >&2; exit 2 ;;
  esac
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
