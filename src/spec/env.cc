#include "spec/env.h"

#include <cstdlib>
#include <nlohmann/json.hpp>

namespace zlayer::spec {
namespace {

constexpr std::string_view kEnvPrefix = "$E:";
constexpr std::string_view kSecretPrefix = "$S:";

std::optional<std::string> process_getenv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (!value) return std::nullopt;
  return std::string(value);
}

Result<std::string> extract_field(const std::string& value, const std::string& secret,
                                  const std::string& field) {
  auto json = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return errorf(Errc::kInvalidArgument,
                  "secret \"{}\" is not JSON, so field \"{}\" cannot be read", secret, field);
  }
  if (!json.is_object() || !json.contains(field)) {
    return errorf(Errc::kNotFound, "field \"{}\" not found in secret \"{}\"", field, secret);
  }
  const auto& item = json[field];
  if (item.is_string()) return item.get<std::string>();
  if (item.is_null()) return std::string();
  return item.dump();
}

}  // namespace

Result<SecretRef> SecretRef::parse(std::string_view text) {
  auto invalid = [&] {
    return errorf(Errc::kInvalidArgument, "invalid secret reference syntax: \"$S:{}\"", text);
  };
  SecretRef ref;
  std::string_view rest = text;
  if (rest.starts_with("@")) {
    auto slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 1) return invalid();
    ref.service = std::string(rest.substr(1, slash - 1));
    rest.remove_prefix(slash + 1);
  } else if (auto colon = rest.find(':');
             colon != std::string_view::npos && colon < rest.find('/')) {
    // ":env/name" or "project:env/name": the environment part selects nothing on one node.
    auto slash = rest.find('/');
    if (slash == std::string_view::npos) return invalid();
    rest.remove_prefix(slash + 1);
  }
  auto slash = rest.find('/');
  ref.name = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) {
    ref.field = std::string(rest.substr(slash + 1));
    if (ref.field->empty()) return invalid();
  }
  if (!SecretStore::validate_name(ref.name)) return invalid();
  return ref;
}

std::vector<std::string> ResolvedEnv::key_values() const {
  std::vector<std::string> out;
  for (const auto& [key, value] : values) out.push_back(key + "=" + value);
  return out;
}

std::vector<std::string> ResolvedEnv::redacted() const {
  std::vector<std::string> out;
  for (const auto& [key, value] : values) {
    out.push_back(key + "=" + (secret_keys.contains(key) ? std::string("<redacted>") : value));
  }
  return out;
}

Result<ResolvedEnv> resolve_env(const std::map<std::string, std::string>& env,
                                const EnvResolver& resolver) {
  ResolvedEnv resolved;
  std::vector<std::string> failures;
  auto getenv = resolver.getenv ? resolver.getenv : process_getenv;
  auto fail = [&](const std::string& key, std::string message) {
    failures.push_back(fmt::format("service {}: env {}: {}", resolver.service, key, message));
  };
  for (const auto& [key, value] : env) {
    if (value.starts_with(kEnvPrefix)) {
      std::string name = value.substr(kEnvPrefix.size());
      auto found = name.empty() ? std::nullopt : getenv(name);
      if (!found) {
        fail(key,
             fmt::format("environment variable \"{}\" referenced by {} is not set", name, value));
        continue;
      }
      if (found->empty()) {
        resolved.warnings.push_back(
            fmt::format("service {}: env {}: environment variable \"{}\" is set but empty",
                        resolver.service, key, name));
      }
      resolved.values[key] = *found;
    } else if (value.starts_with(kSecretPrefix)) {
      auto ref = SecretRef::parse(std::string_view(value).substr(kSecretPrefix.size()));
      if (!ref) {
        fail(key, ref.error().message);
        continue;
      }
      if (!resolver.secrets) {
        fail(key, fmt::format("secret \"{}\" cannot be read: no secret store", ref->name));
        continue;
      }
      Result<std::string> secret = errorf(Errc::kNotFound, "");
      if (!ref->service.empty()) {
        secret = resolver.secrets->get(SecretScope{resolver.deployment, ref->service}, ref->name);
      } else {
        secret = resolver.secrets->get(SecretScope{resolver.deployment, {}}, ref->name);
        if (!secret && secret.error().code == Errc::kNotFound) {
          secret = resolver.secrets->get(SecretScope{}, ref->name);
          if (!secret && secret.error().code == Errc::kNotFound) {
            secret = errorf(Errc::kNotFound,
                            "secret \"{}\" not found in deployment {} or the global scope (set "
                            "it with `zlayer-agent secret set --deployment {} {}`)",
                            ref->name, resolver.deployment, resolver.deployment, ref->name);
          }
        }
      }
      if (secret && ref->field) secret = extract_field(*secret, ref->name, *ref->field);
      if (!secret) {
        fail(key, secret.error().message);
        continue;
      }
      resolved.values[key] = *secret;
      resolved.secret_keys.insert(key);
    } else {
      resolved.values[key] = value;
    }
  }
  if (!failures.empty()) {
    std::string message;
    for (const auto& line : failures) message += (message.empty() ? "" : "\n") + line;
    return make_error(Errc::kInvalidArgument, std::move(message));
  }
  return resolved;
}

}  // namespace zlayer::spec
