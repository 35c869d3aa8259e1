#!/usr/bin/env bash
# The image pipeline end to end: builds a small busybox image with umoci, serves it from a
# docker-registry on 127.0.0.1, then has zlayer-agent pull and unpack it, list it, inspect it,
# and import the same image from its OCI layout. State lives in ./example-state/pull (wiped
# first); the registry is stopped by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source examples/lib.sh
agent=$PWD/build/zlayer-agent
state=$PWD/example-state/pull
rm -rf "$state"
mkdir -p "$state"
export ZLAYER_ROOT_DIR=$state/root ZLAYER_RUNTIME_DIR=$state/run ZLAYER_WASM_CACHE_DIR=$state/root/wasm
trap stop_registry EXIT

port=$(free_port)
start_registry "$port"
layout=$state/layout
build_busybox_image "$layout"
ref=127.0.0.1:$port/example/busybox:latest
push_image "$layout" "$ref"

echo "== zlayer-agent pull $ref"
"$agent" pull "$ref"
echo "== zlayer-agent images"
"$agent" images
echo "== zlayer-agent image inspect (layers and config)"
"$agent" image inspect "$ref" | python3 -c 'import json,sys; d=json.load(sys.stdin)[0]; print(json.dumps({k: d[k] for k in ("name","id","platform","diff_ids","config")}, indent=2))'
echo "== the unpacked layer snapshot"
ls -l "$ZLAYER_ROOT_DIR"/snapshots/*/fs/bin | head -5
echo "== pulling again transfers nothing"
"$agent" pull "$ref" | tail -1
echo "== import the same image from its OCI layout under another name"
"$agent" image import "$layout:latest" example/busybox:imported
"$agent" images
