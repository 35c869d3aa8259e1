#include "runtime/runtime.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <csignal>
#include <utility>

namespace zlayer::runtime {
namespace {

constexpr std::array<std::pair<int, std::string_view>, 31> kSignals{{
    {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},       {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
    {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"},     {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
    {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"},     {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
    {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"},     {SIGTERM, "SIGTERM"}, {SIGSTKFLT, "SIGSTKFLT"},
    {SIGCHLD, "SIGCHLD"}, {SIGCONT, "SIGCONT"},     {SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"},
    {SIGTTIN, "SIGTTIN"}, {SIGTTOU, "SIGTTOU"},     {SIGURG, "SIGURG"},   {SIGXCPU, "SIGXCPU"},
    {SIGXFSZ, "SIGXFSZ"}, {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"}, {SIGWINCH, "SIGWINCH"},
    {SIGIO, "SIGIO"},     {SIGPWR, "SIGPWR"},       {SIGSYS, "SIGSYS"},
}};

}  // namespace

std::string signal_name(int signal) {
  for (const auto& [number, name] : kSignals) {
    if (number == signal) return std::string(name);
  }
  return fmt::format("SIG{}", signal);
}

Result<int> parse_signal(std::string_view text) {
  int number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (!text.empty() && ec == std::errc() && ptr == text.data() + text.size()) {
    if (number > 0 && number < 65) return number;
    return errorf(Errc::kInvalidArgument, "signal \"{}\" is not between 1 and 64", text);
  }
  std::string upper(text);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (!upper.starts_with("SIG")) upper = "SIG" + upper;
  for (const auto& [n, name] : kSignals) {
    if (name == upper) return n;
  }
  return errorf(Errc::kInvalidArgument,
                "signal \"{}\" is not a signal name like SIGTERM or a number", text);
}

std::string ExitStatus::describe() const {
  if (oom_killed) return fmt::format("OOM-killed (exit code {})", exit_code);
  if (signal != 0)
    return fmt::format("killed by {} (exit code {})", signal_name(signal), exit_code);
  return fmt::format("exit code {}", exit_code);
}

std::string_view ContainerState::phase_name() const {
  switch (phase) {
    case Phase::kPending:
      return "pending";
    case Phase::kCreated:
      return "created";
    case Phase::kInitializing:
      return "initializing";
    case Phase::kRunning:
      return "running";
    case Phase::kPaused:
      return "paused";
    case Phase::kStopping:
      return "stopping";
    case Phase::kExited:
      return "exited";
    case Phase::kFailed:
      return "failed";
  }
  return "unknown";
}

}  // namespace zlayer::runtime
