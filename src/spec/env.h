// Resolution of a service's `env` (spec-schema.md §8): values starting with `$E:` come from the
// agent's own environment, values starting with `$S:` from the SecretStore; everything else is
// literal (no ${VAR} interpolation; "x$E:Y" is literal). The result says which keys hold secret
// values so callers can redact them in logs and `inspect`. Pure apart from the reads; thread-safe
// when the getenv function is.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "spec/secret_store.h"

namespace zlayer::spec {

// A parsed `$S:` reference.
struct SecretRef {
  std::string name;
  std::string service;               // set for $S:@service/name
  std::optional<std::string> field;  // $S:name/field: a JSON field of the secret's value

  // Parses the text after "$S:": name[/field], @service/name[/field], :env/name[/field] and
  // project:env/name[/field] (the last two read the deployment scope, as upstream's agent).
  // Errors: kInvalidArgument ("invalid secret reference syntax: …").
  static Result<SecretRef> parse(std::string_view text);
};

struct EnvResolver {
  std::string deployment;                // scope of $S:name
  std::string service;                   // named in errors
  const SecretStore* secrets = nullptr;  // null: any $S: reference is an error
  // Reads the agent's environment; defaults to ::getenv.
  std::function<std::optional<std::string>(const std::string&)> getenv;
};

struct ResolvedEnv {
  std::map<std::string, std::string> values;  // KEY → resolved value
  std::set<std::string> secret_keys;          // keys whose value came from $S:
  std::vector<std::string> warnings;          // e.g. "$E:X is set but empty"

  // "KEY=VALUE" in key order, for runtime::ContainerConfig::env.
  [[nodiscard]] std::vector<std::string> key_values() const;
  // The same with secret values replaced by "<redacted>", for logs and inspect output.
  [[nodiscard]] std::vector<std::string> redacted() const;
};

// Resolves every value of `env`. A secret is looked up in the deployment's scope, then the global
// scope; `$S:@service/name` in that service's scope only. Field extraction: string → as is,
// number/bool → JSON text, null → "", array/object → JSON text.
// Errors: kInvalidArgument listing every failure, one per line, each naming the service and key
// ("service web: env DATABASE_URL: environment variable \"DATABASE_URL\" referenced by
// $E:DATABASE_URL is not set"; "…: secret \"api-key\" not found in deployment demo or the
// global scope"; "…: secret \"cfg\" is not JSON, so field \"x\" cannot be read"). Messages never
// contain a secret's value.
[[nodiscard]] Result<ResolvedEnv> resolve_env(const std::map<std::string, std::string>& env,
                                              const EnvResolver& resolver);

}  // namespace zlayer::spec
