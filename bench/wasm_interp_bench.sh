#!/usr/bin/env bash
# CPU-bound WebAssembly loop: zlayer's engine (bench/wasm_run, both preemption modes) against
# wabt's own `wasm-interp --run-all-exports`, same module, whole processes, side by side in one
# hyperfine run. Prints medians of wall and user CPU time and the ratios to wasm-interp; the
# project's target is within 1.2x (bench/README.md, "WebAssembly engine").
#
# Usage: bench/wasm_interp_bench.sh
# Environment (all optional): BUILD_DIR (default <repo>/build), RUNS (5), WARMUP (1),
#   ITERATIONS (loop trip count, 10000000).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_dir=${BUILD_DIR:-$script_dir/../build}
run_bin=$build_dir/bench/wasm_run
runs=${RUNS:-5}
warmup=${WARMUP:-1}
iterations=${ITERATIONS:-10000000}
target_ratio=1.2

die() { echo "wasm_interp_bench: $*" >&2; exit 2; }
for tool in hyperfine wasm-interp wat2wasm python3; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/install-deps.sh)"
done
[ -x "$run_bin" ] || die "$run_bin not found: build first (cmake --build build --target wasm_run)"

work=$(mktemp -d /var/tmp/zlayer-wasm-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

# sum(0..n-1) in i64: the tightest loop the interpreter runs (11 instructions per iteration).
cat >"$work/sum.wat" <<WAT
(module
  (func (export "sum") (result i64) (local \$i i64) (local \$s i64)
    (loop \$l
      (local.set \$s (i64.add (local.get \$s) (local.get \$i)))
      (local.set \$i (i64.add (local.get \$i) (i64.const 1)))
      (br_if \$l (i64.lt_u (local.get \$i) (i64.const $iterations))))
    (local.get \$s)))
WAT
wat2wasm "$work/sum.wat" -o "$work/sum.wasm"

hyperfine --style basic --warmup "$warmup" --runs "$runs" --export-json "$work/hyperfine.json" \
  -n "wasm-interp" "wasm-interp --run-all-exports $work/sum.wasm" \
  -n "zlayer sliced" "$run_bin $work/sum.wasm sum 0 sliced" \
  -n "zlayer instrumented" "$run_bin $work/sum.wasm sum 0 instrumented" >&2

python3 - "$work/hyperfine.json" "$target_ratio" "$iterations" <<'PY'
import json, statistics, sys
hf, target, iterations = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
results = {r["command"]: r for r in json.load(open(hf))["results"]}
peer = results["wasm-interp"]
def mean_user(r):
    return r["user"]  # hyperfine exports the mean user time
print(f"== WebAssembly CPU loop: sum of {iterations} i64 (11 instructions per iteration) ==")
for name, r in results.items():
    line = (f"{name:<20} median {r['median']:.3f} s wall, mean user {mean_user(r):.3f} s "
            f"(mean {r['mean']:.3f} ± {r['stddev'] or 0:.3f} s)")
    if r is not peer:
        ratio = r["median"] / peer["median"]
        verdict = "met" if ratio <= target else "NOT met"
        line += f"  ratio to wasm-interp {ratio:.2f}x -> target {target}x {verdict}"
    print(line)
PY
