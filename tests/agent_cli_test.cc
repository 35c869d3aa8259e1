// The container verbs of `zlayer-agent`, each run as its own process against real crun (the full
// set) and runc (a smoke subset): recovery after the agent is SIGKILLed while containers run,
// kill/inspect/stats/info/ps --format json/wait, run -v/--cpus/-u, name/prefix resolution, and
// bad inputs that must fail with a clear message and leave no directory, mount, cgroup or
// process behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "core/fs.h"
#include "core/subprocess.h"
#include "core/text.h"
#include "support/agent_sandbox.h"
#include "support/oci_bundle.h"
#include "support/oci_runtime.h"

namespace zlayer {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;

class AgentCliTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounts, runs an OCI runtime)";
    if (!fs::exists(testing::kBusyboxStatic)) GTEST_SKIP() << "needs busybox-static";
    if (!testing::have_program(GetParam())) GTEST_SKIP() << "needs " << GetParam();
    auto box = testing::AgentSandbox::create(ZLAYER_AGENT_BIN, GetParam());
    ASSERT_TRUE(box) << box.error().message;
    box_ = std::move(*box);
  }

  SubprocessResult agent(std::vector<std::string> args) {
    auto r = box_->agent(std::move(args));
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : SubprocessResult{};
  }

  json agent_json(std::vector<std::string> args) {
    auto r = agent(std::move(args));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto parsed = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(parsed.is_array()) << r.out;
    return parsed.is_array() ? parsed : json::array();
  }

  json inspect(const std::string& name) {
    auto out = agent_json({"inspect", name});
    return out.empty() ? json::object() : out[0];
  }

  // Polls `logs NAME` until it contains `text` (bounded; the container writes it once started).
  std::string logs_until(const std::string& name, std::string_view text) {
    std::string out;
    for (int i = 0; i < 600 && out.find(text) == std::string::npos; ++i) {
      if (i > 0) std::this_thread::sleep_for(100ms);
      out = agent({"logs", name}).out;
    }
    return out;
  }

  // No container directory, mount under the sandbox, cgroup under its parent or process that
  // names the sandbox (a monitor) is left.
  void expect_nothing_left() {
    const Paths p = box_->paths();
    std::error_code ec;
    if (fs::exists(p.containers_dir(), ec)) {
      EXPECT_EQ(fs::directory_iterator(p.containers_dir()), fs::directory_iterator())
          << "a container directory was left behind";
    }
    auto mountinfo = read_file("/proc/self/mountinfo");
    ASSERT_TRUE(mountinfo);
    EXPECT_THAT(*mountinfo, Not(HasSubstr(box_->path().string())));
    for (const auto& dir : testing::cgroup_dirs(box_->cgroup_parent())) {
      for (const auto& entry : fs::directory_iterator(dir, ec)) {
        EXPECT_FALSE(entry.is_directory()) << "cgroup left: " << entry.path();
      }
    }
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
      auto cmdline = read_file(entry.path() / "cmdline");
      if (!cmdline) continue;
      EXPECT_THAT(*cmdline, Not(HasSubstr(p.containers_dir().string())))
          << "process left: " << entry.path();
    }
  }

  std::unique_ptr<testing::AgentSandbox> box_;
};

// Field `key` of /proc/<pid>/stat (1-based as proc(5) numbers them; comm may hold spaces).
std::string stat_field(pid_t pid, int key) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return {};
  auto rest = text->substr(text->rfind(')') + 2);
  std::vector<std::string> fields = {"pid", "comm"};
  std::size_t start = 0;
  while (start < rest.size()) {
    auto space = rest.find(' ', start);
    if (space == std::string::npos) space = rest.size();
    fields.push_back(rest.substr(start, space - start));
    start = space + 1;
  }
  return key <= static_cast<int>(fields.size()) ? fields[static_cast<std::size_t>(key - 1)] : "";
}

TEST_P(AgentCliTest, ContainersSurviveAnAgentKilledWithSigkill) {
  const fs::path signals = box_->path() / "signals";
  ASSERT_TRUE(make_dirs(signals));
  // A foreground agent owning two containers: one that keeps running, one that ends (exit 3)
  // only once the agent is gone.
  auto fg = box_->spawn_agent({"run", "--network", "none", "--name", "fg", box_->image_ref(), "sh", "-c",
                               "echo fg-start; exec sleep 1000"});
  ASSERT_TRUE(fg) << fg.error().message;
  auto ender = box_->spawn_agent({"run", "--network", "none", "--name", "ender", "-v", signals.string() + ":/sig",
                                  box_->image_ref(), "sh", "-c",
                                  "echo waiting; while [ ! -e /sig/go ]; do sleep 0.1; done; "
                                  "echo bye; exit 3"});
  ASSERT_TRUE(ender) << ender.error().message;
  auto bg = agent({"run", "--network", "none", "-d", "--name", "bg", box_->image_ref(), "sh", "-c",
                   "echo bg-start; exec sleep 1000"});
  ASSERT_EQ(bg.exit_code, 0) << bg.err;
  EXPECT_THAT(logs_until("fg", "fg-start"), HasSubstr("fg-start"));
  EXPECT_THAT(logs_until("ender", "waiting"), HasSubstr("waiting"));

  // The monitor is a session leader of its own and the subreaper of the container's init (the
  // init's parent is the monitor, not whoever reaps orphans).
  const fs::path fg_dir = box_->paths().containers_dir() / "fg-rep-1";
  auto monitor_text = read_file(fg_dir / "monitor.pid");
  ASSERT_TRUE(monitor_text) << monitor_text.error().message;
  const pid_t monitor = static_cast<pid_t>(std::stol(trim(*monitor_text)));
  EXPECT_EQ(stat_field(monitor, 6), std::to_string(monitor)) << "session id";
  EXPECT_NE(stat_field(monitor, 6), stat_field(*fg, 6));
  auto init_text = read_file(fg_dir / "init.pid");
  ASSERT_TRUE(init_text) << init_text.error().message;
  const pid_t init = static_cast<pid_t>(std::stol(trim(*init_text)));
  EXPECT_EQ(stat_field(init, 4), std::to_string(monitor)) << "parent of the container's init";

  ASSERT_EQ(::kill(*fg, SIGKILL), 0);
  ASSERT_EQ(::kill(*ender, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(*fg, &status, 0), *fg);
  ASSERT_EQ(::waitpid(*ender, &status, 0), *ender);
  // The container ends while no agent process exists.
  ASSERT_TRUE(atomic_write_file(signals / "go", ""));
  const fs::path exit_file = box_->paths().containers_dir() / "ender-rep-1" / "exit.json";
  for (int i = 0; i < 600 && !fs::exists(exit_file); ++i) std::this_thread::sleep_for(100ms);

  // New processes find everything again.
  auto ps = agent_json({"ps", "--format", "json"});
  std::map<std::string, json> rows;
  for (const auto& row : ps) rows[row.value("id", "")] = row;
  ASSERT_TRUE(rows.count("fg-rep-1")) << ps.dump();
  EXPECT_EQ(rows["fg-rep-1"]["status"], "running");
  EXPECT_EQ(rows["bg-rep-1"]["status"], "running");
  EXPECT_FALSE(rows.count("ender-rep-1")) << "ps without -a lists only running containers";
  EXPECT_EQ(agent({"logs", "fg"}).out, "fg-start\n");
  auto exec = agent({"exec", "fg", "sh", "-c", "echo inside; exit 4"});
  EXPECT_EQ(exec.exit_code, 4) << exec.err;
  EXPECT_EQ(exec.out, "inside\n");

  auto waited = agent({"wait", "ender"});
  EXPECT_EQ(waited.exit_code, 0) << waited.err;
  EXPECT_EQ(waited.out, "3\n");
  auto all = agent({"ps", "-a"});
  EXPECT_THAT(all.out, HasSubstr("exited (3)"));
  auto ended = inspect("ender");
  EXPECT_EQ(ended["state"]["status"], "exited");
  EXPECT_EQ(ended["state"]["exit_code"], 3);
  EXPECT_EQ(ended["state"]["running"], false);
  EXPECT_EQ(agent({"logs", "ender"}).out, "waiting\nbye\n");
  // --since/--until take Docker's forms: a duration ago, RFC 3339 or Unix seconds.
  EXPECT_EQ(agent({"logs", "--since", "1h", "ender"}).out, "waiting\nbye\n");
  EXPECT_EQ(agent({"logs", "--since", "-1h", "ender"}).out, "");
  EXPECT_EQ(agent({"logs", "--until", "2000-01-01T00:00:00Z", "ender"}).out, "");
  EXPECT_EQ(agent({"logs", "--since", "0", "ender"}).out, "waiting\nbye\n");
  auto bad_since = agent({"logs", "--since", "yesterday", "ender"});
  EXPECT_EQ(bad_since.exit_code, 2);
  EXPECT_THAT(bad_since.err, HasSubstr("--since"));

  auto stop = agent({"stop", "-t", "1", "fg"});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  auto stopped = inspect("fg");
  EXPECT_EQ(stopped["state"]["exit_code"], 137);
  EXPECT_EQ(stopped["state"]["signal_name"], "SIGKILL");
  EXPECT_EQ(agent({"stop", "-t", "1", "bg"}).exit_code, 0);
  for (const char* name : {"fg", "bg", "ender"}) {
    auto rm = agent({"rm", name});
    EXPECT_EQ(rm.exit_code, 0) << name << ": " << rm.err;
  }
  expect_nothing_left();
}

TEST_P(AgentCliTest, KillInspectWaitAndForcedRemove) {
  auto run = agent({"run", "--network", "none", "-d", "--name", "sig", box_->image_ref(), "sh", "-c",
                    "trap 'echo got USR1' USR1; trap 'echo got RT' 35; echo ready; "
                    "while :; do sleep 0.1; done"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "sig-rep-1\n");
  ASSERT_THAT(logs_until("sig", "ready"), HasSubstr("ready"));
  // A name, a number and a real-time signal, addressed by name, id and prefix.
  EXPECT_EQ(agent({"kill", "-s", "USR1", "sig"}).exit_code, 0);
  EXPECT_THAT(logs_until("sig", "got USR1"), HasSubstr("got USR1"));
  EXPECT_EQ(agent({"kill", "-s", "SIGRTMIN+1", "sig-rep-1"}).exit_code, 0);
  EXPECT_THAT(logs_until("sig", "got RT"), HasSubstr("got RT"));
  auto bad = agent({"kill", "-s", "SIGNOPE", "sig"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("SIGNOPE"));
  auto missing = agent({"kill", "nobody"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("no such container: nobody"));

  auto details = inspect("sig-r");
  EXPECT_EQ(details["id"], "sig-rep-1");
  EXPECT_EQ(details["name"], "sig");
  EXPECT_EQ(details["image"], box_->image_ref());
  EXPECT_EQ(details["state"]["status"], "running");
  EXPECT_EQ(details["state"]["running"], true);
  EXPECT_GT(details["state"]["pid"].get<int>(), 0);
  EXPECT_TRUE(details["state"]["exit_code"].is_null());
  EXPECT_TRUE(details["state"]["started_at"].is_string());
  EXPECT_EQ(details["network"]["mode"], "none");
  EXPECT_EQ(details["oci_runtime"], GetParam());
  EXPECT_TRUE(fs::exists(details["log_path"].get<std::string>()));
  EXPECT_EQ(details["config"]["cmd"][0], "sh");

  auto rm = agent({"rm", "-f", "sig"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  auto gone = agent({"inspect", "sig"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_EQ(gone.out, "[]\n");
  expect_nothing_left();
}

// stop, kill and rm take several containers, as Docker's do: each is handled, an unknown one
// is reported and the others are still done, and the exit code says one failed.
TEST_P(AgentCliTest, StopKillAndRemoveTakeSeveralContainers) {
  for (const char* name : {"one", "two", "three"}) {
    auto run = agent({"run", "--network", "none", "-d", "--name", name, box_->image_ref(), "sleep",
                      "1000"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
  }
  auto stopped = agent({"stop", "-t", "1", "one", "nobody", "two"});
  EXPECT_EQ(stopped.exit_code, 1);
  EXPECT_THAT(stopped.err, HasSubstr("no such container: nobody"));
  EXPECT_EQ(inspect("one")["state"]["running"], false);
  EXPECT_EQ(inspect("two")["state"]["running"], false);
  EXPECT_EQ(inspect("three")["state"]["running"], true);
  EXPECT_EQ(agent({"kill", "nobody", "three"}).exit_code, 1);
  auto waited = agent({"wait", "three"});
  EXPECT_EQ(waited.out, "137\n") << "three was killed after nobody failed: " << waited.err;
  auto removed = agent({"rm", "-f", "one", "two", "three"});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_EQ(agent({"ps", "-a"}).out.find("-rep-"), std::string::npos);
  expect_nothing_left();
}

// Docker never prunes the layers of an image a container still uses, tagged or not.
TEST_P(AgentCliTest, ImagePruneKeepsTheLayersOfContainers) {
  auto run = agent({"run", "--network", "none", "-d", "--name", "pinned", box_->image_ref(),
                    "sleep", "1000"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto untag = agent({"image", "rm", "-f", box_->image_ref()});
  EXPECT_EQ(untag.exit_code, 0) << untag.err;
  auto prune = agent({"image", "prune"});
  EXPECT_EQ(prune.exit_code, 0) << prune.err;
  auto exec = agent({"exec", "pinned", "sh", "-c", "cat /etc/passwd >/dev/null && echo ok"});
  EXPECT_EQ(exec.exit_code, 0) << exec.err;
  EXPECT_EQ(exec.out, "ok\n");
  EXPECT_EQ(agent({"rm", "-f", "pinned"}).exit_code, 0);
  // Once the container is gone its layers are fair game.
  auto after = agent({"image", "prune"});
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_THAT(after.out, HasSubstr("snapshot"));
  expect_nothing_left();
}

// Volumes, limits, stats, info and JSON run on crun only: runc has the smoke subset (recovery,
// kill/inspect/rm, bad inputs).
class AgentCliCrunTest : public AgentCliTest {};

TEST_P(AgentCliCrunTest, VolumesCpusUserStatsAndJson) {
  const fs::path host = box_->path() / "host";
  ASSERT_TRUE(make_dirs(host));
  ASSERT_TRUE(atomic_write_file(host / "in", "from the host\n"));
  auto run = agent({"run", "--network", "none", "--rm", "-v", host.string() + ":/data:ro", "-v", "cache:/cache",
                    box_->image_ref(), "sh", "-c",
                    "cat /data/in; echo kept > /cache/f; touch /data/x 2>/dev/null || echo ro"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "from the host\nro\n");
  auto kept = read_file(box_->paths().volumes_dir() / "cache" / "f");
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_EQ(*kept, "kept\n");
  // The named volume outlives the container and is seen by the next one.
  auto again = agent({"run", "--network", "none", "--rm", "-v", "cache:/c", "-u", "1000", box_->image_ref(), "sh",
                      "-c", "cat /c/f; id -u"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, "kept\n1000\n");

  auto limited = agent({"run", "--network", "none", "-d", "--name", "lim", "--cpus", "0.5", "--memory", "64m", "-v",
                        host.string() + ":/data", box_->image_ref(), "sleep", "1000"});
  ASSERT_EQ(limited.exit_code, 0) << limited.err;
  auto details = inspect("lim");
  EXPECT_EQ(details["resources"]["cpus"], 0.5);
  EXPECT_EQ(details["resources"]["memory_bytes"], 64 << 20);
  ASSERT_EQ(details["mounts"].size(), 1u) << details["mounts"].dump();
  EXPECT_EQ(details["mounts"][0]["type"], "bind");
  EXPECT_EQ(details["mounts"][0]["source"], host.string());
  EXPECT_EQ(details["mounts"][0]["destination"], "/data");
  bool quota_seen = false;
  for (const auto& dir : testing::cgroup_dirs(box_->cgroup_parent() + "/lim-rep-1")) {
    if (auto quota = read_file(dir / "cpu.cfs_quota_us")) {
      EXPECT_EQ(trim(*quota), "50000");
      quota_seen = true;
    }
  }
  EXPECT_TRUE(quota_seen) << "no cpu.cfs_quota_us for the container";

  auto stats = agent({"stats", "--no-stream", "lim"});
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_THAT(stats.out, HasSubstr("MEM USAGE / LIMIT"));
  EXPECT_THAT(stats.out, HasSubstr("lim-rep-1"));
  EXPECT_THAT(stats.out, HasSubstr("/ 64MiB"));

  // A stream of stats ends by itself when the container does.
  auto brief = agent({"run", "--network", "none", "-d", "--name", "brief", box_->image_ref(), "sleep", "2"});
  ASSERT_EQ(brief.exit_code, 0) << brief.err;
  auto streamed = agent({"stats", "brief"});
  EXPECT_EQ(streamed.exit_code, 0) << streamed.err;
  EXPECT_THAT(streamed.out, HasSubstr("CPU TIME"));
  EXPECT_EQ(agent({"rm", "brief"}).exit_code, 0);

  auto ps = agent_json({"ps", "-a", "--format", "json"});
  ASSERT_EQ(ps.size(), 1u) << ps.dump();
  for (const char* key :
       {"id", "name", "image", "command", "status", "running", "pid", "exit_code", "created_at"}) {
    EXPECT_TRUE(ps[0].contains(key)) << key;
  }
  EXPECT_EQ(ps[0]["command"], "sleep 1000");

  auto info = agent({"info"});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.out, HasSubstr("OCI runtime:      crun"));
  EXPECT_THAT(info.out, HasSubstr("runc   usable"));
  EXPECT_THAT(info.out, HasSubstr("Cgroup layout:"));
  auto info_json = agent_json({"info", "--format", "json"});
  ASSERT_EQ(info_json.size(), 1u);
  EXPECT_EQ(info_json[0]["backend"], "linux");
  EXPECT_EQ(info_json[0]["oci_runtime"]["name"], "crun");
  EXPECT_EQ(info_json[0]["containers"], 1);
  EXPECT_EQ(info_json[0]["oci_candidates"].size(), 3u);

  EXPECT_EQ(agent({"rm", "-f", "lim"}).exit_code, 0);
  expect_nothing_left();
}

TEST_P(AgentCliTest, BadInputsFailClearlyAndLeaveNothing) {
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string message;
  };
  const std::string image = box_->image_ref();
  const std::vector<Case> cases = {
      {{"run", "--network", "none", "--rm", "localhost/no/such:image"}, 125, "localhost/no/such"},
      {{"run", "--network", "none", "--rm", image, "/no/such/binary"}, 127, "/no/such/binary"},
      {{"run", "--network", "none", "-d", "--name", "badcmd", image, "/no/such/binary"}, 127, "/no/such/binary"},
      {{"run", "--network", "none", "--rm", image, "/etc/passwd"}, 126, "ermission denied"},
      {{"run", "--network", "none", "--rm", "-u", "nobody-here", image, "true"}, 125,
       "user \"nobody-here\" not found in the image's /etc/passwd"},
      {{"run", "--network", "none", "--rm", "--memory", "1k", image, "true"}, 125, "below the minimum of 6 MiB"},
      {{"run", "--network", "none", "--rm", "--cpus", "1000", image, "true"}, 125, "1000 is more than the"},
      {{"run", "--network", "none", "--rm", "--cpus", "half", image, "true"}, 125, "--cpus"},
      {{"run", "--network", "none", "--rm", "-v", "relative/dir", image, "true"}, 125, "-v"},
      {{"run", "--network", "none", "--rm", "-v", "/no/such/host/dir:/x", image, "true"}, 125, "/no/such/host/dir"},
      {{"run", "--network", "none", "--rm", "-v", "bad name!:/x", image, "true"}, 125, "bad name!"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(fmt::format("{}", fmt::join(c.args, " ")));
    auto r = agent(c.args);
    EXPECT_EQ(r.exit_code, c.exit_code) << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message));
    expect_nothing_left();
  }
}

INSTANTIATE_TEST_SUITE_P(Runtimes, AgentCliTest, ::testing::Values("crun", "runc"),
                         [](const auto& param_info) { return param_info.param; });
INSTANTIATE_TEST_SUITE_P(Crun, AgentCliCrunTest, ::testing::Values("crun"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace zlayer
