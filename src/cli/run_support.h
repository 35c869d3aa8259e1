// Pieces shared by the `run` family of verbs across backends (cmd_run.cc for containers,
// cmd_run_wasm.cc for WebAssembly modules). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/container_id.h"
#include "core/error.h"

namespace zlayer::cli {

// Docker's exit code when the agent itself fails before the container runs.
inline constexpr int kAgentFailed = 125;

// "1048576", "64m", "64M", "64Mi", "1g", "512k" (binary units, as Docker's --memory) → bytes.
// Errors: kInvalidArgument quoting `text`.
Result<std::uint64_t> parse_bytes(std::string_view text);

// The container id `run --name NAME` means: NAME-rep-N as given, NAME as NAME-rep-1, and a
// generated "run-<8 hex>-rep-1" when empty. Errors: kInvalidArgument for a bad service name.
Result<ContainerId> container_id_for(const std::string& name);

}  // namespace zlayer::cli
