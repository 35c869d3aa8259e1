// TEMPORARY (registry branch only): the Reference members the registry client uses, so this
// branch links before the lead's reference.cc lands. Delete this file when merging: reference.cc
// defines all of these with the same semantics.
#include "image/reference.h"

namespace zlayer::image {

std::string Reference::str() const {
  std::string out = name();
  if (!tag.empty()) out += ":" + tag;
  if (digest) out += "@" + digest->str();
  return out;
}

std::string Reference::api_host() const {
  return registry == "docker.io" ? std::string("registry-1.docker.io") : registry;
}

std::string Reference::manifest_reference() const {
  return digest ? digest->str() : tag;
}

Reference Reference::with_digest(const Digest& d) const {
  Reference r = *this;
  r.digest = d;
  return r;
}

bool is_loopback_registry(std::string_view registry) {
  std::string_view host = registry;
  if (host.rfind("[::1]", 0) == 0) return true;
  if (auto colon = host.rfind(':'); colon != std::string_view::npos) host = host.substr(0, colon);
  return host == "localhost" || host.rfind("127.", 0) == 0;
}

}  // namespace zlayer::image
