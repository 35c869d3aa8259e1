// `ps [-a] [--format json]`: the containers of the linux and wasm backends, running ones unless
// -a.
#include <fmt/format.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/container_cli.h"
#include "cli/container_json.h"
#include "cli/cmd_run_wasm.h"

namespace zlayer::cli {
namespace {

int list_containers(bool all, const std::string& format) {
  if (!format.empty() && format != "json" && format != "table") {
    std::fprintf(stderr, "zlayer-agent: --format must be json or table, not \"%s\"\n",
                 format.c_str());
    return 2;
  }
  auto opened = open_backend();
  if (!opened) return fail(opened.error());
  auto& backend = *opened->runtime;
  auto ids = backend.list_containers();
  if (!ids) return fail(ids.error());
  std::vector<runtime::linux::ContainerDetails> rows;
  for (const auto& id : *ids) {
    auto details = backend.inspect(id);
    // Removed by another process since the listing: not there any more.
    if (!details && details.error().code == Errc::kNotFound) continue;
    if (!details) return fail(details.error());
    if (!all && details->state.is_finished()) continue;
    rows.push_back(std::move(*details));
  }
  // WASM modules (run by `run` or a deploy, in any process) are containers too, as in the table.
  auto modules = wasm_container_details();
  if (!modules) return fail(modules.error());
  for (auto& d : *modules) {
    if (!all && d.state.is_finished()) continue;
    rows.push_back(std::move(d));
  }
  if (format == "json") {
    std::printf("%s\n", ps_json(rows).dump(2).c_str());
    return 0;
  }
  std::printf("%-40s %-32s %-24s %s\n", "CONTAINER", "IMAGE", "COMMAND", "STATUS");
  for (const auto& d : rows) {
    std::string status(d.state.phase_name());
    if (d.state.exit) status += " (" + std::to_string(d.state.exit->exit_code) + ")";
    if (d.state.phase == runtime::ContainerState::Phase::kFailed && !d.state.reason.empty()) {
      status += " (" + d.state.reason + ")";
    }
    if (d.state.restart_count > 0) {
      status += fmt::format(", restarted {} time{}", d.state.restart_count,
                            d.state.restart_count == 1 ? "" : "s");
    }
    std::string command = ps_row_json(d).value("command", std::string());
    if (command.size() > 22) command = command.substr(0, 21) + "…";
    std::printf("%-40s %-32s %-24s %s\n", d.id.str().c_str(), d.image.c_str(),
                ("\"" + command + "\"").c_str(), status.c_str());
  }
  return 0;
}

}  // namespace

void register_ps(CLI::App& app, Commands& commands) {
  auto* cmd = app.add_subcommand("ps", "List containers");
  auto all = std::make_shared<bool>(false);
  auto format = std::make_shared<std::string>();
  cmd->add_flag("-a,--all", *all, "also show containers that have exited");
  cmd->add_option("--format", *format, "json: one JSON array (fields in docs/cli.md)");
  cmd->callback(
      [=, &commands] { commands.selected = [=] { return list_containers(*all, *format); }; });
}

}  // namespace zlayer::cli
