#!/usr/bin/env bash
# Container start benchmark: `zlayer-agent run --rm --network none IMAGE true` (image already
# imported) against its peers doing the same job, side by side in one hyperfine run:
#   - bare `crun run` and `runc run` of an equivalent prepared bundle (the config.json zlayer
#     generates — same seccomp profile, capabilities, masked paths, namespaces without a network —
#     with the rootfs copied out of the overlay; crun inside the hybrid-cgroup workaround, a private
#     mount namespace without /sys/fs/cgroup/unified, as machine-facts.md requires);
#   - `docker run --rm --network none` against a dockerd this script starts on its own data root,
#     exec root, socket and pidfile (and stops), with the same busybox image `docker load`ed from a
#     docker-archive made by skopeo.
# Then the memory of 100 running containers: RSS and PSS of every zlayer-monitor, and the peak
# RSS of the agent for one `run -d`. Prints medians, ratios and whether the targets are met
# (≤ 1.25× bare crun, ≥ 5× faster than docker). bench/README.md explains the output.
#
# Usage: bench/run_bench.sh            (as root)
# Environment (all optional):
#   BUILD_DIR      build directory (default: <repo>/build)
#   ZLAYER_BIN     zlayer-agent binary (default: $BUILD_DIR/zlayer-agent)
#   GEN_IMAGE_BIN  bench_gen_image binary (default: $BUILD_DIR/bench/bench_gen_image)
#   RUNS, WARMUP   hyperfine runs (30) and warmup runs (3)
#   CONTAINERS     containers for the memory part (100; 0 skips it)
#   DOCKER=0       skip the docker side
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_dir=${BUILD_DIR:-$script_dir/../build}
zlayer_bin=${ZLAYER_BIN:-$build_dir/zlayer-agent}
gen_bin=${GEN_IMAGE_BIN:-$build_dir/bench/bench_gen_image}
runs=${RUNS:-30}
warmup=${WARMUP:-3}
containers=${CONTAINERS:-100}
use_docker=${DOCKER:-1}
docker_cli=/usr/bin/docker  # Debian's; the first on PATH may be another (machine-facts.md)
time_bin=/usr/bin/time

die() { echo "run_bench: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "run as root (containers, mounts, cgroups)"
for tool in hyperfine skopeo crun runc python3 unshare; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/install-deps.sh)"
done
[ -x "$zlayer_bin" ] || die "$zlayer_bin not found: build first"
[ -x "$gen_bin" ] || die "$gen_bin not found: build first (needs ZLAYER_BUILD_TESTS=ON)"
[ -x "$time_bin" ] || die "$time_bin not found (Debian package time)"
if [ "$use_docker" = 1 ]; then
  [ -x "$docker_cli" ] && command -v dockerd >/dev/null || die "docker.io not installed (or DOCKER=0)"
fi

work=$(mktemp -d /var/tmp/zlayer-run-bench.XXXXXX)
zroot=$work/zlayer-root
zrun=$work/zlayer-run
cgroup_parent=zlayer-bench-$$
export ZLAYER_ROOT_DIR=$zroot ZLAYER_RUNTIME_DIR=$zrun ZLAYER_CGROUP_PARENT=$cgroup_parent
dockerd_pid=
mem_names=()
bundle_mounted=

cleanup() {
  local rc=$?
  set +e
  for name in "${mem_names[@]}"; do "$zlayer_bin" rm -f "$name" >/dev/null 2>&1; done
  [ -n "$bundle_mounted" ] && "$zlayer_bin" rm -f "$bundle_mounted" >/dev/null 2>&1
  for rt in crun runc; do
    for id in $(ls "$work/oci-$rt" 2>/dev/null); do
      unshare -m --propagation private sh -c \
        "umount /sys/fs/cgroup/unified 2>/dev/null; exec $rt --root $work/oci-$rt delete -f $id" \
        >/dev/null 2>&1
    done
  done
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    kill -TERM "$dockerd_pid"
    for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$dockerd_pid" 2>/dev/null
  fi
  [ -n "$dockerd_pid" ] && wait "$dockerd_pid" 2>/dev/null
  # dockerd's overlay mounts and netns files under its own roots, if any survived it.
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
  for hierarchy in /sys/fs/cgroup/*/ /sys/fs/cgroup/unified/; do
    [ -d "$hierarchy$cgroup_parent" ] && find "$hierarchy$cgroup_parent" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the image, in zlayer's store ---------------------------------------------------------------
echo "run_bench: building the busybox image ..." >&2
"$gen_bin" --layout "$work/layout" --layers 0 >/dev/null
image=localhost/bench/busybox:1
"$zlayer_bin" image import "$work/layout:1" "$image" >/dev/null

# --- the equivalent bundle for bare crun/runc -----------------------------------------------------
# zlayer creates (not starts) a container; its config.json and rootfs are copied out, then it is
# removed. Paths into the container directory (rootfs, hosts, resolv.conf) are rewritten.
ref=benchref
"$zlayer_bin" run -d --name "$ref" --network none "$image" true >/dev/null
bundle_mounted=$ref
cdir=$zroot/containers/$ref-rep-1
"$zlayer_bin" stop -t 0 "$ref" >/dev/null 2>&1 || true
for rt in crun runc; do
  b=$work/bundle-$rt
  mkdir -p "$b"
  cp -a "$cdir/rootfs" "$b/rootfs"
  for f in hosts hostname resolv.conf; do [ -e "$cdir/$f" ] && cp "$cdir/$f" "$b/$f"; done
  python3 - "$cdir/config.json" "$b" "$cdir" "/$cgroup_parent/bare-$rt" <<'EOF'
import json, sys
src, bundle, cdir, cgroup = sys.argv[1:]
config = json.load(open(src))
config["root"]["path"] = "rootfs"
config["process"]["args"] = ["true"]
config["process"]["terminal"] = False
config["linux"]["cgroupsPath"] = cgroup
for m in config.get("mounts", []):
    if m.get("source", "").startswith(cdir):
        m["source"] = bundle + m["source"][len(cdir):]
json.dump(config, open(bundle + "/config.json", "w"), indent=1)
EOF
done
"$zlayer_bin" rm -f "$ref" >/dev/null
bundle_mounted=
mkdir -p "$work/oci-crun" "$work/oci-runc"
crun_cmd="unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --root $work/oci-crun run --bundle $work/bundle-crun bare-crun'"
runc_cmd="runc --root $work/oci-runc run --bundle $work/bundle-runc bare-runc"
zlayer_cmd="$zlayer_bin run --rm --network none $image true"

# --- dockerd --------------------------------------------------------------------------------------
if [ "$use_docker" = 1 ]; then
  echo "run_bench: starting dockerd ..." >&2
  sock=$work/docker.sock
  dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 \
    --data-root "$work/docker-data" --exec-root "$work/docker-exec" -H "unix://$sock" \
    --pidfile "$work/docker.pid" >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 300); do
    "$docker_cli" -H "unix://$sock" version >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || die "dockerd failed: $(tail -c 2000 "$work/dockerd.log")"
    sleep 0.1
  done
  skopeo copy --quiet "oci:$work/layout:1" "docker-archive:$work/busybox.tar:bench/busybox:1"
  "$docker_cli" -H "unix://$sock" load -i "$work/busybox.tar" >/dev/null
  docker_cmd="$docker_cli -H unix://$sock run --rm --network none bench/busybox:1 true"
fi

# Each command once by hand: a failing side stops the benchmark with its error.
for cmd in "$zlayer_cmd" "$crun_cmd" "$runc_cmd" ${docker_cmd:+"$docker_cmd"}; do
  sh -c "$cmd" >/dev/null 2>"$work/check.err" || die "failed: $cmd: $(cat "$work/check.err")"
done

# --- timing ---------------------------------------------------------------------------------------
echo "run_bench: timing ($runs runs each) ..." >&2
hf=(--warmup "$warmup" --runs "$runs" --export-json "$work/hyperfine.json" --style basic)
hf+=(-n "zlayer-agent run --rm" "$zlayer_cmd" -n "crun run (bare)" "$crun_cmd" -n "runc run (bare)" "$runc_cmd")
[ -n "${docker_cmd:-}" ] && hf+=(-n "docker run --rm" "$docker_cmd")
hyperfine "${hf[@]}" >&2

python3 - "$work/hyperfine.json" <<'EOF'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
def median(name): return results[name]["median"] * 1000 if name in results else None
z, c, r, d = (median(n) for n in ("zlayer-agent run --rm", "crun run (bare)", "runc run (bare)", "docker run --rm"))
print("\n== container start: median wall time (ms) ==")
for name in results:
    res = results[name]
    print(f"  {name:24s} {res['median']*1000:8.1f}   (mean {res['mean']*1000:.1f} ± {res['stddev']*1000:.1f}, min {res['min']*1000:.1f})")
print(f"  zlayer / bare crun      {z/c:6.2f}x   target <= 1.25x: {'met' if z/c <= 1.25 else 'MISSED'}")
print(f"  zlayer / bare runc      {z/r:6.2f}x")
if d is not None:
    print(f"  docker / zlayer         {d/z:6.2f}x   target >= 5x: {'met' if d/z >= 5 else 'MISSED'}")
EOF

# --- memory with many running containers ---------------------------------------------------------
if [ "$containers" -gt 0 ]; then
  echo "run_bench: starting $containers containers ..." >&2
  $time_bin -f "%M" -o "$work/agent-rss" "$zlayer_bin" run -d --name mem0 --network none "$image" sleep 100000 >/dev/null
  mem_names+=(mem0)
  for i in $(seq 1 $((containers - 1))); do
    "$zlayer_bin" run -d --name "mem$i" --network none "$image" sleep 100000 >/dev/null
    mem_names+=("mem$i")
  done
  $time_bin -f "%M" -o "$work/ps-rss" "$zlayer_bin" ps >/dev/null
  python3 - "$zroot/containers" "$work/agent-rss" "$work/ps-rss" <<'EOF'
import os, sys, statistics
root, agent_file, ps_file = sys.argv[1:]
rss, pss = [], []
for name in os.listdir(root):
    try:
        pid = int(open(os.path.join(root, name, "monitor.pid")).read())
        fields = dict(l.split(":", 1) for l in open(f"/proc/{pid}/smaps_rollup") if ":" in l and not l.startswith(" "))
    except (OSError, ValueError):
        continue
    rss.append(int(fields["Rss"].split()[0]))
    pss.append(int(fields["Pss"].split()[0]))
n = len(rss)
print(f"\n== memory with {n} running containers (KiB) ==")
print(f"  zlayer-monitor RSS: sum {sum(rss)}, per monitor median {statistics.median(rss):.0f} (min {min(rss)}, max {max(rss)})")
print(f"  zlayer-monitor PSS: sum {sum(pss)}, per monitor median {statistics.median(pss):.0f}  (shared library pages split between monitors)")
print(f"  zlayer-agent peak RSS: run -d {open(agent_file).read().split()[-1]}, ps with {n} containers {open(ps_file).read().split()[-1]}")
EOF
fi
