#include "runtime/restart_policy.h"

#include <charconv>

namespace zlayer::runtime {

Result<RestartPolicy> parse_restart_policy(std::string_view text) {
  auto bad = [&] {
    return errorf(Errc::kInvalidArgument,
                  "restart policy \"{}\": expected no, always, unless-stopped, on-failure or "
                  "on-failure:N",
                  text);
  };
  if (text == "no") return RestartPolicy{};
  if (text == "always") return RestartPolicy{RestartPolicy::Kind::kAlways, 0};
  if (text == "unless-stopped") return RestartPolicy{RestartPolicy::Kind::kUnlessStopped, 0};
  constexpr std::string_view kOnFailure = "on-failure";
  if (text.substr(0, kOnFailure.size()) != kOnFailure) return bad();
  std::string_view rest = text.substr(kOnFailure.size());
  RestartPolicy policy{RestartPolicy::Kind::kOnFailure, 0};
  if (rest.empty()) return policy;
  if (rest.front() != ':' || rest.size() == 1) return bad();
  rest.remove_prefix(1);
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), policy.max_retries);
  if (ec != std::errc() || end != rest.data() + rest.size() || policy.max_retries < 0) {
    return bad();
  }
  return policy;
}

std::string format_restart_policy(const RestartPolicy& policy) {
  switch (policy.kind) {
    case RestartPolicy::Kind::kNo:
      return "no";
    case RestartPolicy::Kind::kAlways:
      return "always";
    case RestartPolicy::Kind::kUnlessStopped:
      return "unless-stopped";
    case RestartPolicy::Kind::kOnFailure:
      return policy.max_retries > 0 ? "on-failure:" + std::to_string(policy.max_retries)
                                    : "on-failure";
  }
  return "no";
}

bool should_restart(const RestartPolicy& policy, int exit_code, int restarts,
                    bool stopped_by_user) {
  if (stopped_by_user) return false;
  switch (policy.kind) {
    case RestartPolicy::Kind::kNo:
      return false;
    case RestartPolicy::Kind::kAlways:
    case RestartPolicy::Kind::kUnlessStopped:
      return true;
    case RestartPolicy::Kind::kOnFailure:
      return exit_code != 0 && (policy.max_retries == 0 || restarts < policy.max_retries);
  }
  return false;
}

std::chrono::milliseconds RestartBackoff::next(std::chrono::milliseconds ran_for) {
  if (ran_for >= kResetAfter || current_.count() == 0) {
    current_ = kInitial;
  } else {
    current_ = std::min(current_ * 2, kMax);
  }
  return current_;
}

}  // namespace zlayer::runtime
