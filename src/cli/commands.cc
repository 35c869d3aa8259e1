#include "cli/commands.h"

namespace zlayer::cli {

// The explicit list of verbs: no static self-registration (docs/design.md).
void register_commands(CLI::App& app, Commands& commands) {
  register_image_commands(app, commands);
  register_run_commands(app, commands);
  register_deploy_commands(app, commands);
  register_secret_commands(app, commands);
  register_version(app, commands);
}

}  // namespace zlayer::cli
