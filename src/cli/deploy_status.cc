#include "cli/deploy_status.h"

#include <fmt/format.h>

#include "core/time_format.h"

namespace zlayer::cli {
namespace {

// Redraws are coalesced: a burst of events (a service of 50 replicas starting) draws once.
constexpr auto kRedrawDelay = std::chrono::milliseconds(100);
constexpr std::size_t kRecentEvents = 8;

std::string_view severity_tag(agent::Event::Severity severity) {
  switch (severity) {
    case agent::Event::Severity::kWarning:
      return "warning: ";
    case agent::Event::Severity::kError:
      return "error: ";
    case agent::Event::Severity::kInfo:
      break;
  }
  return "";
}

}  // namespace

std::string event_line(const agent::Event& event) {
  // Seconds are enough for people; the nanoseconds stay in state.db.
  std::string time = format_rfc3339_nano(event.time);
  if (auto dot = time.find('.'); dot != std::string::npos) time = time.substr(0, dot) + "Z";
  // Replica messages name the replica and its state already ("web-rep-1 running (healthy): …").
  if (event.replica) {
    return fmt::format("{} {}{}", time, severity_tag(event.severity), event.message);
  }
  const std::string& subject = event.service.empty() ? event.deployment : event.service;
  return fmt::format("{} {}: {}{}", time, subject, severity_tag(event.severity), event.message);
}

DeployStatus::DeployStatus(agent::EventLoop& loop, const agent::ServiceManager& manager,
                           std::FILE* out, bool table)
    : loop_(loop), manager_(manager), out_(out), table_(table) {}

void DeployStatus::on_event(const agent::Event& event) {
  std::string line = event_line(event);
  if (!table_) {
    std::fprintf(out_, "%s\n", line.c_str());
    std::fflush(out_);
    return;
  }
  recent_.push_back(std::move(line));
  while (recent_.size() > kRecentEvents) recent_.pop_front();
  if (redraw_pending_) return;
  redraw_pending_ = true;
  loop_.schedule_after(kRedrawDelay, [this] {
    redraw_pending_ = false;
    redraw();
  });
}

void DeployStatus::redraw() {
  if (!table_) return;
  std::string screen = "\x1b[H\x1b[2J";  // home + clear, as `watch` does
  screen += fmt::format("deployment {}{}  (Ctrl-C stops and removes every replica)\n\n",
                        manager_.deployment(), manager_.shutting_down() ? " — stopping" : "");
  screen += fmt::format("{:<20} {:<8} {:<8} {:<19} {:<10} {:>8}  {}\n", "SERVICE", "REPLICA",
                        "BACKEND", "STATE", "HEALTH", "RESTARTS", "ADDRESS");
  for (const auto& r : manager_.replicas()) {
    std::string state(agent::replica_state_name(r.state));
    if (r.state == agent::ReplicaState::kCrashLoopBackoff && r.last_exit) {
      state += fmt::format(" ({})", r.last_exit->exit_code);
    }
    screen += fmt::format("{:<20} {:<8} {:<8} {:<19} {:<10} {:>8}  {}\n", r.id.service,
                          r.id.replica, r.backend, state, agent::health_name(r.health),
                          r.restart_count, r.address.empty() ? "-" : r.address);
  }
  for (const auto& s : manager_.services()) {
    if (s.phase == agent::ServiceStatus::Phase::kActive) continue;
    screen += fmt::format("{:<20} {}{}\n", s.name, agent::service_phase_name(s.phase),
                          s.reason.empty() ? "" : ": " + s.reason);
  }
  screen += "\nevents:\n";
  for (const auto& line : recent_) screen += "  " + line + "\n";
  std::fwrite(screen.data(), 1, screen.size(), out_);
  std::fflush(out_);
}

}  // namespace zlayer::cli
