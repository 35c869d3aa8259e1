// Internal to spec/: value rules of single fields and the warnings for fields the single-node
// agent keeps but ignores. check_spec() runs them after the YAML structure has been read.
#pragma once

#include <vector>

#include "spec/parse.h"

namespace zlayer::spec::detail {

// Appends one Diagnostic per broken value rule to `errors` and one per cluster-only or
// other-platform field that is set (non-default) to `warnings`.
void check_values(const DeploymentSpec& spec, std::vector<Diagnostic>& errors,
                  std::vector<Diagnostic>& warnings);

}  // namespace zlayer::spec::detail
