#!/usr/bin/env bash
# The demo deployment (examples/demo.yaml) in the foreground, like `docker compose up`: builds
# the busybox image with umoci and the WASM module (examples/ticker.c, clang --target=wasm32-wasi),
# serves both from a docker-registry on 127.0.0.1 at a free port (DEMO_REGISTRY_PORT to choose
# it; the spec is copied with that port), then runs `zlayer-agent deploy`. Ctrl-C stops and
# removes every replica. State lives in ./example-state/demo (wiped first, unless a demo is still
# running there: then it refuses); the registry is
# stopped by pid on exit. Extra arguments go to `zlayer-agent deploy`.
set -euo pipefail
cd "$(dirname "$0")/.."
source examples/lib.sh
agent=$PWD/build/zlayer-agent
state=$PWD/example-state/demo
export ZLAYER_ROOT_DIR=$state/root ZLAYER_RUNTIME_DIR=$state/run ZLAYER_WASM_CACHE_DIR=$state/root/wasm
# The state of a previous run is wiped, never that of a demo still running: its owner holds the
# deployment's lock (a second `docker compose up` would attach; we refuse). What a killed run
# left behind is taken down first, so no mounted rootfs is deleted under a live container.
lock=$ZLAYER_RUNTIME_DIR/deployments/demo.lock
if [ -e "$lock" ] && ! flock -n "$lock" true; then
  echo "demo.sh: the demo is already running (another run-example.sh owns $lock);" >&2
  echo "         stop it with Ctrl-C there, or: ZLAYER_ROOT_DIR=$ZLAYER_ROOT_DIR ZLAYER_RUNTIME_DIR=$ZLAYER_RUNTIME_DIR $agent down demo" >&2
  exit 1
fi
if [ -e "$ZLAYER_ROOT_DIR/state.db" ] && [ -x "$agent" ]; then
  "$agent" down demo >/dev/null 2>&1 || true
fi
if findmnt -rn -o TARGET | grep -q "^$state/"; then
  echo "demo.sh: something is still mounted under $state; not wiping it (see findmnt)" >&2
  exit 1
fi
rm -rf "$state"
mkdir -p "$state"
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
