// Internal to spec/: the YAML spelling of every enum of spec.h, one table each, shared by
// to_string() and the parser so a spelling is written once.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "spec/spec.h"

namespace zlayer::spec::detail {

template <class E>
struct EnumNames;

template <>
struct EnumNames<ResourceType> {
  static constexpr std::array kNames{std::pair{ResourceType::kService, std::string_view("service")},
                                     std::pair{ResourceType::kJob, std::string_view("job")},
                                     std::pair{ResourceType::kCron, std::string_view("cron")}};
};

template <>
struct EnumNames<PullPolicy> {
  static constexpr std::array kNames{
      std::pair{PullPolicy::kAlways, std::string_view("always")},
      std::pair{PullPolicy::kNewer, std::string_view("newer")},
      std::pair{PullPolicy::kIfNotPresent, std::string_view("if_not_present")},
      std::pair{PullPolicy::kNever, std::string_view("never")}};
};

template <>
struct EnumNames<SourcePolicy> {
  static constexpr std::array kNames{
      std::pair{SourcePolicy::kLocalFirst, std::string_view("local_first")},
      std::pair{SourcePolicy::kS3First, std::string_view("s3_first")},
      std::pair{SourcePolicy::kRemoteOnly, std::string_view("remote_only")},
      std::pair{SourcePolicy::kLocalOnly, std::string_view("local_only")}};
};

template <>
struct EnumNames<EndpointProtocol> {
  static constexpr std::array kNames{
      std::pair{EndpointProtocol::kHttp, std::string_view("http")},
      std::pair{EndpointProtocol::kHttps, std::string_view("https")},
      std::pair{EndpointProtocol::kTcp, std::string_view("tcp")},
      std::pair{EndpointProtocol::kUdp, std::string_view("udp")},
      std::pair{EndpointProtocol::kWebsocket, std::string_view("websocket")}};
};

template <>
struct EnumNames<ExposeType> {
  static constexpr std::array kNames{
      std::pair{ExposeType::kPublic, std::string_view("public")},
      std::pair{ExposeType::kInternal, std::string_view("internal")}};
};

template <>
struct EnumNames<TransportProtocol> {
  static constexpr std::array kNames{std::pair{TransportProtocol::kTcp, std::string_view("tcp")},
                                     std::pair{TransportProtocol::kUdp, std::string_view("udp")}};
};

template <>
struct EnumNames<ScaleMode> {
  static constexpr std::array kNames{std::pair{ScaleMode::kAdaptive, std::string_view("adaptive")},
                                     std::pair{ScaleMode::kFixed, std::string_view("fixed")},
                                     std::pair{ScaleMode::kManual, std::string_view("manual")}};
};

template <>
struct EnumNames<DependencyCondition> {
  static constexpr std::array kNames{
      std::pair{DependencyCondition::kStarted, std::string_view("started")},
      std::pair{DependencyCondition::kHealthy, std::string_view("healthy")},
      std::pair{DependencyCondition::kReady, std::string_view("ready")}};
};

template <>
struct EnumNames<TimeoutAction> {
  static constexpr std::array kNames{
      std::pair{TimeoutAction::kFail, std::string_view("fail")},
      std::pair{TimeoutAction::kWarn, std::string_view("warn")},
      std::pair{TimeoutAction::kContinue, std::string_view("continue")}};
};

template <>
struct EnumNames<InitFailureAction> {
  static constexpr std::array kNames{
      std::pair{InitFailureAction::kFail, std::string_view("fail")},
      std::pair{InitFailureAction::kRestart, std::string_view("restart")},
      std::pair{InitFailureAction::kBackoff, std::string_view("backoff")}};
};

template <>
struct EnumNames<PanicAction> {
  static constexpr std::array kNames{
      std::pair{PanicAction::kRestart, std::string_view("restart")},
      std::pair{PanicAction::kShutdown, std::string_view("shutdown")},
      std::pair{PanicAction::kIsolate, std::string_view("isolate")}};
};

template <>
struct EnumNames<RestartPolicyKind> {
  static constexpr std::array kNames{
      std::pair{RestartPolicyKind::kNo, std::string_view("no")},
      std::pair{RestartPolicyKind::kAlways, std::string_view("always")},
      std::pair{RestartPolicyKind::kUnlessStopped, std::string_view("unless_stopped")},
      std::pair{RestartPolicyKind::kOnFailure, std::string_view("on_failure")}};
};

template <>
struct EnumNames<Isolation> {
  static constexpr std::array kNames{std::pair{Isolation::kAuto, std::string_view("auto")},
                                     std::pair{Isolation::kProcess, std::string_view("process")},
                                     std::pair{Isolation::kHyperv, std::string_view("hyperv")}};
};

template <>
struct EnumNames<NodeMode> {
  static constexpr std::array kNames{
      std::pair{NodeMode::kShared, std::string_view("shared")},
      std::pair{NodeMode::kDedicated, std::string_view("dedicated")},
      std::pair{NodeMode::kExclusive, std::string_view("exclusive")}};
};

template <>
struct EnumNames<AffinityKind> {
  static constexpr std::array kNames{std::pair{AffinityKind::kSpread, std::string_view("spread")},
                                     std::pair{AffinityKind::kPack, std::string_view("pack")},
                                     std::pair{AffinityKind::kPin, std::string_view("pin")}};
};

template <>
struct EnumNames<PlatformOs> {
  static constexpr std::array kNames{std::pair{PlatformOs::kLinux, std::string_view("linux")},
                                     std::pair{PlatformOs::kWindows, std::string_view("windows")},
                                     std::pair{PlatformOs::kMacos, std::string_view("macos")}};
};

template <>
struct EnumNames<PlatformArch> {
  static constexpr std::array kNames{std::pair{PlatformArch::kAmd64, std::string_view("amd64")},
                                     std::pair{PlatformArch::kArm64, std::string_view("arm64")}};
};

template <>
struct EnumNames<ServiceType> {
  static constexpr std::array kNames{
      std::pair{ServiceType::kStandard, std::string_view("standard")},
      std::pair{ServiceType::kWasmHttp, std::string_view("wasm_http")},
      std::pair{ServiceType::kWasmPlugin, std::string_view("wasm_plugin")},
      std::pair{ServiceType::kWasmTransformer, std::string_view("wasm_transformer")},
      std::pair{ServiceType::kWasmAuthenticator, std::string_view("wasm_authenticator")},
      std::pair{ServiceType::kWasmRateLimiter, std::string_view("wasm_rate_limiter")},
      std::pair{ServiceType::kWasmMiddleware, std::string_view("wasm_middleware")},
      std::pair{ServiceType::kWasmRouter, std::string_view("wasm_router")},
      std::pair{ServiceType::kJob, std::string_view("job")}};
};

template <>
struct EnumNames<StorageTier> {
  static constexpr std::array kNames{std::pair{StorageTier::kLocal, std::string_view("local")},
                                     std::pair{StorageTier::kCached, std::string_view("cached")},
                                     std::pair{StorageTier::kNetwork, std::string_view("network")}};
};

template <>
struct EnumNames<JoinMode> {
  static constexpr std::array kNames{std::pair{JoinMode::kOpen, std::string_view("open")},
                                     std::pair{JoinMode::kToken, std::string_view("token")},
                                     std::pair{JoinMode::kClosed, std::string_view("closed")}};
};

template <>
struct EnumNames<JoinScope> {
  static constexpr std::array kNames{std::pair{JoinScope::kService, std::string_view("service")},
                                     std::pair{JoinScope::kGlobal, std::string_view("global")}};
};

template <>
struct EnumNames<OverlayMode> {
  static constexpr std::array kNames{
      std::pair{OverlayMode::kAuto, std::string_view("auto")},
      std::pair{OverlayMode::kShared, std::string_view("shared")},
      std::pair{OverlayMode::kDedicated, std::string_view("dedicated")}};
};

template <>
struct EnumNames<LocalhostReachability> {
  static constexpr std::array kNames{
      std::pair{LocalhostReachability::kAuto, std::string_view("auto")},
      std::pair{LocalhostReachability::kAlways, std::string_view("always")},
      std::pair{LocalhostReachability::kNever, std::string_view("never")}};
};

template <>
struct EnumNames<GpuMode> {
  static constexpr std::array kNames{std::pair{GpuMode::kNative, std::string_view("native")},
                                     std::pair{GpuMode::kVm, std::string_view("vm")}};
};

template <>
struct EnumNames<GpuScheduling> {
  static constexpr std::array kNames{
      std::pair{GpuScheduling::kBestEffort, std::string_view("best-effort")},
      std::pair{GpuScheduling::kGang, std::string_view("gang")},
      std::pair{GpuScheduling::kSpread, std::string_view("spread")}};
};

template <>
struct EnumNames<GpuSharing> {
  static constexpr std::array kNames{
      std::pair{GpuSharing::kExclusive, std::string_view("exclusive")},
      std::pair{GpuSharing::kMps, std::string_view("mps")},
      std::pair{GpuSharing::kTimeSlice, std::string_view("time-slice")}};
};

template <>
struct EnumNames<NetworkModeKind> {
  static constexpr std::array kNames{
      std::pair{NetworkModeKind::kDefault, std::string_view("default")},
      std::pair{NetworkModeKind::kHost, std::string_view("host")},
      std::pair{NetworkModeKind::kNone, std::string_view("none")},
      std::pair{NetworkModeKind::kBridge, std::string_view("bridge")},
      std::pair{NetworkModeKind::kContainer, std::string_view("container")}};
};

// The enumerator spelled `text`, if any.
template <class E>
std::optional<E> enum_from_string(std::string_view text) {
  for (const auto& [value, name] : EnumNames<E>::kNames) {
    if (name == text) return value;
  }
  return std::nullopt;
}

// "a, b or c": the accepted spellings, for error messages.
template <class E>
std::string enum_choices() {
  std::string out;
  const auto& names = EnumNames<E>::kNames;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i].second;
  }
  return out;
}

template <class E>
std::string_view enum_name(E value) {
  for (const auto& [v, name] : EnumNames<E>::kNames) {
    if (v == value) return name;
  }
  return "?";
}

}  // namespace zlayer::spec::detail
