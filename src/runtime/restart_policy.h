// A container's own restart policy, Docker's `--restart` (`HostConfig.RestartPolicy`): which exits
// restart the container and how long to wait before each restart. Used for standalone containers
// (`zlayer-agent run --restart`), where the per-container monitor applies it; deployments leave it
// `no` and their supervisor restarts replicas. Values and pure functions only; thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/error.h"

namespace zlayer::runtime {

struct RestartPolicy {
  enum class Kind {
    kNo,             // never restart (Docker's default)
    kAlways,         // restart after every exit not requested by the user
    kOnFailure,      // restart after a non-zero exit code (signals and OOM kills included)
    kUnlessStopped,  // like kAlways; differs from it only across a daemon restart, which a
                     // standalone container does not have
  };
  Kind kind = Kind::kNo;
  // kOnFailure only: the most restarts after failures; 0 = unlimited (Docker's `on-failure`).
  int max_retries = 0;

  bool operator==(const RestartPolicy&) const = default;
};

// Parses Docker's syntax: "no", "always", "unless-stopped", "on-failure", "on-failure:N" (N ≥ 0).
// Errors: kInvalidArgument quoting `text` and listing the accepted forms.
[[nodiscard]] Result<RestartPolicy> parse_restart_policy(std::string_view text);
// The inverse: "no", "always", "unless-stopped", "on-failure", "on-failure:3".
[[nodiscard]] std::string format_restart_policy(const RestartPolicy& policy);

// Whether an exit with `exit_code` (128+n for signal n) is restarted, given that `restarts`
// restarts have happened so far. `stopped_by_user`: the user asked for the container to stop
// (stop, kill, rm) — never restarted, whatever the policy (Docker's "manually stopped").
[[nodiscard]] bool should_restart(const RestartPolicy& policy, int exit_code, int restarts,
                                  bool stopped_by_user);

// Docker's restart delay (daemon/restartmanager): 100 ms before the first restart, doubling for
// each further one up to a cap of 1 min; a run that lasted at least 10 s resets it to 100 ms.
class RestartBackoff {
 public:
  static constexpr std::chrono::milliseconds kInitial{100};
  static constexpr std::chrono::milliseconds kMax{60'000};
  static constexpr std::chrono::milliseconds kResetAfter{10'000};

  // The delay to wait before restarting a container whose last run lasted `ran_for`.
  [[nodiscard]] std::chrono::milliseconds next(std::chrono::milliseconds ran_for);

 private:
  std::chrono::milliseconds current_{0};
};

}  // namespace zlayer::runtime
