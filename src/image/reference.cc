#include "image/reference.h"

#include <cctype>

namespace zlayer::image {
namespace {

constexpr std::string_view kDockerHub = "docker.io";

bool is_alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)* (distribution/reference).
bool valid_path_component(std::string_view c) {
  if (c.empty() || !is_alnum_lower(c.front()) || !is_alnum_lower(c.back())) return false;
  std::size_t i = 0;
  while (i < c.size()) {
    if (is_alnum_lower(c[i])) {
      ++i;
      continue;
    }
    // A separator run: ".", "_", "__", or one or more "-".
    std::size_t start = i;
    if (c[i] == '-') {
      while (i < c.size() && c[i] == '-') ++i;
    } else if (c[i] == '_' && i + 1 < c.size() && c[i + 1] == '_') {
      i += 2;
    } else if (c[i] == '.' || c[i] == '_') {
      ++i;
    } else {
      return false;
    }
    if (i == start || i >= c.size() || !is_alnum_lower(c[i])) return false;
  }
  return true;
}

// [\w][\w.-]{0,127}
bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!word(t.front())) return false;
  for (char c : t) {
    if (!word(c) && c != '.' && c != '-') return false;
  }
  return true;
}

// Host (DNS name, IPv4, or [IPv6]) with an optional :port.
bool valid_domain(std::string_view d) {
  if (d.empty()) return false;
  std::string_view host = d;
  std::string_view port;
  if (d.front() == '[') {
    auto close = d.find(']');
    if (close == std::string_view::npos) return false;
    host = d.substr(1, close - 1);
    std::string_view rest = d.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (port.empty()) return false;
    }
    for (char c : host) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    }
  } else {
    auto colon = d.rfind(':');
    if (colon != std::string_view::npos) {
      host = d.substr(0, colon);
      port = d.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (host.empty()) return false;
    for (char c : host) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return false;
    }
  }
  for (char c : port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

Result<Reference> Reference::parse(std::string_view text) {
  auto fail = [&](std::string_view why) {
    return errorf(Errc::kInvalidArgument, "invalid image reference \"{}\": {}", text, why);
  };
  if (text.empty()) return fail("it is empty");
  Reference ref;
  std::string_view rest = text;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    auto digest = Digest::parse(rest.substr(at + 1));
    if (!digest) return fail(digest.error().message);
    ref.digest = *digest;
    rest = rest.substr(0, at);
  }
  // A tag follows the last ':' that comes after the last '/' (a ':' before it is a port).
  auto last_slash = rest.rfind('/');
  auto last_colon = rest.rfind(':');
  if (last_colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || last_colon > last_slash)) {
    std::string_view tag = rest.substr(last_colon + 1);
    if (!valid_tag(tag)) {
      return fail(fmt::format("tag \"{}\" must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}", tag));
    }
    ref.tag = std::string(tag);
    rest = rest.substr(0, last_colon);
  }
  if (rest.empty()) return fail("the repository name is empty");

  // The first component is a registry when it looks like a host: has '.' or ':', or is localhost.
  std::string_view remainder = rest;
  auto slash = rest.find('/');
  if (slash != std::string_view::npos) {
    std::string_view first = rest.substr(0, slash);
    bool has_upper = false;
    for (char c : first) has_upper |= std::isupper(static_cast<unsigned char>(c)) != 0;
    if (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
        first == "localhost" || has_upper) {
      if (!valid_domain(first))
        return fail(fmt::format("registry \"{}\" is not a host[:port]", first));
      ref.registry = std::string(first);
      remainder = rest.substr(slash + 1);
    }
  }
  if (ref.registry.empty() || ref.registry == "index.docker.io" ||
      ref.registry == "registry-1.docker.io") {
    ref.registry = std::string(kDockerHub);
  }
  if (ref.registry == kDockerHub && remainder.find('/') == std::string_view::npos) {
    ref.repository = "library/" + std::string(remainder);
  } else {
    ref.repository = std::string(remainder);
  }
  std::string_view repo = ref.repository;
  while (true) {
    auto next = repo.find('/');
    std::string_view component = repo.substr(0, next);
    if (component.empty()) return fail("a path component is empty");
    for (char c : component) {
      if (std::isupper(static_cast<unsigned char>(c))) {
        return fail("repository names must be lower-case");
      }
    }
    if (!valid_path_component(component)) {
      return fail(fmt::format(
          "path component \"{}\" must be lower-case letters and digits separated by '.', '_', "
          "'__' or '-'",
          component));
    }
    if (next == std::string_view::npos) break;
    repo = repo.substr(next + 1);
  }
  if (ref.name().size() > 255) return fail("the name is longer than 255 characters");
  if (ref.tag.empty() && !ref.digest) ref.tag = "latest";
  return ref;
}

std::string Reference::str() const {
  std::string out = name();
  if (!tag.empty()) out += ":" + tag;
  if (digest) out += "@" + digest->str();
  return out;
}

std::string Reference::familiar() const {
  std::string repo = repository;
  std::string out;
  if (registry == kDockerHub) {
    out = repo.rfind("library/", 0) == 0 ? repo.substr(8) : repo;
  } else {
    out = name();
  }
  if (!tag.empty()) out += ":" + tag;
  if (digest) out += "@" + digest->str();
  return out;
}

std::string Reference::api_host() const {
  return registry == kDockerHub ? std::string("registry-1.docker.io") : registry;
}

std::string Reference::manifest_reference() const {
  if (digest) return digest->str();
  return tag;
}

Reference Reference::with_digest(const Digest& d) const {
  Reference r = *this;
  r.digest = d;
  return r;
}

bool is_loopback_registry(std::string_view registry) {
  std::string_view host = registry;
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close != std::string_view::npos && host.substr(1, close - 1) == "::1";
  }
  if (auto colon = host.rfind(':'); colon != std::string_view::npos) host = host.substr(0, colon);
  if (host == "localhost") return true;
  if (host.rfind("127.", 0) != 0) return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (!std::isdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return dots == 3;
}

}  // namespace zlayer::image
