#include "runtime/runtime.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <csignal>
#include <utility>

namespace zlayer::runtime {
namespace {

// Standard signal names; real-time signals are named SIGRTMIN+n.
constexpr std::array<std::pair<int, std::string_view>, 32> kSignals{{
    {SIGHUP, "SIGHUP"},       {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},     {SIGILL, "SIGILL"},
    {SIGTRAP, "SIGTRAP"},     {SIGABRT, "SIGABRT"}, {SIGIOT, "SIGIOT"},       {SIGBUS, "SIGBUS"},
    {SIGFPE, "SIGFPE"},       {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"},     {SIGSEGV, "SIGSEGV"},
    {SIGUSR2, "SIGUSR2"},     {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"},     {SIGTERM, "SIGTERM"},
    {SIGSTKFLT, "SIGSTKFLT"}, {SIGCHLD, "SIGCHLD"}, {SIGCONT, "SIGCONT"},     {SIGSTOP, "SIGSTOP"},
    {SIGTSTP, "SIGTSTP"},     {SIGTTIN, "SIGTTIN"}, {SIGTTOU, "SIGTTOU"},     {SIGURG, "SIGURG"},
    {SIGXCPU, "SIGXCPU"},     {SIGXFSZ, "SIGXFSZ"}, {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"},
    {SIGWINCH, "SIGWINCH"},   {SIGIO, "SIGIO"},     {SIGPWR, "SIGPWR"},       {SIGSYS, "SIGSYS"},
}};

bool parse_int(std::string_view text, int& value) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string signal_name(int signal) {
  for (const auto& [number, name] : kSignals) {
    // SIGIOT is SIGABRT's alias; the table lists SIGABRT first.
    if (number == signal) return std::string(name);
  }
  if (signal >= SIGRTMIN && signal <= SIGRTMAX)
    return fmt::format("SIGRTMIN+{}", signal - SIGRTMIN);
  return fmt::format("SIG{}", signal);
}

Result<int> parse_signal(std::string_view text) {
  auto bad = [&] {
    return errorf(Errc::kInvalidArgument,
                  "signal \"{}\" is not a signal name (SIGTERM, TERM) or number (1-{})", text,
                  SIGRTMAX);
  };
  int number = 0;
  if (parse_int(text, number)) {
    if (number < 1 || number > SIGRTMAX) return bad();
    return number;
  }
  std::string name(text);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (!name.starts_with("SIG")) name = "SIG" + name;
  for (const auto& [n, known] : kSignals) {
    if (known == name) return n;
  }
  if (name == "SIGRTMIN") return SIGRTMIN;
  if (name == "SIGRTMAX") return SIGRTMAX;
  for (std::string_view base : {"SIGRTMIN+", "SIGRTMAX-"}) {
    int offset = 0;
    if (name.starts_with(base) && parse_int(std::string_view(name).substr(base.size()), offset)) {
      int value = base == "SIGRTMIN+" ? SIGRTMIN + offset : SIGRTMAX - offset;
      if (value >= SIGRTMIN && value <= SIGRTMAX) return value;
    }
  }
  return bad();
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
