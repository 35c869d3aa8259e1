# Shared by the example scripts (sourced): a docker-registry on 127.0.0.1 and the busybox image.
# The caller sets $state (a directory of its own) and traps stop_registry on EXIT.

registry_pid=
stop_registry() {
  if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
}

# start_registry PORT — Debian's docker-registry on 127.0.0.1:PORT, storage in $state/registry.
start_registry() {
  local port=$1
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
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "docker-registry did not start on 127.0.0.1:$port (see $state/registry.log)" >&2
  return 1
}

# free_port — a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# build_busybox_image LAYOUT — busybox-static in one layer (with the applets the examples use and
# /etc/passwd), built with umoci into the OCI layout LAYOUT, tag latest.
build_busybox_image() {
  local layout=$1 bundle=$state/bundle
  rm -rf "$layout" "$bundle"
  umoci init --layout "$layout"
  umoci new --image "$layout:latest"
  umoci unpack --image "$layout:latest" "$bundle" >/dev/null
  mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/etc"
  cp /bin/busybox "$bundle/rootfs/bin/busybox"
  for applet in sh ls cat echo env id sleep true false date hostname mkdir httpd awk nc printf tail; do
    ln -sf busybox "$bundle/rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$bundle/rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$bundle/rootfs/etc/group"
  umoci repack --image "$layout:latest" "$bundle" >/dev/null
  umoci config --image "$layout:latest" --config.cmd /bin/sh --config.env PATH=/bin >/dev/null
}

# push_image LAYOUT REF — skopeo copy to the loopback registry.
push_image() {
  skopeo copy --quiet --dest-tls-verify=false "oci:$1:latest" "docker://$2"
}

# push_wasm_artifact WASM_FILE REGISTRY_HOST:PORT REPO TAG — a WASM OCI artifact (config
# application/vnd.wasm.config.v0+json, one application/vnd.wasm.content.layer.v1+wasm layer)
# pushed with the registry API (POST then PUT of each blob), as `wkg oci push` / `oras push` would.
push_wasm_artifact() {
  local wasm=$1 registry=$2 repo=$3 tag=$4
  local config=$state/wasm-config.json
  printf '{}' > "$config"
  upload_blob() {
    local digest="sha256:$(sha256sum "$1" | cut -d' ' -f1)"
    local location
    location=$(curl -fsS -X POST -D - -o /dev/null "http://$registry/v2/$repo/blobs/uploads/" |
      tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    case "$location" in http*) ;; *) location=http://$registry$location ;; esac
    case "$location" in *\?*) location="$location&digest=$digest" ;; *) location="$location?digest=$digest" ;; esac
    curl -fsS -X PUT --data-binary "@$1" -H 'Content-Type: application/octet-stream' "$location" >/dev/null
    echo "$digest"
  }
  local config_digest layer_digest
  config_digest=$(upload_blob "$config")
  layer_digest=$(upload_blob "$wasm")
  cat > "$state/wasm-manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "config":{"mediaType":"application/vnd.wasm.config.v0+json","digest":"$config_digest","size":$(stat -c %s "$config")},
 "layers":[{"mediaType":"application/vnd.wasm.content.layer.v1+wasm","digest":"$layer_digest","size":$(stat -c %s "$wasm")}]}
JSON
  curl -fsS -X PUT --data-binary "@$state/wasm-manifest.json" \
    -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    "http://$registry/v2/$repo/manifests/$tag" >/dev/null
}
