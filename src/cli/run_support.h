// Pieces shared by the `run` family of verbs across backends (cmd_run.cc for containers,
// cmd_run_wasm.cc for WebAssembly modules). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/container_id.h"
#include "core/error.h"
#include "cli/container_cli.h"  // kAgentFailed

namespace zlayer::cli {

// Prints "zlayer-agent: <message>" to stderr and returns kAgentFailed (125): the agent failed
// before the container or module ran (Docker's convention for `run`).
int fail_run(const Error& e);

// The container id `run --name NAME` means: NAME-rep-N as given, NAME as NAME-rep-1, and a
// generated "run-<8 hex>-rep-1" when empty. Errors: kInvalidArgument for a bad service name.
Result<ContainerId> container_id_for(const std::string& name);

}  // namespace zlayer::cli
