// WASI preview 1 (`wasi_snapshot_preview1`, and the older `wasi_unstable` name for the same
// functions) as host functions for the engine (wasm/engine/engine.h). A WasiContext owns what
// one instance sees of the outside: args, environment, stdio, preopened directories (fd 3 on),
// clocks and randomness. Guest paths are confined to their preopen with openat2 RESOLVE_BENEATH.
// Follows WebAssembly/WASI legacy/preview1/witx (errno values, struct layouts and rights are
// WASI's own; see wasi/abi.h and docs/wasm.md "WASI").
// Thread-safety: the host functions of one context run on the thread of the instance that calls
// them, one call at a time; interrupt() may be called from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "wasm/engine/engine.h"

namespace zlayer::wasm::wasi {

// A host directory visible to the guest as `guest_path` (e.g. "/data" or "."). read_only removes
// every right that modifies the file system from its fd and from everything opened below it, and
// files below it are opened read-only on the host.
struct Preopen {
  std::filesystem::path host_dir;
  std::string guest_path;
  bool read_only = false;
};

// Receives what the guest writes to fd 1 or 2: raw bytes, in order, in chunks of any size (one
// fd_write = one call). Called on the instance's thread while the guest waits.
using OutputSink = std::function<void(std::string_view bytes)>;

// Fills `out` with random bytes (random_get). Must not fail.
using RandomSource = std::function<void(std::span<std::uint8_t> out)>;

struct WasiConfig {
  // argv: args[0] is the module's name, then the entrypoint/arguments.
  std::vector<std::string> args;
  // environ: "KEY=VALUE" strings, in order.
  std::vector<std::string> env;
  // stdin: these bytes, then end-of-file; or, when stdin_fd >= 0, reads from that host fd (the
  // context takes ownership and closes it).
  std::string stdin_bytes;
  int stdin_fd = -1;
  // stdout/stderr; unset = discarded.
  OutputSink stdout_sink;
  OutputSink stderr_sink;
  // Numbered 3, 4, ... in this order.
  std::vector<Preopen> preopens;
  // Realtime (wall_now) and monotonic (now) clocks; nullptr = SystemClock::instance(). Not owned;
  // must outlive the context. CPU-time clocks always read the calling thread's CPU time.
  const Clock* clock = nullptr;
  // nullptr = getrandom(2).
  RandomSource random;
};

class WasiContext : public std::enable_shared_from_this<WasiContext> {
 public:
  // Opens the preopened directories. Errors: kNotFound / kInvalidArgument naming a preopen whose
  // host_dir is missing or not a directory, or whose guest_path is empty; errno-mapped others.
  static Result<std::shared_ptr<WasiContext>> create(WasiConfig config);

  ~WasiContext();
  WasiContext(const WasiContext&) = delete;
  WasiContext& operator=(const WasiContext&) = delete;

  // Every preview-1 function, twice: under "wasi_snapshot_preview1" and "wasi_unstable". Each
  // holds a reference to this context. Instantiate one instance per context.
  [[nodiscard]] std::vector<HostImport> imports();

  // Wakes a guest blocked in poll_oneoff or in fd_read of a stdin fd: the call returns EINTR at
  // once, and so does every later blocking call (the instance is being stopped; pair it with
  // Instance::request_stop()). Any thread.
  void interrupt();

  class State;  // the fd table and the function bodies (wasi.cc)

 private:
  explicit WasiContext(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace zlayer::wasm::wasi
