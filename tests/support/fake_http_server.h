// A fake HTTP server for tests (cpp-httplib) on 127.0.0.1 at a free port, serving from its own
// thread and recording every request before its handler runs: broken registries, token servers,
// redirect targets. Header-only; a test target that includes it links PkgConfig::HTTPLIB.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace zlayer::testing {

struct SeenRequest {
  std::string method;
  std::string path;
  httplib::Headers headers;
  httplib::Params params;

  [[nodiscard]] std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  [[nodiscard]] bool has_header(const std::string& name) const {
    return headers.find(name) != headers.end();
  }
};

// One fake server on 127.0.0.1 at a free port, serving from its own thread; records every request
// before its handler runs.
class FakeServer {
 public:
  FakeServer() : server_(std::make_unique<httplib::Server>()) {}
  explicit FakeServer(std::unique_ptr<httplib::Server> server) : server_(std::move(server)) {}
  ~FakeServer() { stop(); }
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  httplib::Server& http() { return *server_; }

  void start() {
    server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
      std::lock_guard lock(mutex_);
      seen_.push_back({req.method, req.path, req.headers, req.params});
      return httplib::Server::HandlerResponse::Unhandled;
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // stop() is a no-op until the accept loop runs, so wait for it (connections made meanwhile
    // queue in the listen backlog).
    while (!server_->is_running()) std::this_thread::yield();
  }

  void stop() {
    if (!thread_.joinable()) return;
    server_->stop();
    thread_.join();
  }

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] std::string url() const { return "http://" + host(); }

  [[nodiscard]] std::vector<SeenRequest> seen(const std::string& path_prefix = "") const {
    std::lock_guard lock(mutex_);
    std::vector<SeenRequest> out;
    for (const auto& r : seen_) {
      if (r.path.rfind(path_prefix, 0) == 0) out.push_back(r);
    }
    return out;
  }
  [[nodiscard]] int count(const std::string& path_prefix) const {
    return static_cast<int>(seen(path_prefix).size());
  }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = -1;
  mutable std::mutex mutex_;
  std::vector<SeenRequest> seen_;
};

}  // namespace zlayer::testing
