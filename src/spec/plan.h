// What `deploy` would do with a valid spec, without doing it: services in start order with their
// replica counts, the backend each would run on and the endpoints published. Used by
// `zlayer-agent deploy --dry-run` and as the ServiceManager's starting point. Pure; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "core/error.h"
#include "spec/spec.h"

namespace zlayer::spec {

enum class Backend { kContainer, kWasm };

struct ServicePlan {
  std::string name;
  const ServiceSpec* spec = nullptr;  // points into the DeploymentSpec given to plan_deployment
  std::uint32_t replicas = 0;         // started by deploy; 0 for job and cron services
  Backend backend = Backend::kContainer;
  // Why that backend: the service type, a `wasm` block, or a hint in the image reference. A
  // guess from the spec alone — the pulled image's media type decides at deploy time.
  std::string backend_reason;
};

struct DeploymentPlan {
  std::string deployment;
  std::vector<ServicePlan> services;  // start order (spec/parse.h start_order); stop = reverse
};

// Guesses the backend of one service from its spec (see ServicePlan::backend_reason).
[[nodiscard]] Backend guess_backend(const ServiceSpec& spec, std::string* reason = nullptr);

// Builds the plan of a valid spec. Errors: kInvalidArgument when the dependencies are broken
// (unknown service, cycle) — check_spec() reports those first.
[[nodiscard]] Result<DeploymentPlan> plan_deployment(const DeploymentSpec& spec);

std::string_view to_string(Backend backend);

}  // namespace zlayer::spec
