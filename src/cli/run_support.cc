#include "cli/run_support.h"

#include <fmt/format.h>

#include <cstdio>
#include <random>

namespace zlayer::cli {

int fail_run(const Error& e) {
  std::fprintf(stderr, "zlayer-agent: %s\n", e.message.c_str());
  return kAgentFailed;
}

Result<ContainerId> container_id_for(const std::string& name) {
  if (!name.empty()) {
    if (name.find("-rep-") != std::string::npos) return ContainerId::parse(name);
    ZLAYER_CHECK(ContainerId::validate_service_name(name));
    return ContainerId{name, 1};
  }
  std::random_device random;
  return ContainerId{fmt::format("run-{:08x}", random()), 1};
}

}  // namespace zlayer::cli
