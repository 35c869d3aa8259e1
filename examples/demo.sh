#!/usr/bin/env bash
# The demo deployment (examples/demo.yaml) in the foreground, like `docker compose up`: builds
# the busybox image with umoci and the WASM module (examples/ticker.c, clang --target=wasm32-wasi),
# serves both from a docker-registry on 127.0.0.1 at a free port (DEMO_REGISTRY_PORT to choose
# it; the spec is copied with that port), then runs `zlayer-agent deploy`. Ctrl-C stops and
# removes every replica. State lives in ./example-state/demo (wiped first); the registry is
# stopped by pid on exit. Extra arguments go to `zlayer-agent deploy`.
set -euo pipefail
cd "$(dirname "$0")/.."
source examples/lib.sh
agent=$PWD/build/zlayer-agent
state=$PWD/example-state/demo
rm -rf "$state"
mkdir -p "$state"
export ZLAYER_ROOT_DIR=$state/root ZLAYER_RUNTIME_DIR=$state/run ZLAYER_WASM_CACHE_DIR=$state/root/wasm
trap stop_registry EXIT

port=${DEMO_REGISTRY_PORT:-$(free_port)}
start_registry "$port"
build_busybox_image "$state/layout"
push_image "$state/layout" "127.0.0.1:$port/demo/busybox:latest"
clang --target=wasm32-wasi -O2 -o "$state/ticker.wasm" examples/ticker.c
push_wasm_artifact "$state/ticker.wasm" "127.0.0.1:$port" demo/ticker v1
sed "s|127.0.0.1:5000/|127.0.0.1:$port/|" examples/demo.yaml > "$state/demo.yaml"

echo "== zlayer-agent deploy examples/demo.yaml (Ctrl-C stops it)"
echo "   from another terminal, with the same ZLAYER_ROOT_DIR/ZLAYER_RUNTIME_DIR:"
echo "   export ZLAYER_ROOT_DIR=$ZLAYER_ROOT_DIR ZLAYER_RUNTIME_DIR=$ZLAYER_RUNTIME_DIR"
echo "   $agent ps;  $agent logs worker-rep-1;  curl http://127.0.0.1:8080/"
"$agent" deploy "$state/demo.yaml" "$@"
