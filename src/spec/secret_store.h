// The agent's secret store: one file per secret under $ZLAYER_ROOT_DIR/secrets (directories
// 0700, files 0600, written atomically: temp + fsync + rename), in three scopes — global,
// a deployment, or one service of a deployment (upstream's `{deployment}` and
// `{deployment}/{service}` scopes, spec-schema.md §8). Values are never logged; list() returns
// names only. Safe to use from several processes (each write is one rename).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace zlayer::spec {

// Empty deployment = global; a service needs a deployment.
struct SecretScope {
  std::string deployment;
  std::string service;

  // "global", "deployment demo" or "service demo/web", for messages.
  [[nodiscard]] std::string str() const;
  bool operator==(const SecretScope&) const = default;
};

struct SecretEntry {
  SecretScope scope;
  std::string name;
};

class SecretStore {
 public:
  // `root_dir` is $ZLAYER_ROOT_DIR (Paths::root_dir); secrets live in root_dir/secrets.
  explicit SecretStore(std::filesystem::path root_dir);

  // Creates or replaces secret `name` in `scope` with `value` (bytes, any content).
  // Names: a letter, then letters, digits, '-' or '_' (upstream validate_secret_reference).
  // Errors: kInvalidArgument (bad name, deployment or service name; service without
  // deployment), errno-mapped write errors.
  Status set(const SecretScope& scope, std::string_view name, std::string_view value);

  // The value of `name` in exactly `scope`. Errors: kNotFound ("secret \"x\" not found in
  // deployment demo"), kInvalidArgument (bad name), errno-mapped read errors.
  [[nodiscard]] Result<std::string> get(const SecretScope& scope, std::string_view name) const;

  // Deletes `name` from `scope`. Errors: kNotFound, kInvalidArgument, errno-mapped.
  Status remove(const SecretScope& scope, std::string_view name);

  // Every secret (names and scopes, no values), sorted by scope then name. With `only` set,
  // just that scope. Errors: errno-mapped directory read errors.
  [[nodiscard]] Result<std::vector<SecretEntry>> list(const SecretScope* only = nullptr) const;

  // Checks a secret name ([A-Za-z][A-Za-z0-9_-]*, at most 253 characters).
  static Status validate_name(std::string_view name);

 private:
  [[nodiscard]] Result<std::filesystem::path> scope_dir(const SecretScope& scope) const;

  std::filesystem::path dir_;
};

}  // namespace zlayer::spec
