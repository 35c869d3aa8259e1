// What `deploy` shows while it runs (docker compose up's output): on a terminal a status table of
// every replica (service, replica, backend, state, health, restarts, address) redrawn as events
// arrive, with the latest events below it; otherwise one line per event, for logs and tests.
// Loop thread only (it is an EventSink and reads the ServiceManager).
#pragma once

#include <cstdio>
#include <deque>
#include <string>

#include "agent/event_loop.h"
#include "agent/recorder.h"
#include "agent/service_manager.h"

namespace zlayer::cli {

class DeployStatus final : public agent::EventSink {
 public:
  // `table`: redraw a table on `out` (a terminal) instead of printing event lines. `loop` and
  // `manager` must outlive this object.
  DeployStatus(agent::EventLoop& loop, const agent::ServiceManager& manager, std::FILE* out,
               bool table);
  void on_event(const agent::Event& event) override;
  // Draws the table now (no-op in line mode).
  void redraw();

 private:
  agent::EventLoop& loop_;
  const agent::ServiceManager& manager_;
  std::FILE* out_;
  bool table_;
  bool redraw_pending_ = false;
  std::deque<std::string> recent_;  // the latest event lines, shown under the table
};

// One event as a line: "2026-11-30T05:40:01Z web-rep-1 running (healthy): started", or for
// service and deployment events "TIME web: warning: <message>".
std::string event_line(const agent::Event& event);

}  // namespace zlayer::cli
