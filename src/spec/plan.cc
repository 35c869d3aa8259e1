#include "spec/plan.h"

#include <algorithm>

#include "spec/parse.h"

namespace zlayer::spec {

std::string_view to_string(Backend backend) {
  return backend == Backend::kWasm ? "wasm" : "container";
}

Backend guess_backend(const ServiceSpec& spec, std::string* reason) {
  auto say = [&](std::string text, Backend backend) {
    if (reason) *reason = std::move(text);
    return backend;
  };
  if (spec.is_wasm_type()) {
    return say(fmt::format("service_type {}", to_string(spec.service_type)), Backend::kWasm);
  }
  if (spec.wasm) return say("wasm block", Backend::kWasm);
  // WASM artifacts are usually published with "wasm" in the tag or repository name
  // (":wasm", "-wasm", ".wasm"); the pulled manifest's media type is what really decides.
  std::string reference = spec.image.name;
  std::transform(reference.begin(), reference.end(), reference.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (std::string_view hint : {":wasm", "-wasm", ".wasm", "/wasm", "_wasm", "wasm-", "wasm/"}) {
    if (reference.find(hint) != std::string::npos) {
      return say("image reference mentions wasm", Backend::kWasm);
    }
  }
  return say("image reference", Backend::kContainer);
}

Result<DeploymentPlan> plan_deployment(const DeploymentSpec& spec) {
  ZLAYER_TRY(order, start_order(spec));
  DeploymentPlan plan{spec.deployment, {}};
  for (const auto& name : order) {
    const ServiceSpec& service = spec.services.at(name);
    ServicePlan entry{name, &service, service.initial_replicas(), Backend::kContainer, {}};
    entry.backend = guess_backend(service, &entry.backend_reason);
    plan.services.push_back(std::move(entry));
  }
  return plan;
}

}  // namespace zlayer::spec
