#!/usr/bin/env bash
# Pull benchmark: `zlayer-agent pull` against `skopeo copy` + `umoci unpack` (the peer doing the
# same job: fetch every blob, verify, unpack into a root filesystem), side by side in one run,
# from a docker-registry on 127.0.0.1 that this script starts and stops. Prints medians, the
# ratio and whether the 1.5x target is met, peak memory, and the bytes an incremental pull
# transfers. bench/README.md explains the output.
#
# Usage: bench/pull_bench.sh
# Environment (all optional):
#   BUILD_DIR      build directory (default: <repo>/build)
#   ZLAYER_BIN     zlayer-agent binary (default: $BUILD_DIR/zlayer-agent)
#   GEN_IMAGE_BIN  bench_gen_image binary (default: $BUILD_DIR/bench/bench_gen_image)
#   RUNS, WARMUP   hyperfine runs (5) and warmup runs (1)
#   LAYERS, LAYER_MIB  image shape passed to bench_gen_image (6 data layers of 13 MiB)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_dir=${BUILD_DIR:-$script_dir/../build}
zlayer_bin=${ZLAYER_BIN:-$build_dir/zlayer-agent}
gen_bin=${GEN_IMAGE_BIN:-$build_dir/bench/bench_gen_image}
runs=${RUNS:-5}
warmup=${WARMUP:-1}
layers=${LAYERS:-6}
layer_mib=${LAYER_MIB:-13}
target_ratio=1.5
registry_bin=/usr/bin/docker-registry
time_bin=/usr/bin/time

die() { echo "pull_bench: $*" >&2; exit 2; }
for tool in hyperfine skopeo umoci python3; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/install-deps.sh)"
done
[ -x "$registry_bin" ] || die "$registry_bin not found (Debian package docker-registry)"
[ -x "$time_bin" ] || die "$time_bin not found (Debian package time)"
[ -x "$gen_bin" ] || die "$gen_bin not found: build first (cmake --build build; needs ZLAYER_BUILD_TESTS=ON)"

work=$(mktemp -d /var/tmp/zlayer-bench.XXXXXX)
registry_pid=
cleanup() {
  local rc=$?
  if [ -n "$registry_pid" ] && kill -0 "$registry_pid" 2>/dev/null; then
    kill -TERM "$registry_pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$registry_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$registry_pid" 2>/dev/null || true
  fi
  if [ -n "$registry_pid" ]; then wait "$registry_pid" 2>/dev/null || true; fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- registry on 127.0.0.1 at a free port -------------------------------------------------------
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
registry_answers() {
  python3 - "$1" <<'EOF'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v2/", timeout=2)
except urllib.error.HTTPError:
    pass  # any HTTP status means the server is up
except Exception:
    sys.exit(1)
EOF
}
start_registry() {
  local port=$1
  cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: zlayer-bench
EOF
  "$registry_bin" serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 300); do
    if ! kill -0 "$registry_pid" 2>/dev/null; then
      wait "$registry_pid" 2>/dev/null || true
      registry_pid=
      return 1
    fi
    registry_answers "$port" && return 0
    sleep 0.1
  done
  die "docker-registry on 127.0.0.1:$port did not answer: $(tail -c 2000 "$work/registry.log")"
}
port=
for _ in 1 2 3 4 5; do
  port=$(free_port)
  start_registry "$port" && break
  grep -q "address already in use" "$work/registry.log" ||
    die "docker-registry failed: $(tail -c 2000 "$work/registry.log")"
  port=
done
[ -n "$port" ] || die "no free port for docker-registry after 5 attempts"
registry=127.0.0.1:$port
ref1=$registry/bench/big:1
ref2=$registry/bench/big:2

# --- images -------------------------------------------------------------------------------------
echo "pull_bench: generating and pushing the images to $registry ..." >&2
"$gen_bin" --layout "$work/layout" --registry "$registry" --info "$work/info" \
  --layers "$layers" --layer-mib "$layer_mib" >/dev/null
fact() { grep "^$1=" "$work/info" | cut -d= -f2-; }
rm -rf "$work/layout"  # the registry holds the images now

zlayer_ok=0
if [ -x "$zlayer_bin" ] && "$zlayer_bin" pull --help >/dev/null 2>&1; then
  zlayer_ok=1
else
  echo "pull_bench: $zlayer_bin has no working 'pull' yet; timing the skopeo+umoci side only" >&2
fi

zroot=$work/zlayer-root
zrun=$work/zlayer-run
zlayer_env="env ZLAYER_ROOT_DIR=$zroot ZLAYER_RUNTIME_DIR=$zrun"
zlayer_cmd="$zlayer_env $zlayer_bin pull --quiet $ref1"
zlayer_prepare="rm -rf $zroot $zrun && mkdir -p $zroot $zrun"
oci=$work/skopeo-oci
bundle=$work/umoci-bundle
skopeo_cmd="skopeo copy --quiet --src-tls-verify=false docker://$ref1 oci:$oci:1"
umoci_cmd="umoci unpack --image $oci:1 $bundle"
peer_prepare="rm -rf $oci $bundle"

# --- timing -------------------------------------------------------------------------------------
hf_args=(--warmup "$warmup" --runs "$runs" --export-json "$work/hyperfine.json" --style basic)
if [ "$zlayer_ok" = 1 ]; then
  hf_args+=(--prepare "$zlayer_prepare" -n "zlayer-agent pull" "$zlayer_cmd")
fi
hf_args+=(--prepare "$peer_prepare" -n "skopeo copy + umoci unpack" "$skopeo_cmd && $umoci_cmd")
hyperfine "${hf_args[@]}" >&2

# --- peak memory (one more run of each, under /usr/bin/time -v) -------------------------------
max_rss_kib() { sed -n 's/^\s*Maximum resident set size (kbytes): //p' "$1"; }
rss_zlayer=n/a
if [ "$zlayer_ok" = 1 ]; then
  eval "$zlayer_prepare"
  $time_bin -v -o "$work/time-zlayer" $zlayer_cmd >/dev/null
  rss_zlayer=$(max_rss_kib "$work/time-zlayer")
fi
eval "$peer_prepare"
$time_bin -v -o "$work/time-skopeo" $skopeo_cmd >/dev/null
$time_bin -v -o "$work/time-umoci" $umoci_cmd >/dev/null
rss_skopeo=$(max_rss_kib "$work/time-skopeo")
rss_umoci=$(max_rss_kib "$work/time-umoci")
eval "$peer_prepare"

# --- incremental pull: image 2 after image 1 into the same root -------------------------------
transferred=n/a
if [ "$zlayer_ok" = 1 ]; then
  eval "$zlayer_prepare"
  $zlayer_cmd >/dev/null
  second_out=$($zlayer_env "$zlayer_bin" pull "$ref2" 2>&1) ||
    die "zlayer-agent pull $ref2 failed: $second_out"
  transferred=$(printf '%s\n' "$second_out" | sed -n 's/.*transferred: \([0-9][0-9]*\) bytes.*/\1/p' |
    tail -n 1)
  [ -n "$transferred" ] || transferred=n/a
fi

# --- report -------------------------------------------------------------------------------------
python3 - "$work/hyperfine.json" "$zlayer_ok" "$target_ratio" "$ref1" "$ref2" \
  "$(fact layers)" "$(fact compressed_bytes)" "$(fact uncompressed_bytes)" \
  "$rss_zlayer" "$rss_skopeo" "$rss_umoci" "$transferred" "$(fact differing_layer_bytes)" <<'EOF'
import json, sys
(hf, zlayer_ok, target, ref1, ref2, layers, compressed, uncompressed,
 rss_zlayer, rss_skopeo, rss_umoci, transferred, differing) = sys.argv[1:]
results = {r["command"]: r for r in json.load(open(hf))["results"]}
mb = lambda n: f"{int(n) / 1e6:.1f} MB"
mib_of_kib = lambda k: "n/a" if k == "n/a" else f"{int(k) / 1024:.0f} MiB"
def line(name):
    r = results[name]
    return (f"{name:<28} median {r['median']:.3f} s  "
            f"(mean {r['mean']:.3f} ± {r['stddev'] or 0:.3f} s, min {r['min']:.3f}, max {r['max']:.3f})")
print("== zlayer pull benchmark ==")
print(f"image  {ref1}: {layers} layers, {mb(compressed)} compressed, {mb(uncompressed)} uncompressed")
peer = results["skopeo copy + umoci unpack"]
if zlayer_ok == "1":
    print("(a) " + line("zlayer-agent pull"))
print("(b) " + line("skopeo copy + umoci unpack"))
if zlayer_ok == "1":
    ratio = peer["median"] / results["zlayer-agent pull"]["median"]
    verdict = "met" if ratio >= float(target) else "NOT met"
    print(f"ratio (b)/(a) of medians: {ratio:.2f}x  -> target {target}x {verdict}")
else:
    print(f"ratio (b)/(a): n/a (zlayer-agent pull not available)")
print(f"peak RSS: zlayer-agent pull {mib_of_kib(rss_zlayer)}; "
      f"skopeo copy {mib_of_kib(rss_skopeo)}, umoci unpack {mib_of_kib(rss_umoci)}")
if transferred == "n/a":
    print(f"incremental {ref2} after :1: transferred n/a; differing layer {mb(differing)}")
else:
    print(f"incremental {ref2} after :1: transferred {mb(transferred)} ({transferred} bytes); "
          f"differing layer {mb(differing)} ({differing} bytes); "
          f"ratio {int(transferred) / int(differing):.3f}")
EOF
