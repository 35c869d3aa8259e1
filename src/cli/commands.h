// The subcommands of zlayer-agent. register_commands() adds every verb to the CLI11 app; after
// parsing, Commands::run() executes the chosen one and returns the process exit code (0 ok,
// 1 failure, 2 usage error — ../shared/DESIGN.md §3). Main thread only.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string_view>

#include "core/error.h"
#include "runtime/linux/linux_runtime.h"

namespace zlayer::cli {

inline constexpr std::string_view kVersion = "0.1.0";

struct Commands {
  std::function<int()> selected;  // set by the chosen subcommand's callback
  int run() const { return selected ? selected() : 2; }
};

void register_commands(CLI::App& app, Commands& commands);

// Prints "zlayer-agent: <message>" on stderr and returns exit code 1 (a failed command).
// Defined in container_cli.cc (the library tests link without the executable).
int fail(const Error& e);

// One registration function per cmd_<verb>.cc.
void register_version(CLI::App& app, Commands& commands);
void register_image_commands(CLI::App& app, Commands& commands);   // pull, images, image …
void register_run_commands(CLI::App& app, Commands& commands);     // run, stop, rm, logs, exec
void register_deploy_commands(CLI::App& app, Commands& commands);  // deploy
void register_secret_commands(CLI::App& app, Commands& commands);  // secret set|ls|rm
void register_ps(CLI::App& app, Commands& commands);
void register_kill(CLI::App& app, Commands& commands);
void register_inspect(CLI::App& app, Commands& commands);
void register_stats(CLI::App& app, Commands& commands);
void register_info(CLI::App& app, Commands& commands);
void register_wait(CLI::App& app, Commands& commands);

// The linux backend's configuration from the environment (until there is a configuration file):
// ZLAYER_ROOT_DIR/ZLAYER_RUNTIME_DIR (Paths::from_env), ZLAYER_OCI_RUNTIME, ZLAYER_CGROUP_PARENT,
// ZLAYER_BRIDGE_NAME, ZLAYER_BRIDGE_SUBNET, ZLAYER_CNI_NETWORK, ZLAYER_CNI_PLUGIN_DIR (docs/cli.md).
// Defined in container_cli.cc.
runtime::linux::LinuxConfig linux_config();

}  // namespace zlayer::cli
