#include "image/digest.h"

#include <openssl/evp.h>

namespace zlayer::image {

Result<Digest> Digest::parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return errorf(Errc::kInvalidArgument, "digest \"{}\" is not of the form sha256:<64 hex>", text);
  }
  std::string_view algorithm = text.substr(0, colon);
  std::string_view hex = text.substr(colon + 1);
  std::size_t expected = 0;
  if (algorithm == "sha256") {
    expected = 64;
  } else if (algorithm == "sha512") {
    expected = 128;
  } else {
    return errorf(Errc::kInvalidArgument, "digest \"{}\": algorithm \"{}\" is not sha256 or sha512",
                  text, algorithm);
  }
  if (hex.size() != expected) {
    return errorf(Errc::kInvalidArgument, "digest \"{}\": expected {} hex characters, got {}", text,
                  expected, hex.size());
  }
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return errorf(Errc::kInvalidArgument, "digest \"{}\" is not lower-case hex", text);
    }
  }
  return Digest{std::string(algorithm), std::string(hex)};
}

struct Sha256::State {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~State() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr);
}

Sha256::~Sha256() = default;

void Sha256::update(std::string_view bytes) { update(bytes.data(), bytes.size()); }

void Sha256::update(const void* data, std::size_t size) {
  EVP_DigestUpdate(state_->ctx, data, size);
}

Digest Sha256::finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(state_->ctx, md, &len);
  EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[md[i] >> 4]);
    hex.push_back(kHex[md[i] & 0xf]);
  }
  return Digest{"sha256", std::move(hex)};
}

Digest sha256_of(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return h.finish();
}

}  // namespace zlayer::image
