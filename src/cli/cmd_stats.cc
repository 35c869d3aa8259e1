// `stats [--no-stream] CONTAINER`: CPU, memory, pids and block I/O from the container's cgroup
// (v1 or v2 files, runtime/linux/cgroups.h), in Docker's columns. CPU % is the CPU time used
// between two samples over the wall time between them (100% = one core busy).
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "cli/commands.h"
#include "cli/container_cli.h"
#include "cli/progress.h"

namespace zlayer::cli {
namespace {

using namespace std::chrono_literals;

std::string stats_row(const ContainerId& id, const runtime::ContainerStats& now,
                      const runtime::ContainerStats& before, std::chrono::nanoseconds wall) {
  const double cpu_percent =
      wall.count() > 0 && now.cpu_ns >= before.cpu_ns
          ? 100.0 * static_cast<double>(now.cpu_ns - before.cpu_ns) / static_cast<double>(wall.count())
          : 0.0;
  const std::string limit =
      now.memory_limit_bytes ? binary_size(*now.memory_limit_bytes) : std::string("unlimited");
  const std::string mem_percent =
      now.memory_limit_bytes && *now.memory_limit_bytes > 0
          ? fmt::format("{:.2f}%", 100.0 * static_cast<double>(now.memory_bytes) /
                                       static_cast<double>(*now.memory_limit_bytes))
          : std::string("--");
  return fmt::format("{:<32} {:>7.2f}% {:>10.3f}s {:>24} {:>7} {:>5} {:>21}", id.str(), cpu_percent,
                     static_cast<double>(now.cpu_ns) / 1e9,
                     binary_size(now.memory_bytes) + " / " + limit, mem_percent, now.pids,
                     human_size(static_cast<std::int64_t>(now.io_read_bytes)) + " / " +
                         human_size(static_cast<std::int64_t>(now.io_write_bytes)));
}

Status show_stats(runtime::linux::LinuxRuntime& rt, const ContainerId& id, bool stream) {
  ZLAYER_TRY(state, rt.container_state(id));
  if (state.is_finished()) {
    return errorf(Errc::kFailedPrecondition, "container {} is not running ({})", id.str(),
                  state.phase_name());
  }
  std::printf("%-32s %8s %11s %24s %7s %5s %21s\n", "CONTAINER", "CPU %", "CPU TIME",
              "MEM USAGE / LIMIT", "MEM %", "PIDS", "BLOCK I/O (R / W)");
  ZLAYER_TRY(before, rt.container_stats(id));
  auto before_time = std::chrono::steady_clock::now();
  while (true) {
    std::this_thread::sleep_for(stream ? 1s : 500ms);
    // A stream stops when the container ends (its cgroup stays until `rm`, frozen at zero tasks).
    if (stream) {
      auto current = rt.container_state(id);
      if (!current || current->is_finished()) return {};
    }
    auto now = rt.container_stats(id);
    auto now_time = std::chrono::steady_clock::now();
    if (!now && stream) return {};
    if (!now) return tl::unexpected(now.error());
    std::printf("%s\n", stats_row(id, *now, before, now_time - before_time).c_str());
    std::fflush(stdout);
    if (!stream) return {};
    before = *now;
    before_time = now_time;
  }
}

}  // namespace

void register_stats(CLI::App& app, Commands& commands) {
  auto* cmd = app.add_subcommand("stats", "Show a running container's resource usage");
  auto name = std::make_shared<std::string>();
  auto no_stream = std::make_shared<bool>(false);
  cmd->add_flag("--no-stream", *no_stream, "print one sample and exit (default: one per second)");
  cmd->add_option("CONTAINER", *name, "container name, id or unique id prefix")->required();
  cmd->callback([=, &commands] {
    commands.selected = [=] {
      return with_container(*name, [&](runtime::linux::LinuxRuntime& rt, const ContainerId& id) {
        return show_stats(rt, id, !*no_stream);
      });
    };
  });
}

}  // namespace zlayer::cli
