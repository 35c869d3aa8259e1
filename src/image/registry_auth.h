// Authentication pieces of the registry client, each testable alone: WWW-Authenticate challenge
// parsing (RFC 7235), the Docker config file (auths, credHelpers, credsStore), credential-helper
// invocation (docker-credential-helpers protocol), token-server responses (distribution "token"
// auth spec) and a thread-safe cache of Authorization headers per registry and scope.
// Free functions are pure or blocking-on-a-child-process; TokenCache may be shared by any threads.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace zlayer::image {

// One challenge of a WWW-Authenticate header: `Bearer realm="https://auth",service="reg"`.
struct AuthChallenge {
  std::string scheme;                         // lower-cased: "basic", "bearer"
  std::map<std::string, std::string> params;  // keys lower-cased, values unquoted/unescaped
  std::string token68;                        // a bare token68 instead of params (rare)

  // The parameter's value, or "" when absent.
  [[nodiscard]] std::string param(std::string_view key) const;
};

// Parses a WWW-Authenticate value into its challenges (RFC 7235 §4.1 / RFC 9110 §11.6.1): several
// comma-separated challenges, each `scheme [token68 | param=value, ...]`, values as tokens or
// quoted strings (which may contain commas and backslash escapes).
// Errors: kInvalidArgument quoting the header when it is empty or malformed (unterminated quote,
// a parameter without a name).
Result<std::vector<AuthChallenge>> parse_www_authenticate(std::string_view value);

// Credentials for one registry. All empty = anonymous.
struct Credentials {
  std::string username;
  std::string password;
  // An OAuth2 refresh token (Docker's "identitytoken", or a helper's username "<token>"): traded
  // at the token server with grant_type=refresh_token instead of Basic username/password.
  std::string identity_token;
  // Where these came from, for error messages: "/root/.docker/config.json",
  // "docker-credential-pass", or "" when anonymous.
  std::string source;

  [[nodiscard]] bool anonymous() const {
    return username.empty() && password.empty() && identity_token.empty();
  }
};

// The parts of Docker's config.json (docker/cli configfile) that matter for pulls.
struct DockerConfig {
  struct AuthEntry {
    std::string username;
    std::string password;
    std::string identity_token;
  };
  std::filesystem::path path;                       // file it was read from ("" if none)
  std::map<std::string, AuthEntry> auths;           // keys exactly as in the file
  std::map<std::string, std::string> cred_helpers;  // registry key → helper suffix
  std::string creds_store;                          // default helper suffix ("" = none)
};

// Parses config.json text; `path` is only used in messages. `auth` is base64("user:password")
// (split at the first ':'); explicit username/password fields win over it.
// Errors: kInvalidArgument naming the file and the field (bad JSON, bad base64, auth without ':').
Result<DockerConfig> parse_docker_config(std::string_view json, const std::filesystem::path& path);
// Reads and parses `path`; a missing file (or an empty path) is an empty config, as for Docker.
// Errors: as parse_docker_config; errno-mapped when the file exists but cannot be read.
Result<DockerConfig> load_docker_config(const std::filesystem::path& path);

// The registry host that a config key names, as docker/cli's ConvertToHostname does, with the
// Docker Hub aliases folded into "docker.io": "https://index.docker.io/v1/" → "docker.io",
// "https://ghcr.io/v2/" → "ghcr.io", "127.0.0.1:5000" → "127.0.0.1:5000".
std::string registry_key_host(std::string_view key);

// The server URL Docker hands to credential helpers for `registry` (a Reference::registry):
// "https://index.docker.io/v1/" for docker.io, else the registry itself.
std::string credential_server_url(std::string_view registry);

// Runs `docker-credential-<helper> get` with `server_url` on stdin (docker-credential-helpers
// protocol) and reads `{"Username": ..., "Secret": ...}`; Username "<token>" makes Secret an
// identity token. A helper that answers "credentials not found" yields anonymous credentials.
// Errors: kFailedPrecondition naming the helper and server when it is missing, fails otherwise,
// or prints something that is not the expected JSON.
Result<Credentials> run_credential_helper(std::string_view helper, std::string_view server_url);

// Credentials for `registry` the way docker/cli resolves them: credHelpers[registry] if set, else
// credsStore if set (a helper's "not found" means anonymous; auths entries are then ignored, as
// Docker's native store overrides them), else the auths entry whose key names the registry
// (exact key first, then any key whose registry_key_host matches), else anonymous.
// Errors: those of run_credential_helper.
Result<Credentials> resolve_credentials(const DockerConfig& config, std::string_view registry);

// "Basic base64(username:password)" (RFC 7617).
std::string basic_authorization(std::string_view username, std::string_view password);

// Standard base64 (RFC 4648 §4) with padding; decode accepts surrounding whitespace.
std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);

// A bearer token from the token server.
struct BearerToken {
  std::string token;
  std::chrono::seconds expires_in{60};
};

// Parses a token-server response (distribution docs/spec/auth/token.md): `token` or
// `access_token` (either; `token` wins), `expires_in` in seconds (default and minimum 60, as the
// spec says). Errors: kInvalidArgument when the body is not JSON or has no token; the message
// carries a short snippet of the body.
Result<BearerToken> parse_token_response(std::string_view body);

// Authorization header values ("Bearer …", "Basic …") per (registry, scope), with expiry.
// Thread-safe.
class TokenCache {
 public:
  using Clock = std::chrono::steady_clock;

  // The cached value, or nullopt when absent or expiring within 5 s of `now`.
  std::optional<std::string> get(const std::string& registry, const std::string& scope,
                                 Clock::time_point now = Clock::now()) const;
  void put(const std::string& registry, const std::string& scope, std::string authorization,
           Clock::time_point expires);
  // Drops the entry if it still holds `authorization` (another thread may have refreshed it).
  void invalidate(const std::string& registry, const std::string& scope,
                  const std::string& authorization);

 private:
  struct Entry {
    std::string authorization;
    Clock::time_point expires;
  };
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, Entry> entries_;
};

}  // namespace zlayer::image
