#include <cstdio>

#include "cli/commands.h"

namespace zlayer::cli {

void register_version(CLI::App& app, Commands& commands) {
  auto* cmd = app.add_subcommand("version", "Print the version of zlayer-agent");
  cmd->callback([&commands] {
    commands.selected = [] {
      std::printf("zlayer-agent %.*s\n", static_cast<int>(kVersion.size()), kVersion.data());
      return 0;
    };
  });
}

}  // namespace zlayer::cli
