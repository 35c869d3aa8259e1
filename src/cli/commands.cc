#include "cli/commands.h"

#include <cstdio>

namespace zlayer::cli {

int fail(const Error& e) {
  std::fprintf(stderr, "zlayer-agent: %s\n", e.message.c_str());
  return 1;
}

// The explicit list of verbs: no static self-registration (docs/design.md).
void register_commands(CLI::App& app, Commands& commands) {
  register_image_commands(app, commands);
  register_run_commands(app, commands);
  register_deploy_commands(app, commands);
  register_secret_commands(app, commands);
  register_version(app, commands);
}

}  // namespace zlayer::cli
