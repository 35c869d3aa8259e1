#include "image/registry_auth.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "core/fs.h"
#include "core/subprocess.h"
#include "core/text.h"

namespace zlayer::image {
namespace {

constexpr std::string_view kDockerHub = "docker.io";
constexpr std::string_view kDockerHubServerUrl = "https://index.docker.io/v1/";

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t'; }

// RFC 9110 tchar.
bool is_tchar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token68_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("-._~+/").find(c) != std::string_view::npos;
}

// Finds the entry of `entries` for `registry`: an exact key first, then a key naming the same
// host (URL forms, Docker Hub aliases).
template <class Map>
typename Map::const_iterator find_registry_key(const Map& entries, std::string_view registry) {
  if (auto it = entries.find(std::string(registry)); it != entries.end()) return it;
  if (registry == kDockerHub) {
    if (auto it = entries.find(std::string(kDockerHubServerUrl)); it != entries.end()) return it;
  }
  for (auto it = entries.begin(); it != entries.end(); ++it) {
    if (registry_key_host(it->first) == registry) return it;
  }
  return entries.end();
}

}  // namespace

std::string AuthChallenge::param(std::string_view key) const {
  auto it = params.find(lower(key));
  return it == params.end() ? std::string() : it->second;
}

Result<std::vector<AuthChallenge>> parse_www_authenticate(std::string_view value) {
  std::vector<AuthChallenge> out;
  std::size_t pos = 0;
  const std::size_t n = value.size();
  auto fail = [&](std::string_view what) {
    return errorf(Errc::kInvalidArgument, "WWW-Authenticate \"{}\": {} at offset {}",
                  excerpt(value, 200), what, pos);
  };
  auto skip_ws = [&] {
    while (pos < n && is_space(value[pos])) ++pos;
  };
  auto read_token = [&] {
    std::size_t start = pos;
    while (pos < n && is_tchar(value[pos])) ++pos;
    return value.substr(start, pos - start);
  };

  while (true) {
    // Empty list elements (",,") are allowed by the list rule.
    while (pos < n && (is_space(value[pos]) || value[pos] == ',')) ++pos;
    if (pos >= n) break;
    std::string_view name = read_token();
    if (name.empty()) return fail("expected an auth scheme or parameter name");
    std::size_t after_name = pos;
    skip_ws();
    if (pos < n && value[pos] == '=') {
      // name=value: a parameter of the current challenge.
      if (out.empty()) return fail("parameter before any auth scheme");
      ++pos;
      skip_ws();
      std::string param_value;
      if (pos < n && value[pos] == '"') {
        ++pos;
        bool closed = false;
        while (pos < n) {
          char c = value[pos++];
          if (c == '\\' && pos < n) {
            param_value += value[pos++];
          } else if (c == '"') {
            closed = true;
            break;
          } else {
            param_value += c;
          }
        }
        if (!closed) return fail("unterminated quoted string");
      } else {
        // Be lenient with unquoted values (realm=https://x/token is common): up to ',' or space.
        std::size_t start = pos;
        while (pos < n && value[pos] != ',' && !is_space(value[pos])) ++pos;
        param_value = std::string(value.substr(start, pos - start));
      }
      out.back().params[lower(name)] = std::move(param_value);
      continue;
    }
    // A new challenge. It may carry a token68 instead of parameters.
    AuthChallenge challenge;
    challenge.scheme = lower(name);
    pos = after_name;
    if (pos < n && is_space(value[pos])) {
      skip_ws();
      std::size_t start = pos;
      std::size_t p = pos;
      while (p < n && is_token68_char(value[p])) ++p;
      if (p > start) {
        while (p < n && value[p] == '=') ++p;
        std::size_t end = p;
        while (p < n && is_space(value[p])) ++p;
        if (p >= n || value[p] == ',') {
          challenge.token68 = std::string(value.substr(start, end - start));
          pos = p;
        }
      }
    }
    out.push_back(std::move(challenge));
  }
  if (out.empty()) return fail("no challenge");
  return out;
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    auto v = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
             (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
             std::uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (rest == 2) v |= std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  std::string s = trim(text);
  auto value_of = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!s.empty() && s.back() == '=') s.pop_back();
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v = value_of(c);
    if (v < 0) return errorf(Errc::kInvalidArgument, "invalid base64 character '{}'", c);
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits >= 6) return errorf(Errc::kInvalidArgument, "truncated base64 text");
  return out;
}

std::string basic_authorization(std::string_view username, std::string_view password) {
  std::string pair(username);
  pair += ':';
  pair += password;
  return "Basic " + base64_encode(pair);
}

Result<DockerConfig> parse_docker_config(std::string_view json, const std::filesystem::path& path) {
  DockerConfig config;
  config.path = path;
  auto doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return errorf(Errc::kInvalidArgument, "docker config {}: not a JSON object", path.string());
  }
  auto string_field = [&](const nlohmann::json& obj, const char* key,
                          const std::string& where) -> Result<std::string> {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::string();
    if (!it->is_string()) {
      return errorf(Errc::kInvalidArgument, "docker config {}: {}.{} is not a string",
                    path.string(), where, key);
    }
    return it->get<std::string>();
  };

  if (auto auths = doc.find("auths"); auths != doc.end() && !auths->is_null()) {
    if (!auths->is_object()) {
      return errorf(Errc::kInvalidArgument, "docker config {}: auths is not an object",
                    path.string());
    }
    for (const auto& [key, entry] : auths->items()) {
      std::string where = "auths[\"" + key + "\"]";
      if (!entry.is_object()) {
        return errorf(Errc::kInvalidArgument, "docker config {}: {} is not an object",
                      path.string(), where);
      }
      DockerConfig::AuthEntry parsed;
      ZLAYER_TRY(auth, string_field(entry, "auth", where));
      if (!auth.empty()) {
        auto decoded = base64_decode(auth);
        if (!decoded) {
          return errorf(Errc::kInvalidArgument, "docker config {}: {}.auth: {}", path.string(),
                        where, decoded.error().message);
        }
        auto colon = decoded->find(':');
        if (colon == std::string::npos) {
          return errorf(Errc::kInvalidArgument,
                        "docker config {}: {}.auth does not decode to \"username:password\"",
                        path.string(), where);
        }
        parsed.username = decoded->substr(0, colon);
        parsed.password = decoded->substr(colon + 1);
      }
      ZLAYER_TRY(username, string_field(entry, "username", where));
      ZLAYER_TRY(password, string_field(entry, "password", where));
      ZLAYER_TRY(identity_token, string_field(entry, "identitytoken", where));
      if (!username.empty()) parsed.username = username;
      if (!password.empty()) parsed.password = password;
      parsed.identity_token = identity_token;
      config.auths[key] = std::move(parsed);
    }
  }
  if (auto helpers = doc.find("credHelpers"); helpers != doc.end() && !helpers->is_null()) {
    if (!helpers->is_object()) {
      return errorf(Errc::kInvalidArgument, "docker config {}: credHelpers is not an object",
                    path.string());
    }
    for (const auto& [key, helper] : helpers->items()) {
      if (!helper.is_string()) {
        return errorf(Errc::kInvalidArgument,
                      "docker config {}: credHelpers[\"{}\"] is not a string", path.string(), key);
      }
      config.cred_helpers[key] = helper.get<std::string>();
    }
  }
  ZLAYER_TRY(store, string_field(doc, "credsStore", "config"));
  config.creds_store = std::move(store);
  return config;
}

Result<DockerConfig> load_docker_config(const std::filesystem::path& path) {
  if (path.empty()) return DockerConfig{};
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return DockerConfig{.path = path};
  ZLAYER_TRY(text, read_file(path));
  return parse_docker_config(text, path);
}

std::string registry_key_host(std::string_view key) {
  std::string_view host = key;
  if (auto scheme = host.find("://"); scheme != std::string_view::npos) {
    host = host.substr(scheme + 3);
  }
  if (auto slash = host.find('/'); slash != std::string_view::npos) host = host.substr(0, slash);
  std::string out = lower(host);
  if (out == "index.docker.io" || out == "registry-1.docker.io" ||
      out == "registry.hub.docker.com") {
    return std::string(kDockerHub);
  }
  return out;
}

std::string credential_server_url(std::string_view registry) {
  if (registry == kDockerHub) return std::string(kDockerHubServerUrl);
  return std::string(registry);
}

Result<Credentials> run_credential_helper(std::string_view helper, std::string_view server_url) {
  std::string program = "docker-credential-" + std::string(helper);
  SubprocessOptions options;
  options.input = std::string(server_url);
  options.timeout = std::chrono::seconds(60);
  auto result = run_subprocess({program, "get"}, options);
  if (!result) {
    if (result.error().code == Errc::kNotFound) {
      return errorf(Errc::kFailedPrecondition,
                    "credential helper {} (for {}) is not installed: not found in PATH", program,
                    server_url);
    }
    return errorf(Errc::kFailedPrecondition, "credential helper {} (for {}): {}", program,
                  server_url, result.error().message);
  }
  if (result->exit_code != 0) {
    std::string said = trim(result->out + "\n" + result->err);
    // docker-credential-helpers' ErrCredentialsNotFound text; Docker treats it as "no login".
    if (said.find("credentials not found") != std::string::npos) return Credentials{};
    return errorf(Errc::kFailedPrecondition, "credential helper {} (for {}) exited with {}: {}",
                  program, server_url, result->exit_code, excerpt(said, 200));
  }
  auto doc = nlohmann::json::parse(result->out, nullptr, /*allow_exceptions=*/false);
  auto text_of = [&](const char* key) -> std::string {
    auto it = doc.find(key);
    return (it != doc.end() && it->is_string()) ? it->get<std::string>() : std::string();
  };
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("Secret")) {
    return errorf(
        Errc::kFailedPrecondition,
        "credential helper {} (for {}) did not print {{\"Username\", \"Secret\"}} JSON: {}",
        program, server_url, excerpt(result->out));
  }
  Credentials creds;
  creds.source = program;
  std::string username = text_of("Username");
  std::string secret = text_of("Secret");
  if (username == "<token>") {
    creds.identity_token = secret;
  } else {
    creds.username = username;
    creds.password = secret;
  }
  return creds;
}

Result<Credentials> resolve_credentials(const DockerConfig& config, std::string_view registry) {
  std::string server_url = credential_server_url(registry);
  if (auto it = find_registry_key(config.cred_helpers, registry);
      it != config.cred_helpers.end() && !it->second.empty()) {
    return run_credential_helper(it->second, server_url);
  }
  if (!config.creds_store.empty()) return run_credential_helper(config.creds_store, server_url);
  if (auto it = find_registry_key(config.auths, registry); it != config.auths.end()) {
    Credentials creds;
    creds.username = it->second.username;
    creds.password = it->second.password;
    creds.identity_token = it->second.identity_token;
    if (!creds.anonymous()) creds.source = config.path.string();
    return creds;
  }
  return Credentials{};
}

Result<BearerToken> parse_token_response(std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return errorf(Errc::kInvalidArgument, "token response is not a JSON object: {}", excerpt(body));
  }
  BearerToken out;
  for (const char* key : {"token", "access_token"}) {
    auto it = doc.find(key);
    if (it != doc.end() && it->is_string() && !it->get<std::string>().empty()) {
      out.token = it->get<std::string>();
      break;
    }
  }
  if (out.token.empty()) {
    return errorf(Errc::kInvalidArgument, "token response has neither token nor access_token: {}",
                  excerpt(body));
  }
  if (auto it = doc.find("expires_in"); it != doc.end() && it->is_number()) {
    auto seconds = static_cast<std::int64_t>(it->get<double>());
    out.expires_in = std::chrono::seconds(std::max<std::int64_t>(seconds, 60));
  }
  return out;
}

std::optional<std::string> TokenCache::get(const std::string& registry, const std::string& scope,
                                           Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find({registry, scope});
  if (it == entries_.end()) return std::nullopt;
  // A token about to expire would die in flight; fetch a new one instead.
  if (it->second.expires - std::chrono::seconds(5) <= now) return std::nullopt;
  return it->second.authorization;
}

void TokenCache::put(const std::string& registry, const std::string& scope,
                     std::string authorization, Clock::time_point expires) {
  std::lock_guard lock(mutex_);
  entries_[{registry, scope}] = Entry{std::move(authorization), expires};
}

void TokenCache::invalidate(const std::string& registry, const std::string& scope,
                            const std::string& authorization) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find({registry, scope});
  if (it != entries_.end() && it->second.authorization == authorization) entries_.erase(it);
}

}  // namespace zlayer::image
