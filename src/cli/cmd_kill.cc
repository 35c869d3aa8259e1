// `kill [-s SIG] CONTAINER...`: one signal to the container's init (Docker's default SIGKILL).
#include <cstdio>

#include "cli/commands.h"
#include "cli/container_cli.h"

namespace zlayer::cli {

void register_kill(CLI::App& app, Commands& commands) {
  auto* cmd = app.add_subcommand("kill", "Send a signal to a container's main process");
  auto names = std::make_shared<std::vector<std::string>>();
  auto signal_text = std::make_shared<std::string>("SIGKILL");
  cmd->add_option("-s,--signal", *signal_text,
                  "signal name or number: KILL, SIGTERM, 15, SIGRTMIN+3 (default SIGKILL)");
  cmd->add_option("CONTAINER", *names, "container names, ids or unique id prefixes")->required();
  cmd->callback([=, &commands] {
    commands.selected = [=]() -> int {
      auto signal = runtime::parse_signal(*signal_text);
      if (!signal) {
        std::fprintf(stderr, "zlayer-agent: --signal: %s\n", signal.error().message.c_str());
        return 2;
      }
      return for_each_container(*names, [&](const std::string& name) {
        return with_container(name, [&](runtime::linux::LinuxRuntime& rt, const ContainerId& id) {
          return rt.kill_container(id, *signal);
        });
      });
    };
  });
}

}  // namespace zlayer::cli
