// The JSON forms of `ps --format json` and `inspect` (docs/cli.md lists every field): one JSON
// array, one object per container, built from runtime::linux::ContainerDetails. Times are RFC 3339
// with nanoseconds in UTC, or null when unknown. Pure; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "runtime/linux/linux_runtime.h"

namespace zlayer::cli {

// One `ps --format json` row: id, name, image, command, status, running, pid, exit_code (null
// while it runs), created_at.
nlohmann::json ps_row_json(const runtime::linux::ContainerDetails& details);

// One `inspect` object: id, name, image, created_at, state {status, running, paused, pid,
// exit_code, signal, signal_name, oom_killed, error, started_at, finished_at}, config {cmd, env,
// working_dir, user, hostname}, resources {memory_bytes, cpus}, mounts [{type, name, source,
// destination, readonly}], network {mode, ip}, log_path, bundle, oci_runtime, restart_count (only
// when known). Environment values are shown as the container sees them; the spec's secrets must
// never reach ContainerDetails::env unresolved-and-printed (none exist yet).
nlohmann::json inspect_json(const runtime::linux::ContainerDetails& details);

// The array `ps --format json` prints.
nlohmann::json ps_json(const std::vector<runtime::linux::ContainerDetails>& rows);

}  // namespace zlayer::cli
