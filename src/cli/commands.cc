#include "cli/commands.h"

#include <cstdio>

namespace zlayer::cli {

// The explicit list of verbs: no static self-registration (docs/design.md).
void register_commands(CLI::App& app, Commands& commands) {
  register_image_commands(app, commands);
  register_run_commands(app, commands);
  register_deploy_commands(app, commands);
  register_secret_commands(app, commands);
  register_ps(app, commands);
  register_kill(app, commands);
  register_inspect(app, commands);
  register_stats(app, commands);
  register_info(app, commands);
  register_wait(app, commands);
  register_version(app, commands);
}

}  // namespace zlayer::cli
