#include "spec/spec.h"

#include <algorithm>
#include <numeric>

#include "spec/enum_names.h"

namespace zlayer::spec {

std::string_view to_string(ResourceType v) { return detail::enum_name(v); }
std::string_view to_string(PullPolicy v) { return detail::enum_name(v); }
std::string_view to_string(SourcePolicy v) { return detail::enum_name(v); }
std::string_view to_string(EndpointProtocol v) { return detail::enum_name(v); }
std::string_view to_string(ExposeType v) { return detail::enum_name(v); }
std::string_view to_string(TransportProtocol v) { return detail::enum_name(v); }
std::string_view to_string(ScaleMode v) { return detail::enum_name(v); }
std::string_view to_string(DependencyCondition v) { return detail::enum_name(v); }
std::string_view to_string(TimeoutAction v) { return detail::enum_name(v); }
std::string_view to_string(InitFailureAction v) { return detail::enum_name(v); }
std::string_view to_string(PanicAction v) { return detail::enum_name(v); }
std::string_view to_string(RestartPolicyKind v) { return detail::enum_name(v); }
std::string_view to_string(Isolation v) { return detail::enum_name(v); }
std::string_view to_string(NodeMode v) { return detail::enum_name(v); }
std::string_view to_string(AffinityKind v) { return detail::enum_name(v); }
std::string_view to_string(PlatformOs v) { return detail::enum_name(v); }
std::string_view to_string(PlatformArch v) { return detail::enum_name(v); }
std::string_view to_string(ServiceType v) { return detail::enum_name(v); }
std::string_view to_string(StorageTier v) { return detail::enum_name(v); }
std::string_view to_string(JoinMode v) { return detail::enum_name(v); }
std::string_view to_string(JoinScope v) { return detail::enum_name(v); }
std::string_view to_string(OverlayMode v) { return detail::enum_name(v); }
std::string_view to_string(LocalhostReachability v) { return detail::enum_name(v); }
std::string_view to_string(GpuMode v) { return detail::enum_name(v); }
std::string_view to_string(GpuScheduling v) { return detail::enum_name(v); }
std::string_view to_string(GpuSharing v) { return detail::enum_name(v); }
std::string_view to_string(NetworkModeKind v) { return detail::enum_name(v); }

std::uint32_t ScaleSpec::initial_replicas() const {
  switch (mode) {
    case ScaleMode::kFixed:
      return replicas;
    case ScaleMode::kAdaptive:
      return min;
    case ScaleMode::kManual:
      break;
  }
  return 1;
}

bool ServiceSpec::is_single_member() const {
  if (replica_groups) {
    std::uint64_t total = 0;
    for (const auto& group : *replica_groups) total += group.count;
    return replica_groups->size() <= 1 && total <= 1;
  }
  switch (scale.mode) {
    case ScaleMode::kFixed:
      return scale.replicas <= 1;
    case ScaleMode::kAdaptive:
      return scale.max <= 1;
    case ScaleMode::kManual:
      break;
  }
  return true;
}

std::uint32_t ServiceSpec::initial_replicas() const {
  if (rtype != ResourceType::kService) return 0;
  if (replica_groups) {
    std::uint32_t total = 0;
    for (const auto& group : *replica_groups) total += group.count;
    return total;
  }
  return scale.initial_replicas();
}

}  // namespace zlayer::spec
