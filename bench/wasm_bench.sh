#!/usr/bin/env bash
# WASI hello-world, start → exit, as a whole process: `zlayer-agent run --rm hello.wasm` (module
# in the cache, state.db row written and removed, output through the log store) against `node`
# running the same module through node:wasi. Targets: zlayer median < 5 ms and ≥ 10× faster than
# node. See bench/README.md.
set -euo pipefail

BUILD_DIR=${BUILD_DIR:-./build}
ZLAYER_BIN=${ZLAYER_BIN:-$BUILD_DIR/zlayer-agent}
RUNS=${RUNS:-200}
WARMUP=${WARMUP:-20}
NODE_RUNS=${NODE_RUNS:-30}

for tool in clang node hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "wasm_bench: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
[ -x "$ZLAYER_BIN" ] || { echo "wasm_bench: $ZLAYER_BIN is not built" >&2; exit 1; }
ZLAYER_BIN=$(realpath "$ZLAYER_BIN")

WORK=$(mktemp -d /var/tmp/zlayer-wasm-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

cat >"$WORK/hello.c" <<'C'
#include <stdio.h>
int main(void) {
  puts("hello, world");
  return 0;
}
C
clang --target=wasm32-wasi -O2 "$WORK/hello.c" -o "$WORK/hello.wasm"

cat >"$WORK/node_wasi.mjs" <<'JS'
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { argv } from 'node:process';
const wasi = new WASI({ version: 'preview1', args: [argv[2]], env: {} });
const module = await WebAssembly.compile(await readFile(argv[2]));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
JS

export ZLAYER_ROOT_DIR="$WORK/root" ZLAYER_RUNTIME_DIR="$WORK/run" ZLAYER_WASM_CACHE_DIR="$WORK/cache"
# Both must print the same thing; this run also puts the module into the cache.
[ "$("$ZLAYER_BIN" run --rm "$WORK/hello.wasm")" = "hello, world" ]
[ "$(node --no-warnings "$WORK/node_wasi.mjs" "$WORK/hello.wasm")" = "hello, world" ]

echo "== WASI hello-world, start → exit (module $(stat -c %s "$WORK/hello.wasm") bytes) =="
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/zlayer.json" \
  -n "zlayer-agent run" "$ZLAYER_BIN run --rm $WORK/hello.wasm"
hyperfine -N --warmup 3 --runs "$NODE_RUNS" --export-json "$WORK/node.json" \
  -n "node (node:wasi)" "node --no-warnings $WORK/node_wasi.mjs $WORK/hello.wasm"

python3 - "$WORK/zlayer.json" "$WORK/node.json" <<'PY'
import json, sys
z = json.load(open(sys.argv[1]))["results"][0]
n = json.load(open(sys.argv[2]))["results"][0]
zm, nm = z["median"] * 1000, n["median"] * 1000
zc, nc = (z["user"] + z["system"]) * 1000, (n["user"] + n["system"]) * 1000
print(f"median  zlayer-agent run: {zm:.2f} ms   node: {nm:.2f} ms   node/zlayer: {nm / zm:.1f}x")
print(f"min     zlayer-agent run: {z['min'] * 1000:.2f} ms   node: {n['min'] * 1000:.2f} ms")
print(f"CPU     zlayer-agent run: {zc:.2f} ms   node: {nc:.2f} ms   node/zlayer: {nc / zc:.1f}x  (user+sys, mean)")
print(f"target  < 5 ms: {'met' if zm < 5 else 'MISSED'}   >= 10x: {'met' if nm / zm >= 10 else 'MISSED'}")
with open("/proc/loadavg") as f:
    print(f"load average (1/5/15 min) on {__import__('os').cpu_count()} CPUs: {' '.join(f.read().split()[:3])}")
PY
