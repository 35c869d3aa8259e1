#include "cli/container_json.h"

#include "core/time_format.h"

namespace zlayer::cli {

using nlohmann::json;
using runtime::ContainerState;
using runtime::linux::ContainerDetails;

namespace {

json time_or_null(const std::optional<Clock::WallTime>& time) {
  if (!time) return nullptr;
  return format_rfc3339_nano(*time);
}

std::string command_line(const std::vector<std::string>& args) {
  std::string text;
  for (const auto& arg : args) text += (text.empty() ? "" : " ") + arg;
  return text;
}

bool is_running(const ContainerState& state) {
  return state.phase == ContainerState::Phase::kRunning ||
         state.phase == ContainerState::Phase::kPaused;
}

}  // namespace

json ps_row_json(const ContainerDetails& d) {
  return {{"id", d.id.str()},
          {"name", d.id.service},
          {"image", d.image},
          {"command", command_line(d.args)},
          {"status", std::string(d.state.phase_name())},
          {"running", is_running(d.state)},
          {"pid", d.pid},
          {"exit_code", d.state.exit ? json(d.state.exit->exit_code) : json(nullptr)},
          {"created_at", time_or_null(d.created_at)}};
}

json ps_json(const std::vector<ContainerDetails>& rows) {
  json out = json::array();
  for (const auto& row : rows) out.push_back(ps_row_json(row));
  return out;
}

json inspect_json(const ContainerDetails& d) {
  const auto& exit = d.state.exit;
  json state = {{"status", std::string(d.state.phase_name())},
                {"running", is_running(d.state)},
                {"paused", d.state.phase == ContainerState::Phase::kPaused},
                {"pid", d.pid},
                {"exit_code", exit ? json(exit->exit_code) : json(nullptr)},
                {"signal", exit ? exit->signal : 0},
                {"signal_name", exit && exit->signal != 0 ? runtime::signal_name(exit->signal)
                                                          : std::string()},
                {"oom_killed", exit ? exit->oom_killed : false},
                {"error", d.state.reason},
                {"started_at", time_or_null(d.started_at)},
                {"finished_at", time_or_null(d.finished_at)}};
  json mounts = json::array();
  for (const auto& m : d.mounts) {
    mounts.push_back({{"type", m.type},
                      {"name", m.name},
                      {"source", m.source},
                      {"destination", m.destination},
                      {"readonly", m.readonly}});
  }
  json out = {
      {"id", d.id.str()},
      {"name", d.id.service},
      {"image", d.image},
      {"created_at", time_or_null(d.created_at)},
      {"state", std::move(state)},
      {"config",
       {{"cmd", d.args},
        {"env", d.env},
        {"working_dir", d.working_dir},
        {"user", d.user},
        {"hostname", d.hostname}}},
      {"resources",
       {{"memory_bytes", d.memory_limit_bytes ? json(*d.memory_limit_bytes) : json(nullptr)},
        {"cpus", d.cpus ? json(*d.cpus) : json(nullptr)}}},
      {"mounts", std::move(mounts)},
      {"network", {{"mode", d.network_mode}, {"ip", d.ip ? json(*d.ip) : json(nullptr)}}},
      {"log_path", d.log_path.string()},
      {"bundle", d.bundle.string()},
      {"oci_runtime", d.oci_runtime},
  };
  if (d.restart_count) out["restart_count"] = *d.restart_count;
  return out;
}

}  // namespace zlayer::cli
