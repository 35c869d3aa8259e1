// Content digests as OCI image-spec `descriptor.md` defines them ("sha256:<64 hex>"), and an
// incremental SHA-256 (OpenSSL EVP) for hashing streams. Values only; a Sha256 object belongs to
// one thread at a time.
#pragma once

#include <compare>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"

namespace zlayer::image {

struct Digest {
  std::string algorithm;  // "sha256" (sha512 is parsed too, but only sha256 is computed)
  std::string hex;        // lower-case hex, 64 characters for sha256

  // "sha256:<hex>". Errors: kInvalidArgument quoting `text` when it is not algorithm:hex with the
  // algorithm's length, lower-case hex only (OCI descriptor.md "Digests").
  static Result<Digest> parse(std::string_view text);
  [[nodiscard]] std::string str() const { return algorithm + ":" + hex; }
  // First 12 hex characters, as `docker images` shows ids.
  [[nodiscard]] std::string short_hex() const { return hex.substr(0, 12); }
  [[nodiscard]] bool empty() const { return hex.empty(); }
  auto operator<=>(const Digest&) const = default;
};

// Incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view bytes);
  void update(const void* data, std::size_t size);
  // Finishes and returns the digest; the object is reset and may be reused.
  Digest finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

Digest sha256_of(std::string_view bytes);

}  // namespace zlayer::image
