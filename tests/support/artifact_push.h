// Pushes OCI artifacts (e.g. WASM modules) to a plain-http test registry the way oras does, with
// the Distribution API directly: each blob by monolithic upload (POST /v2/<name>/blobs/uploads/,
// PUT <location>&digest=…), then the manifest (PUT /v2/<name>/manifests/<tag>). skopeo cannot
// copy artifacts whose config is not an image config, hence this. Not thread-safe per call args;
// no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "support/registry_fixture.h"

namespace zlayer::testing {

struct ArtifactBlob {
  std::string media_type;
  std::string bytes;
};

struct ArtifactManifest {
  std::string config_media_type = "application/vnd.wasm.config.v0+json";
  std::string config = "{}";
  std::vector<ArtifactBlob> layers;
  std::string artifact_type;  // OCI 1.1 `artifactType`; empty = omitted
};

// What was pushed: the manifest's digest and size, and each layer's digest.
struct PushedArtifact {
  std::string manifest;  // the JSON body as pushed
  std::string digest;    // "sha256:<hex>"
  std::int64_t size = 0;
  std::vector<std::string> layer_digests;
};

// Uploads the config and layers, then the OCI image manifest under `name` ("repo:tag").
// Errors: kInvalidArgument (name without tag), kInternal quoting the registry's answer.
Result<PushedArtifact> push_artifact(const RegistryFixture& registry, std::string_view name,
                                     const ArtifactManifest& artifact);

// One index entry: an already pushed manifest and the platform it is for.
struct IndexEntry {
  PushedArtifact manifest;
  std::string os;
  std::string architecture;
};

// Pushes an OCI image index of `entries` under `name` ("repo:tag"). Errors as push_artifact.
Result<std::string> push_index(const RegistryFixture& registry, std::string_view name,
                               const std::vector<IndexEntry>& entries);

// Uploads one blob to repository `repo` (no tag). Errors as push_artifact.
Status push_blob(const RegistryFixture& registry, std::string_view repo, std::string_view bytes);

}  // namespace zlayer::testing
