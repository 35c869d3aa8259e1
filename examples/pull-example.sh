#!/usr/bin/env bash
# The example job (until `deploy` lands): builds a small busybox image with umoci, serves it from
# a docker-registry on 127.0.0.1, then has zlayer-agent pull and unpack it, list it, inspect it,
# and import the same image from its OCI layout. State lives in ./example-state (wiped first);
# the registry is stopped by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
agent=$PWD/build/zlayer-agent
state=$PWD/example-state
rm -rf "$state"
mkdir -p "$state"
export ZLAYER_ROOT_DIR=$state/root ZLAYER_RUNTIME_DIR=$state/run ZLAYER_WASM_CACHE_DIR=$state/root/wasm

registry_pid=
cleanup() { if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

# 1. A registry on a free loopback port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$state/registry.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $state/registry
http:
  addr: 127.0.0.1:$port
log:
  level: error
YAML
docker-registry serve "$state/registry.yml" >"$state/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done

# 2. The example image: busybox-static in one layer, built with umoci into an OCI layout.
layout=$state/layout
bundle=$state/bundle
umoci init --layout "$layout"
umoci new --image "$layout:latest"
umoci unpack --image "$layout:latest" "$bundle" >/dev/null
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/etc"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in sh ls cat echo env id sleep true false; do ln -sf busybox "$bundle/rootfs/bin/$applet"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$bundle/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$bundle/rootfs/etc/group"
umoci repack --image "$layout:latest" "$bundle" >/dev/null
umoci config --image "$layout:latest" --config.cmd /bin/sh --config.env PATH=/bin >/dev/null
ref=127.0.0.1:$port/example/busybox:latest
skopeo copy --quiet --dest-tls-verify=false "oci:$layout:latest" "docker://$ref"

# 3. zlayer-agent pulls and unpacks it.
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
