// zlayer-agent command line: parses flags, calls the library, prints. One cmd_<verb>.cc per
// subcommand; nothing here holds logic of its own (docs/design.md §8).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "core/log.h"

int main(int argc, char** argv) {
  CLI::App app{"zlayer-agent: pulls OCI images and WebAssembly artifacts and runs them"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(zlayer::cli::kVersion));
  std::optional<std::string> log_level;
  app.add_option("--log-level", log_level,
                 "trace|debug|info|warn|error|off (default: $ZLAYER_LOG, else info)");

  zlayer::cli::Commands commands;
  zlayer::cli::register_commands(app, commands);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // Docker's convention: 2 = usage error
  }
  if (auto ok = zlayer::init_logging(log_level); !ok) {
    std::fprintf(stderr, "zlayer-agent: %s\n", ok.error().message.c_str());
    return 2;
  }
  return commands.run();
}
