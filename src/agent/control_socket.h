// The control socket of a running deployment (../shared/DESIGN.md §4b): the foreground `deploy`
// that owns deployment NAME serves $ZLAYER_RUNTIME_DIR/deployments/NAME.sock (a Unix stream
// socket, mode 0600); `down`, `scale` and a second `deploy` of the same deployment send it one
// JSON request line and read one JSON answer line:
//   {"op":"down"} | {"op":"scale","service":S,"replicas":N} | {"op":"deploy","spec":YAML}
//   → {"ok":true} | {"ok":false,"error":"…"}
// The server answers on its own thread (one connection at a time); the handler decides what a
// request does (the deploy command posts it to its event loop and waits for the result).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "core/error.h"
#include "core/fs.h"

namespace zlayer::agent {

// `request` → answer object; runs on the server's thread.
using ControlHandler = std::function<nlohmann::json(const nlohmann::json& request)>;

class ControlServer {
 public:
  // Binds `path` (a stale socket file left by a dead owner is replaced: the caller holds the
  // deployment's lock). Errors: errno-mapped, naming the path.
  static Result<std::unique_ptr<ControlServer>> open(const std::filesystem::path& path,
                                                     ControlHandler handler);
  // Stops serving, joins the thread and removes the socket file.
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  ControlServer(std::filesystem::path path, UniqueFd listener, UniqueFd wake,
                ControlHandler handler);
  void serve();

  std::filesystem::path path_;
  UniqueFd listener_;
  UniqueFd wake_;
  ControlHandler handler_;
  std::thread thread_;
};

// Sends `request` to the socket at `path` and returns the answer (waits at most `timeout`).
// Errors: kUnavailable when nobody serves the socket, kDeadlineExceeded, kInternal for a reply
// that is not JSON, and kFailedPrecondition carrying the server's "error" when ok is false.
Result<nlohmann::json> control_request(const std::filesystem::path& path,
                                       const nlohmann::json& request,
                                       std::chrono::milliseconds timeout);

}  // namespace zlayer::agent
