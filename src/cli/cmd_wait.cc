// `wait CONTAINER...`: blocks until each container has ended and prints its exit code (Docker's
// `docker wait`), also for containers that ended while no agent process was running (their
// monitor recorded the status, docs/design.md §5a).
#include <cstdio>

#include "cli/commands.h"
#include "cli/container_cli.h"

namespace zlayer::cli {

void register_wait(CLI::App& app, Commands& commands) {
  auto* cmd = app.add_subcommand("wait", "Wait for containers to end and print their exit codes");
  auto names = std::make_shared<std::vector<std::string>>();
  cmd->add_option("CONTAINER", *names, "container names, ids or unique id prefixes")->required();
  cmd->callback([=, &commands] {
    commands.selected = [=]() -> int {
      int status = 0;
      for (const auto& name : *names) {
        int one = with_container(name, [](runtime::linux::LinuxRuntime& rt,
                                          const ContainerId& id) -> Status {
          ZLAYER_TRY(exit, rt.wait_container(id));
          std::printf("%d\n", exit.exit_code);
          std::fflush(stdout);
          return {};
        });
        if (one != 0) status = one;
      }
      return status;
    };
  });
}

}  // namespace zlayer::cli
