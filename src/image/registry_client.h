// Registry client for the Distribution API v2 (OCI distribution-spec) on libcurl. http for
// loopback registries (as Docker treats localhost and 127.0.0.0/8), https elsewhere with a
// per-registry CA directory like Docker's certs.d; anonymous, basic and bearer-token auth from the
// WWW-Authenticate challenge (tokens cached per registry+scope); credentials from the Docker
// config file (auths, credsStore, credHelpers); retries with backoff on 5xx and dropped
// connections. Thread-safe: several threads may fetch blobs at once (each call borrows its own curl
// easy handle from a pool, so kept-alive connections are reused; tokens and credentials are cached
// behind mutexes).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "core/error.h"
#include "image/content_store.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "image/reference.h"

namespace zlayer::image {

struct RegistryOptions {
  // Per-registry CA directories: <certs_dir>/<host[:port]>/*.crt (Docker's certs.d layout).
  // Default: /etc/docker/certs.d; tests point it at their own directory.
  std::filesystem::path certs_dir = "/etc/docker/certs.d";
  // Docker config file with credentials. Default: $DOCKER_CONFIG/config.json, else
  // $HOME/.docker/config.json (resolved by default_options()).
  std::filesystem::path docker_config;
  int max_attempts = 5;                            // per request, including the first
  std::chrono::milliseconds initial_backoff{200};  // doubles per retry, capped at 5 s
  std::chrono::seconds connect_timeout{30};
  std::string user_agent = "zlayer-agent/0.1";
  // A transfer that moves less than 1 byte/s for this long is abandoned and retried (a stalled
  // connection otherwise hangs a pull forever).
  std::chrono::seconds stall_timeout{60};
  // Use https (with certs_dir) even for loopback registries, which otherwise get plain http as
  // Docker gives them. For a local registry that serves TLS (like `docker pull` of an https
  // registry listed nowhere as insecure), and for tests of the TLS path.
  bool force_https_for_loopback = false;

  // The defaults above with docker_config resolved from the environment.
  static RegistryOptions default_options();
};

struct FetchedManifest {
  std::string body;          // the raw bytes received
  std::string content_type;  // the response's Content-Type (may be empty)
  Digest digest;             // sha256 over `body`
};

class RegistryClient {
 public:
  explicit RegistryClient(RegistryOptions options);
  ~RegistryClient();
  RegistryClient(const RegistryClient&) = delete;
  RegistryClient& operator=(const RegistryClient&) = delete;

  // GET /v2/<repo>/manifests/<tag|digest> with the full Accept list. When `ref` names a digest,
  // the body's digest must match it. Errors: kNotFound (unknown repository/tag, naming the
  // reference), kPermissionDenied (401/403 after auth, naming the registry and whether
  // credentials were used), kUnavailable (connection failed, or 5xx/429 after max_attempts),
  // kFailedPrecondition (TLS certificate not trusted — add the CA to certs_dir/<host:port>/ — or a
  // credential helper that fails), kInvalidArgument (digest mismatch, body larger than 4 MiB,
  // another 4xx answer), kUnsupported (a digest algorithm other than sha256, an auth scheme other
  // than Basic/Bearer). Redirects are followed; the Authorization header only goes to the
  // registry's own scheme://host:port.
  Result<FetchedManifest> fetch_manifest(const Reference& ref);

  // Same with an explicit digest in `ref`'s repository (children of an index).
  Result<FetchedManifest> fetch_manifest(const Reference& repo, const Digest& digest);

  // GET /v2/<repo>/blobs/<digest>, following redirects, streaming into `out`. A dropped
  // connection resumes with a Range request from out.written() (or out.reset() when the server
  // ignores Range). Checks that exactly desc.size bytes arrived; the digest check is the
  // writer's (ContentStore::Ingest::commit). `on_bytes` (may be empty) gets each chunk's size.
  // Errors as fetch_manifest; kInvalidArgument when more or fewer bytes than desc.size arrive.
  Status fetch_blob(const Reference& repo, const Descriptor& desc, BlobWriter& out,
                    const std::function<void(std::int64_t)>& on_bytes = {});

  // Total bytes of blob bodies received by this client (for the benchmark's report).
  [[nodiscard]] std::int64_t bytes_received() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace zlayer::image
