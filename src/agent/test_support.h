// Test helpers for the agent's suites: a scripted Prober and a harness that runs a
// ServiceManager on a ManualClock with a FakeRuntime, an InlineExecutor and a real state.db in a
// temporary directory. Time only moves through run_for(), which fires every timer at its own
// deadline, so tests are deterministic and never sleep.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/event_loop.h"
#include "agent/prober.h"
#include "agent/recorder.h"
#include "agent/service_manager.h"
#include "state/state_db.h"
#include "support/fake_runtime.h"
#include "support/temp_dir.h"

namespace zlayer::agent::testing {

// Answers probes from a script: key "tcp host:port", "http url", "exec <container> <command>",
// "host <command>". A queued answer is used once; otherwise the key's standing answer; otherwise
// `fallback`. Every probe is logged as its key.
class FakeProber final : public Prober {
 public:
  bool fallback = true;
  void set(const std::string& key, bool success) { standing_[key] = success; }
  void queue(const std::string& key, std::vector<bool> answers) {
    for (bool a : answers) queued_[key].push_back(a);
  }
  [[nodiscard]] const std::vector<std::string>& log() const { return log_; }
  [[nodiscard]] std::size_t count(const std::string& key) const {
    return static_cast<std::size_t>(std::count(log_.begin(), log_.end(), key));
  }
  ProbeOutcome tcp(const std::string& host, std::uint16_t port, Clock::Duration) override {
    return answer("tcp " + host + ":" + std::to_string(port));
  }
  ProbeOutcome http(const std::string& url, std::optional<std::uint16_t>,
                    Clock::Duration) override {
    return answer("http " + url);
  }
  ProbeOutcome exec(runtime::Runtime& runtime, const ContainerId& id, const std::string& command,
                    Clock::Duration timeout) override {
    // Command checks go through the runtime for real, so FakeRuntime's exec handler decides.
    log_.push_back("exec " + id.str() + " " + command);
    return real_.exec(runtime, id, command, timeout);
  }
  ProbeOutcome host_command(const std::string& command, Clock::Duration) override {
    return answer("host " + command);
  }

 private:
  ProbeOutcome answer(const std::string& key) {
    log_.push_back(key);
    bool ok = fallback;
    if (auto q = queued_.find(key); q != queued_.end() && !q->second.empty()) {
      ok = q->second.front();
      q->second.pop_front();
    } else if (auto s = standing_.find(key); s != standing_.end()) {
      ok = s->second;
    }
    return {ok, ok ? "" : key + " failed"};
  }
  NetworkProber real_;
  std::map<std::string, bool> standing_;
  std::map<std::string, std::deque<bool>> queued_;
  std::vector<std::string> log_;
};

// Holds submitted work until the test runs it, so a test can act while a runtime call is in
// flight (e.g. stop a replica whose create has not returned yet).
class QueuedExecutor final : public BlockingExecutor {
 public:
  void submit(std::function<void()> work) override { queue_.push_back(std::move(work)); }
  // Runs the work queued so far (not what it queues in turn); returns how many ran.
  std::size_t run_queued() {
    auto batch = std::move(queue_);
    queue_.clear();
    for (auto& work : batch) work();
    return batch.size();
  }
  [[nodiscard]] std::size_t queued() const { return queue_.size(); }

 private:
  std::vector<std::function<void()>> queue_;
};

// Collects events.
class EventLog final : public EventSink {
 public:
  void on_event(const Event& event) override { events.push_back(event); }
  [[nodiscard]] bool contains(const std::string& text) const {
    for (const auto& e : events) {
      if (e.message.find(text) != std::string::npos) return true;
    }
    return false;
  }
  [[nodiscard]] std::size_t count(const std::string& text) const {
    std::size_t n = 0;
    for (const auto& e : events) n += e.message.find(text) != std::string::npos ? 1 : 0;
    return n;
  }
  std::vector<Event> events;
};

class Harness {
 public:
  explicit Harness(SupervisionConfig config = {}, BlockingExecutor* executor_override = nullptr)
      : loop(clock, executor_override != nullptr ? *executor_override : executor) {
    auto db = state::StateDb::open(dir_.path() / "state.db");
    EXPECT_TRUE(db.has_value()) << (db ? "" : db.error().message);
    db_ = std::make_unique<state::StateDb>(std::move(*db));
    recorder_ = std::make_unique<Recorder>(db_.get(), clock);
    recorder_->add_sink(&events);
    ServiceManagerOptions options;
    options.supervision = config;
    options.prober = &prober;
    options.resolve_runtime = [this](const spec::ServiceSpec& s) -> Result<RuntimeBinding> {
      if (s.image.name.rfind("wasm/", 0) == 0) return RuntimeBinding{&wasm, "wasm"};
      return RuntimeBinding{&runtime, "linux"};
    };
    options.build_config = [](const std::string&, const std::string&, const spec::ServiceSpec& s,
                              const ContainerId&) -> Result<runtime::ContainerConfig> {
      runtime::ContainerConfig built;
      built.image_ref = s.image.name;
      for (const auto& [k, v] : s.env) built.env.push_back(k + "=" + v);
      return built;
    };
    options_ = options;
    manager = std::make_unique<ServiceManager>(loop, *recorder_, std::move(options));
  }

  // The owner dies (no shutdown: containers and state.db rows stay) and a new manager with the
  // same options starts. `watcher`: the new manager's exit watcher (may be null).
  void new_owner(ExitWatcher* watcher = nullptr) {
    manager.reset();
    ServiceManagerOptions options = options_;
    options.exit_watcher = watcher;
    manager = std::make_unique<ServiceManager>(loop, *recorder_, std::move(options));
  }

  // Runs what is ready now, then moves the clock forward by `d`, stopping at each timer's
  // deadline to run what became due.
  void run_for(Clock::Duration d) {
    loop.run_until_idle();
    auto end = clock.now() + d;
    for (;;) {
      auto next = loop.next_deadline();
      if (!next || *next > end) break;
      if (*next > clock.now()) clock.advance(*next - clock.now());
      loop.run_until_idle();
    }
    if (end > clock.now()) clock.advance(end - clock.now());
    loop.run_until_idle();
  }
  void settle() { loop.run_until_idle(); }

  [[nodiscard]] ReplicaStatus status(const std::string& service, std::uint32_t n) const {
    auto s = manager->replica(ContainerId{service, n});
    EXPECT_TRUE(s.has_value()) << service << "-rep-" << n << " is not known";
    return s.value_or(ReplicaStatus{});
  }
  [[nodiscard]] std::vector<std::uint32_t> numbers(const std::string& service) const {
    std::vector<std::uint32_t> out;
    for (const auto& r : manager->replicas(service)) out.push_back(r.id.replica);
    return out;
  }
  state::StateDb& db() { return *db_; }

  ManualClock clock;
  InlineExecutor executor;
  EventLoop loop;
  zlayer::testing::FakeRuntime runtime{"linux"};
  zlayer::testing::FakeRuntime wasm{"wasm", ""};
  FakeProber prober;
  EventLog events;
  std::unique_ptr<ServiceManager> manager;

 private:
  zlayer::testing::TempDir dir_;
  std::unique_ptr<state::StateDb> db_;
  std::unique_ptr<Recorder> recorder_;
  ServiceManagerOptions options_;
};

}  // namespace zlayer::agent::testing
