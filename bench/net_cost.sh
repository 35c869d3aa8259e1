#!/usr/bin/env bash
# What the default container network costs per container: `zlayer-agent run --rm IMAGE true`
# with the bridge network (network namespace + CNI ADD of bridge, host-local, portmap, firewall on
# create; CNI DEL + namespace deletion on remove) against the same run with `--network none`,
# side by side in one hyperfine run. Everything happens inside a network namespace this script
# creates (its own bridge and subnet), so the host's network is never touched.
# bench/README.md explains the output.
#
# Usage: sudo bench/net_cost.sh
# Environment (all optional):
#   BUILD_DIR      build directory (default: <repo>/build)
#   ZLAYER_BIN     zlayer-agent binary (default: $BUILD_DIR/zlayer-agent)
#   GEN_IMAGE_BIN  bench_gen_image binary (default: $BUILD_DIR/bench/bench_gen_image)
#   RUNS, WARMUP   hyperfine runs (20) and warmup runs (3)
#   OCI_RUNTIME    crun (default) or runc
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_dir=${BUILD_DIR:-$script_dir/../build}
zlayer_bin=${ZLAYER_BIN:-$build_dir/zlayer-agent}
gen_bin=${GEN_IMAGE_BIN:-$build_dir/bench/bench_gen_image}
runs=${RUNS:-20}
warmup=${WARMUP:-3}
oci_runtime=${OCI_RUNTIME:-crun}

die() { echo "net_cost: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (mounts, network namespaces, iptables)"
for tool in hyperfine python3 ip nsenter "$oci_runtime"; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/install-deps.sh)"
done
[ -x /usr/lib/cni/bridge ] || die "/usr/lib/cni/bridge not found (Debian package containernetworking-plugins)"
[ -x "$zlayer_bin" ] || die "$zlayer_bin not found: build first (cmake --build build)"
[ -x "$gen_bin" ] || die "$gen_bin not found: build first (needs ZLAYER_BUILD_TESTS=ON)"

work=$(mktemp -d /var/tmp/zlayer-bench.XXXXXX)
netns=zlbench-$$
cgroup_parent=zlbench-$$
netns_made=
cleanup() {
  local rc=$?
  if [ -n "$netns_made" ]; then ip netns del "$netns" 2>/dev/null || true; fi
  # --rm removed every container; only empty cgroup parents can remain.
  find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d -name "$cgroup_parent" -exec rmdir {} + \
    2>/dev/null || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$netns"
netns_made=1
ip netns exec "$netns" ip link set lo up

export ZLAYER_ROOT_DIR=$work/root ZLAYER_RUNTIME_DIR=$work/run ZLAYER_WASM_CACHE_DIR=$work/wasm
export ZLAYER_CGROUP_PARENT=$cgroup_parent ZLAYER_OCI_RUNTIME=$oci_runtime
export ZLAYER_BRIDGE_NAME=zlbench0 ZLAYER_BRIDGE_SUBNET=10.213.0.0/16 ZLAYER_CNI_NETWORK=zlbench

# The image is in the store before timing starts: busybox plus one small data layer.
"$gen_bin" --layout "$work/layout" --layers 1 --layer-mib 1 >/dev/null
"$zlayer_bin" image import "$work/layout:1" localhost/bench/net:1 >/dev/null

# nsenter, not `ip netns exec`: that one remounts /sys, hiding /sys/fs/cgroup from the agent.
in_ns=(nsenter --net=/run/netns/"$netns")
none_cmd="${in_ns[*]} $zlayer_bin run --rm --network none localhost/bench/net:1 true"
bridge_cmd="${in_ns[*]} $zlayer_bin run --rm localhost/bench/net:1 true"
$bridge_cmd  # creates the bridge once, as the first container on a host would
$none_cmd

hyperfine --warmup "$warmup" --runs "$runs" --export-json "$work/hyperfine.json" --style basic \
  -n "run --rm --network none" "$none_cmd" \
  -n "run --rm (bridge)" "$bridge_cmd" >&2

python3 - "$work/hyperfine.json" "$oci_runtime" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
none, bridge = results["run --rm --network none"], results["run --rm (bridge)"]
print(f"== container network cost ({sys.argv[2]}) ==")
for name, r in (("none", none), ("bridge", bridge)):
    print(f"{name:<8} median {r['median']*1000:7.1f} ms  (mean {r['mean']*1000:.1f} "
          f"± {r['stddev']*1000:.1f} ms, min {r['min']*1000:.1f}, max {r['max']*1000:.1f})")
extra = bridge["median"] - none["median"]
print(f"bridge - none (medians): {extra*1000:.1f} ms per container; "
      f"ratio {bridge['median']/none['median']:.2f}x")
PY
