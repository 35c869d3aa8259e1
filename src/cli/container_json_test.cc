// Golden tests of `ps --format json` and `inspect`: field names, types and null rules are the
// documented interface (docs/cli.md); a change here is a change for every script that parses it.
#include "cli/container_json.h"

#include <gtest/gtest.h>

#include "core/fs.h"

namespace zlayer::cli {
namespace {

using runtime::ContainerState;
using runtime::ExitStatus;
using runtime::linux::ContainerDetails;

Clock::WallTime at(std::int64_t seconds) { return Clock::WallTime(std::chrono::seconds(seconds)); }

std::vector<ContainerDetails> sample() {
  ContainerDetails running;
  running.id = {"web", 1};
  running.image = "localhost/zlayer-test/busybox:latest";
  running.state.phase = ContainerState::Phase::kRunning;
  running.pid = 4242;
  running.created_at = at(1764470000);
  running.started_at = at(1764470001);
  running.args = {"sh", "-c", "echo hi; sleep 1000"};
  running.env = {"PATH=/bin", "WHO=there"};
  running.working_dir = "/";
  running.user = "0:0";
  running.hostname = "web-rep-1";
  running.memory_limit_bytes = 67108864;
  running.cpus = 0.5;
  running.mounts = {{"bind", "", "/srv/data", "/data", true},
                    {"volume", "cache", "/var/lib/zlayer/volumes/cache", "/cache", false}};
  running.network_mode = "none";
  running.log_path = "/var/lib/zlayer/containers/web-rep-1/container.log";
  running.bundle = "/var/lib/zlayer/containers/web-rep-1";
  running.oci_runtime = "crun";

  ContainerDetails exited;
  exited.id = {"job", 3};
  exited.image = "busybox:latest";
  exited.state.phase = ContainerState::Phase::kExited;
  exited.state.exit = ExitStatus::killed_by(9);
  exited.state.exit->oom_killed = true;
  exited.created_at = at(1764470000);
  exited.finished_at = at(1764470100) + std::chrono::nanoseconds(5);
  exited.args = {"dd"};
  exited.working_dir = "/";
  exited.user = "1000:1000";
  exited.hostname = "job-rep-3";
  exited.network_mode = "host";
  exited.log_path = "/l";
  exited.bundle = "/b";
  exited.oci_runtime = "runc";
  exited.restart_count = 2;
  return {running, exited};
}

void expect_golden(const nlohmann::json& actual, const std::string& file) {
  auto expected_text = read_file(std::string(ZLAYER_CLI_TESTDATA) + "/" + file);
  ASSERT_TRUE(expected_text) << expected_text.error().message;
  auto expected = nlohmann::json::parse(*expected_text);
  EXPECT_EQ(actual, expected) << "actual:\n" << actual.dump(2);
}

TEST(ContainerJson, PsGolden) { expect_golden(ps_json(sample()), "ps.json"); }

TEST(ContainerJson, InspectGolden) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& d : sample()) out.push_back(inspect_json(d));
  expect_golden(out, "inspect.json");
}

}  // namespace
}  // namespace zlayer::cli
