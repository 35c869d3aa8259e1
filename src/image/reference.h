// Image references, normalised as Docker does (distribution/reference grammar):
// `busybox` → `docker.io/library/busybox:latest`; `host:port/ns/name:tag@sha256:…`.
// Values only; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "image/digest.h"

namespace zlayer::image {

struct Reference {
  std::string registry;  // "docker.io", "127.0.0.1:5000", "ghcr.io" (index.docker.io → docker.io)
  std::string repository;  // "library/busybox", "ns/name"
  std::string tag;         // "latest" when neither tag nor digest was given; empty with digest only
  std::optional<Digest> digest;

  // Normalises `text`. Errors: kInvalidArgument quoting `text` and saying what is wrong
  // (upper-case repository, empty component, bad tag, bad digest, name longer than 255).
  static Result<Reference> parse(std::string_view text);

  // Full form: registry/repository[:tag][@digest].
  [[nodiscard]] std::string str() const;
  // registry/repository.
  [[nodiscard]] std::string name() const { return registry + "/" + repository; }
  // Docker's short form for display: "busybox:latest", "127.0.0.1:5000/x:1".
  [[nodiscard]] std::string familiar() const;
  // The registry's API host: "registry-1.docker.io" for docker.io, else `registry`.
  [[nodiscard]] std::string api_host() const;
  // Tag if set, else the digest string: what to ask /v2/<repo>/manifests/ for.
  [[nodiscard]] std::string manifest_reference() const;
  // Same repository with another tag or digest.
  [[nodiscard]] Reference with_digest(const Digest& d) const;

  bool operator==(const Reference&) const = default;
};

// True for registries Docker talks to over plain http without configuration: localhost and
// 127.0.0.0/8 (and [::1]), with any port.
bool is_loopback_registry(std::string_view registry);

}  // namespace zlayer::image
