#!/bin/sh
# Layer unpack speed: zlayer's unpack_layer vs `umoci raw unpack` on the same gzip layer, side by
# side under hyperfine (needs root for both: ownership and device nodes).
# Usage: bench/unpack_vs_umoci.sh BUILD_DIR [SOURCE_DIR (default /usr/share)]
set -eu
build=${1:?usage: $0 BUILD_DIR [SOURCE_DIR]}
src=${2:-/usr/share}
work=$(mktemp -d /var/tmp/zlayer-unpack-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

# One gzip layer in an OCI image layout, so umoci can read it.
tar -C "$src" -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -1 -c "$work/layer.tar" > "$work/layer.tar.gz"
layout="$work/oci"
mkdir -p "$layout/blobs/sha256"
layer_digest=$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)
layer_size=$(stat -c %s "$work/layer.tar.gz")
cp "$work/layer.tar.gz" "$layout/blobs/sha256/$layer_digest"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"config":{}}' \
  "$diff_id" > "$work/config.json"
config_digest=$(sha256sum "$work/config.json" | cut -d' ' -f1)
config_size=$(stat -c %s "$work/config.json")
cp "$work/config.json" "$layout/blobs/sha256/$config_digest"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
  "$config_digest" "$config_size" "$layer_digest" "$layer_size" > "$work/manifest.json"
manifest_digest=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
manifest_size=$(stat -c %s "$work/manifest.json")
cp "$work/manifest.json" "$layout/blobs/sha256/$manifest_digest"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"bench"}}]}' \
  "$manifest_digest" "$manifest_size" > "$layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"

echo "layer: $src, $(stat -c %s "$work/layer.tar") bytes uncompressed, $layer_size gzip"
hyperfine --warmup 1 --runs 5 \
  --prepare "rm -rf $work/out-zlayer $work/out-umoci; sync" \
  -n zlayer "$build/bench/zlayer_unpack_bench $layout/blobs/sha256/$layer_digest application/vnd.oci.image.layer.v1.tar+gzip $work/out-zlayer" \
  -n umoci "umoci raw unpack --image $layout:bench $work/out-umoci"
