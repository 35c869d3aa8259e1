// Reading and writing deployment specs: YAML (upstream ZLayer `zlayer-spec` v1,
// ../shared/reference/spec-schema.md) → spec::DeploymentSpec with every problem reported at once,
// and back to YAML. Unknown keys are errors except inside free-form maps (env, labels, sysctls,
// node_selector labels, init `with`). docs/spec.md lists the rules and our extensions.
// Pure functions; thread-safe.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "spec/spec.h"

namespace zlayer::spec {

// One problem (or warning) with the dotted path of the field it concerns, e.g.
// {"services.api.resources.memory", "\"512MB\" is not a quantity like 512Mi"}. The path is empty
// for problems with the whole document (YAML syntax).
struct Diagnostic {
  std::string path;
  std::string message;
  int line = 0;  // 1-based line in the YAML text, 0 when unknown (cross-field checks)

  // "path: message" (or just the message when the path is empty).
  [[nodiscard]] std::string str() const;
  bool operator==(const Diagnostic&) const = default;
};

// Everything known about one spec text: the spec when it is valid, else every error; warnings
// (cluster-only or other-platform fields the single-node agent ignores, one per field) either way.
struct SpecReport {
  std::optional<DeploymentSpec> spec;  // set iff errors is empty
  std::vector<Diagnostic> errors;      // in document order, then cross-field checks
  std::vector<Diagnostic> warnings;

  [[nodiscard]] bool ok() const { return errors.empty(); }
};

// A valid spec and its warnings.
struct LoadedSpec {
  DeploymentSpec spec;
  std::vector<Diagnostic> warnings;
};

// Parses and validates `yaml` (structure, types, value rules and the cross-field checks of
// validate_spec()). Never fails as a function: every problem lands in the report.
[[nodiscard]] SpecReport check_spec(std::string_view yaml);

// check_spec(), then: errors → kInvalidArgument whose message is every Diagnostic::str(), one
// per line (prefixed with `source` and a summary line when `source` is non-empty).
[[nodiscard]] Result<LoadedSpec> parse_spec(std::string_view yaml, std::string_view source = {});

// Reads `path` and parses it (source = the path). Errors: as read_file (kNotFound, …) and
// parse_spec.
[[nodiscard]] Result<LoadedSpec> load_spec_file(const std::filesystem::path& path);

// Cross-field validation of an already parsed spec: unknown dependencies, dependency cycles
// (named, e.g. "a -> b -> a"), duplicate endpoint names and host ports, cron schedule ⇔ rtype,
// wasm config rules, replica-group roles. Returns every problem found (empty = valid).
[[nodiscard]] std::vector<Diagnostic> validate_spec(const DeploymentSpec& spec);

// The spec as YAML in upstream's format; fields equal to their default are left out, so
// check_spec(emit_spec(s)).spec == s for every valid s.
[[nodiscard]] std::string emit_spec(const DeploymentSpec& spec);

// Formats a duration the way parse_duration reads it back, shortest exact form: "30s", "1h30m",
// "1.5s", "500ms", "0s".
[[nodiscard]] std::string format_duration(Duration duration);

// Service names in start order: every service after the services it `depends` on; services
// without an order between them are sorted by name. Shutdown order is the reverse.
// Errors: kInvalidArgument naming an unknown dependency or a cycle ("a -> b -> a").
[[nodiscard]] Result<std::vector<std::string>> start_order(const DeploymentSpec& spec);

}  // namespace zlayer::spec
