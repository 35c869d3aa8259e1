// `zlayer-agent deploy` end to end under crun, as root: the binary runs in the foreground in a
// network namespace this test creates (its own bridge, subnet, IPAM directory, cgroup parent and
// ZLAYER_* directories), with supervision timings shortened through ZLAYER_SUPERVISION_*.
// Covered: a demo-like spec (web ×2 with an http check and an endpoint, a worker that waits for
// web to be healthy and calls it by service name through the endpoint proxy), a killed replica
// process restarted and counted, a failing health check restarted, an invalid spec that starts
// nothing and lists all its errors, SIGINT leaving no container, mount or cgroup behind, scale /
// redeploy / down through the owner's control socket (a redeploy adding a service with an
// endpoint publishes its port and names it in new containers; one with a port in use is refused
// with nothing changed), and a rolling update that never fails a request through the endpoint.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include "core/fs.h"
#include "core/subprocess.h"
#include "image/image_service.h"
#include "runtime/linux/net_test_support.h"
#include "state/state_db.h"
#include "support/busybox_store.h"
#include "support/oci_bundle.h"
#include "support/oci_runtime.h"
#include "support/temp_dir.h"

namespace zlayer {
namespace {

namespace fs = std::filesystem;
using runtime::linux::testing::http_get;
using runtime::linux::testing::random_int;
using runtime::linux::testing::TestNetns;
using std::chrono::seconds;

// A TCP socket listening on a free port of 127.0.0.1 (the port goes to `port`).
UniqueFd bound_tcp_listener(std::uint16_t& port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd.get(), 1) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return {};
  }
  port = ntohs(addr.sin_port);
  return fd;
}

struct ReplicaRow {
  std::string state;
  std::string health;
  std::int64_t restarts = 0;
};

class DeployTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounts, network namespaces, cgroups)";
    if (!fs::exists(testing::kBusyboxStatic)) GTEST_SKIP() << "needs busybox-static";
    if (!testing::have_program("crun")) GTEST_SKIP() << "needs crun";
    if (::access("/usr/lib/cni/bridge", X_OK) != 0) GTEST_SKIP() << "needs the CNI plugins";
    auto entered = TestNetns::enter();
    ASSERT_TRUE(entered) << entered.error().message;
    netns_.emplace(std::move(*entered));
    paths_ = dir_.paths();
    {
      auto images = image::ImageService::open(paths_, image::RegistryOptions::default_options());
      ASSERT_TRUE(images) << images.error().message;
      auto imported = testing::import_busybox(**images, dir_.path());
      ASSERT_TRUE(imported) << imported.error().message;
      image_ = imported->record.name;
    }
    cgroup_parent_ = testing::unique_container_id("zlayer-deploytest");
    const std::string subnet = fmt::format("10.{}.{}.0/24", random_int(1, 254), random_int(0, 254));
    env_ = {
        {"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"},
        {"ZLAYER_ROOT_DIR", paths_.root_dir.string()},
        {"ZLAYER_RUNTIME_DIR", paths_.runtime_dir.string()},
        {"ZLAYER_WASM_CACHE_DIR", paths_.wasm_cache_dir.string()},
        {"ZLAYER_OCI_RUNTIME", "crun"},
        {"ZLAYER_CGROUP_PARENT", cgroup_parent_},
        {"ZLAYER_CNI_NETWORK", "zldeploy"},
        {"ZLAYER_BRIDGE_NAME", fmt::format("zlbr{:06x}", random_int(0, 0xffffff))},
        {"ZLAYER_BRIDGE_SUBNET", subnet},
        {"ZLAYER_SUPERVISION_RESTART_BACKOFF", "200ms"},
        {"ZLAYER_SUPERVISION_RESTART_BACKOFF_MAX", "1s"},
        {"ZLAYER_SUPERVISION_EXIT_POLL_INTERVAL", "200ms"},
        {"ZLAYER_SUPERVISION_STOP_GRACE", "2s"},
    };
  }

  void TearDown() override {
    if (agent_pid_ > 0) {
      ::kill(agent_pid_, SIGINT);
      (void)wait_process(agent_pid_);
    }
    // The backend leaves the (empty) parent cgroup; it is this test's own.
    if (!cgroup_parent_.empty()) {
      auto removed = testing::remove_cgroup_dirs(cgroup_parent_);
      EXPECT_TRUE(removed) << removed.error().message;
    }
  }

  // Starts `deploy FILE` with `yaml`; its output goes to dir/deploy.log.
  void start_deploy(const std::string& yaml) {
    const fs::path spec = dir_.path() / "spec.yaml";
    ASSERT_TRUE(atomic_write_file(spec, yaml));
    log_path_ = dir_.path() / "deploy.log";
    UniqueFd log(::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ASSERT_TRUE(log.valid());
    auto pid = spawn_process({ZLAYER_AGENT_BIN, "deploy", spec.string()},
                             {.stdout_fd = log.get(), .stderr_fd = log.get(), .env = env_});
    ASSERT_TRUE(pid) << pid.error().message;
    agent_pid_ = *pid;
  }

  // SIGINT to deploy; its exit code.
  int stop_deploy() {
    ::kill(agent_pid_, SIGINT);
    auto ended = wait_process(agent_pid_);
    agent_pid_ = -1;
    EXPECT_TRUE(ended);
    return ended ? ended->exit_code : -1;
  }

  std::string deploy_log() const { return read_file(log_path_).value_or(""); }

  std::optional<ReplicaRow> replica(const std::string& service, int number) {
    auto db = state::StateDb::open(paths_.state_db());
    if (!db) return std::nullopt;
    auto rows = db->query(
        "SELECT state, health, restart_count FROM replicas WHERE service = ?1 AND replica = ?2",
        {service, static_cast<std::int64_t>(number)});
    if (!rows || rows->empty()) return std::nullopt;
    const auto& row = rows->front();
    return ReplicaRow{std::get<std::string>(row[0]), std::get<std::string>(row[1]),
                      std::get<std::int64_t>(row[2])};
  }

  // Polls state.db until `pred` holds for service/number (or `patience` ends).
  template <typename Pred>
  bool wait_for(const std::string& service, int number, Pred pred,
                std::chrono::milliseconds patience = seconds(60)) {
    const auto end = std::chrono::steady_clock::now() + patience;
    while (std::chrono::steady_clock::now() < end) {
      if (auto row = replica(service, number); row && pred(*row)) return true;
      if (agent_pid_ > 0 && ::waitpid(agent_pid_, nullptr, WNOHANG) == agent_pid_) {
        agent_pid_ = -1;
        ADD_FAILURE() << "deploy exited early:\n" << deploy_log();
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << service << "-rep-" << number << " never got there; log:\n" << deploy_log();
    return false;
  }

  static bool serving(const ReplicaRow& r) { return r.state == "running" && r.health == "healthy"; }

  SubprocessResult agent(const std::vector<std::string>& args) {
    std::vector<std::string> argv{ZLAYER_AGENT_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    auto result = run_subprocess(argv, {.env = env_, .timeout = std::chrono::minutes(1)});
    EXPECT_TRUE(result) << result.error().message;
    return result ? *result : SubprocessResult{};
  }

  // Nothing of ours is left: no container directory, overlay mount or cgroup.
  void expect_nothing_left() {
    std::error_code ec;
    const fs::path containers = paths_.containers_dir();
    if (fs::exists(containers)) {
      EXPECT_TRUE(fs::is_empty(containers, ec)) << "a container directory is left";
    }
    auto mounts = read_file("/proc/self/mountinfo");
    ASSERT_TRUE(mounts);
    EXPECT_EQ(mounts->find(paths_.root_dir.string()), std::string::npos)
        << "a mount under the root directory is left";
    for (const auto& hierarchy : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      for (const fs::path& candidate :
           {hierarchy.path() / cgroup_parent_, hierarchy.path() / "unified" / cgroup_parent_}) {
        if (!fs::is_directory(candidate, ec)) continue;
        for (const auto& child : fs::directory_iterator(candidate, ec)) {
          EXPECT_FALSE(child.is_directory()) << "cgroup left: " << child.path();
        }
      }
    }
    const auto ps = agent({"ps", "-a"});
    EXPECT_EQ(ps.out.find("-rep-"), std::string::npos) << ps.out;
  }

  testing::TempDir dir_{"zlayer-deploy-"};
  std::optional<TestNetns> netns_;
  Paths paths_;
  std::string image_;
  std::string cgroup_parent_;
  std::map<std::string, std::string> env_;
  fs::path log_path_;
  pid_t agent_pid_ = -1;
};

TEST_F(DeployTest, RunsTheDemoRestartsAKilledReplicaAndSigintRemovesEverything) {
  const int port = random_int(20000, 30000);
  start_deploy(fmt::format(R"(version: v1
deployment: demo
services:
  web:
    image: {{ name: "{0}" }}
    command:
      entrypoint: [/bin/busybox, sh, -c]
      args: ["mkdir -p /www && echo hello from $(/bin/busybox hostname) > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www"]
    endpoints: [ {{ name: http, protocol: http, port: {1}, target_port: 8080 }} ]
    scale: {{ mode: fixed, replicas: 2 }}
    health:
      start_grace: 10s
      interval: 500ms
      timeout: 1s
      retries: 2
      check: {{ type: http, url: "http://localhost:8080/", expect_status: 200 }}
  worker:
    image: {{ name: "{0}" }}
    command:
      entrypoint: [/bin/busybox, sh, -c]
      args: ["web=$(/bin/busybox awk '$2 == \"web.service\" {{ print $1; exit }}' /etc/hosts); while true; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | /bin/busybox nc -w 2 $web {1} 2>&1; sleep 0.5; done"]
    depends: [ {{ service: web, condition: healthy, timeout: 60s }} ]
)",
                           image_, port));
  ASSERT_TRUE(wait_for("web", 1, serving));
  ASSERT_TRUE(wait_for("web", 2, serving));
  ASSERT_TRUE(wait_for("worker", 1, [](const ReplicaRow& r) { return r.state == "running"; }));

  // The endpoint on the host reaches a replica.
  auto page = http_get("127.0.0.1", static_cast<std::uint16_t>(port));
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_NE(page->find("hello from"), std::string::npos) << *page;

  // The worker reached web by its service name (the proxy at the bridge gateway). Debian's
  // static busybox cannot resolve names itself (static glibc without NSS modules; its wget
  // crashes in a container), so the script looks web.service up in /etc/hosts, where the agent
  // put it, and speaks HTTP through nc.
  // A client retries (nc -w 2): on a loaded machine the first SYNs of a new container were seen
  // unanswered for several seconds (SYN-SENT), beyond TCP's own 1 s/3 s/7 s retransmits.
  bool called = false;
  for (int i = 0; i < 300 && !called; ++i) {
    called = agent({"logs", "worker-rep-1"}).out.find("hello from") != std::string::npos;
    if (!called) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!called) {
    const auto logs = agent({"logs", "worker-rep-1"});
    ADD_FAILURE() << "the worker never got a page; its log: " << logs.out.substr(0, 2000)
                  << logs.err << "\n/etc/hosts: " << agent({"exec", "worker-rep-1", "cat", "/etc/hosts"}).out
                  << "\nprocesses: " << agent({"exec", "worker-rep-1", "ps"}).out
                  << "\nps: " << agent({"ps"}).out << "\ndeploy:\n" << deploy_log();
  }

  // `ps` from another process sees the replicas.
  EXPECT_NE(agent({"ps"}).out.find("web-rep-2"), std::string::npos);

  // Kill web-rep-1's process: restarted, counted, serving again.
  auto pid_text = read_file(paths_.containers_dir() / "web-rep-1" / "init.pid");
  ASSERT_TRUE(pid_text) << pid_text.error().message;
  ASSERT_EQ(::kill(std::stoi(*pid_text), SIGKILL), 0);
  EXPECT_TRUE(wait_for("web", 1, [](const ReplicaRow& r) {
    return r.restarts >= 1 && r.state == "running" && r.health == "healthy";
  }));

  EXPECT_EQ(stop_deploy(), 0) << deploy_log();
  expect_nothing_left();
}

TEST_F(DeployTest, AFailingHealthCheckRestartsTheReplica) {
  start_deploy(fmt::format(R"(version: v1
deployment: sick
services:
  sick:
    image: {{ name: "{}" }}
    command: {{ entrypoint: [/bin/busybox, sleep, "1000"] }}
    health:
      start_grace: 0s
      interval: 300ms
      timeout: 500ms
      retries: 1
      check: {{ type: tcp, port: 9 }}
)",
                           image_));
  EXPECT_TRUE(wait_for("sick", 1, [](const ReplicaRow& r) { return r.restarts >= 1; }));
  EXPECT_NE(deploy_log().find("liveness"), std::string::npos) << deploy_log();
  EXPECT_EQ(stop_deploy(), 0) << deploy_log();
  expect_nothing_left();
}

// The owner is SIGKILLed: its containers keep running, and the next `deploy` of the spec takes
// them over (the running one untouched, the one that died meanwhile restarted and counted); with
// that owner killed too, `down` takes the deployment over itself and removes everything.
TEST_F(DeployTest, ANewOwnerTakesOverAfterTheOwnerIsKilledAndDownWorksWithoutOne) {
  const std::string spec = fmt::format(R"(version: v1
deployment: orphan
services:
  web:
    image: {{ name: "{}" }}
    command:
      entrypoint: [/bin/busybox, sh, -c]
      args: ["mkdir -p /www && echo up > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www"]
    scale: {{ mode: fixed, replicas: 2 }}
    health:
      interval: 300ms
      timeout: 1s
      retries: 2
      check: {{ type: tcp, port: 8080 }}
)",
                                       image_);
  start_deploy(spec);
  ASSERT_TRUE(wait_for("web", 1, serving));
  ASSERT_TRUE(wait_for("web", 2, serving));
  const auto init_pid = [&](int n) {
    return read_file(paths_.containers_dir() / fmt::format("web-rep-{}", n) / "init.pid")
        .value_or("");
  };
  const std::string kept_pid = init_pid(1);
  ASSERT_FALSE(kept_pid.empty());

  // The owner dies without cleaning up.
  ASSERT_EQ(::kill(agent_pid_, SIGKILL), 0);
  ASSERT_TRUE(wait_process(agent_pid_));
  agent_pid_ = -1;
  EXPECT_NE(agent({"ps"}).out.find("web-rep-1"), std::string::npos) << "containers outlive it";
  const auto scaled = agent({"scale", "orphan", "web", "3"});
  EXPECT_NE(scaled.exit_code, 0) << "no owner to scale: " << scaled.out;
  // web-rep-2 dies while nobody supervises it.
  const std::string crashed_pid = init_pid(2);
  ASSERT_FALSE(crashed_pid.empty());
  ASSERT_EQ(::kill(std::stoi(crashed_pid), SIGKILL), 0);

  start_deploy(spec);
  EXPECT_TRUE(wait_for("web", 2, [](const ReplicaRow& r) { return r.restarts == 1 && serving(r); }));
  EXPECT_TRUE(wait_for("web", 1, serving));
  EXPECT_EQ(init_pid(1), kept_pid) << "the running replica was taken over, not recreated";
  EXPECT_EQ(replica("web", 1)->restarts, 0);
  EXPECT_NE(deploy_log().find("taking over 2 replica(s)"), std::string::npos) << deploy_log();

  // Kill this owner too; `down` finds no owner, takes over and removes everything.
  ASSERT_EQ(::kill(agent_pid_, SIGKILL), 0);
  ASSERT_TRUE(wait_process(agent_pid_));
  agent_pid_ = -1;
  const auto down = agent({"down", "orphan"});
  EXPECT_EQ(down.exit_code, 0) << down.out << down.err;
  EXPECT_NE(down.out.find("deployment orphan down"), std::string::npos) << down.out;
  expect_nothing_left();
  const auto again = agent({"down", "orphan"});
  EXPECT_NE(again.exit_code, 0) << "nothing left to take down";
}

// Ownership: scale, a second deploy and down go to the running deploy over its control socket.
TEST_F(DeployTest, ScaleRedeployAndDownGoToTheOwner) {
  const std::string spec = R"(version: v1
deployment: owned
services:
  app:
    image: {{ name: "{}" }}
    command: {{ entrypoint: [/bin/busybox, sleep, "1000"], args: [] }}
    env: {{ GENERATION: "{}" }}
    scale: {{ mode: fixed, replicas: 2 }}
)";
  start_deploy(fmt::format(fmt::runtime(spec), image_, 1));
  const auto running = [](const ReplicaRow& r) { return r.state == "running"; };
  ASSERT_TRUE(wait_for("app", 2, running));

  auto up = agent({"scale", "owned", "app", "3"});
  EXPECT_EQ(up.exit_code, 0) << up.err;
  EXPECT_TRUE(wait_for("app", 3, running));

  auto down_to_one = agent({"scale", "owned", "app", "1"});
  EXPECT_EQ(down_to_one.exit_code, 0) << down_to_one.err;
  const auto end = std::chrono::steady_clock::now() + seconds(60);
  while ((replica("app", 2) || replica("app", 3)) && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_FALSE(replica("app", 2));
  EXPECT_FALSE(replica("app", 3));
  EXPECT_TRUE(replica("app", 1));

  auto unknown = agent({"scale", "owned", "nosuch", "2"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("nosuch"), std::string::npos) << unknown.err;

  // A second deploy of the same deployment is handed to the owner: a rolling update.
  const fs::path changed = dir_.path() / "changed.yaml";
  ASSERT_TRUE(atomic_write_file(changed, fmt::format(fmt::runtime(spec), image_, 2)));
  auto redeploy = agent({"deploy", changed.string()});
  EXPECT_EQ(redeploy.exit_code, 0) << redeploy.err;
  EXPECT_NE(redeploy.out.find("handed to its running owner"), std::string::npos) << redeploy.out;

  // A redeploy that adds a service with an endpoint: the owner opens its port, and the new
  // service's name resolves in containers created afterwards.
  const int web_port = random_int(40001, 50000);
  const std::string web = fmt::format(R"(
  web:
    image: {{ name: "{}" }}
    command:
      entrypoint: [/bin/busybox, sh, -c]
      args: ["mkdir -p /www && echo added by redeploy > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www"]
    endpoints: [ {{ name: http, protocol: http, port: {}, target_port: 8080 }} ]
    health:
      interval: 300ms
      timeout: 1s
      retries: 1
      check: {{ type: http, url: "http://localhost:8080/", expect_status: 200 }}
)",
                                      image_, web_port);
  const fs::path added = dir_.path() / "added.yaml";
  ASSERT_TRUE(atomic_write_file(added, fmt::format(fmt::runtime(spec), image_, 2) + web));
  auto add = agent({"deploy", added.string()});
  EXPECT_EQ(add.exit_code, 0) << add.err;
  ASSERT_TRUE(wait_for("web", 1, serving));
  auto page = http_get("127.0.0.1", static_cast<std::uint16_t>(web_port));
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_NE(page->find("added by redeploy"), std::string::npos) << *page;
  auto hosts = read_file(paths_.containers_dir() / "web-rep-1" / "hosts");
  ASSERT_TRUE(hosts) << hosts.error().message;
  EXPECT_NE(hosts->find("web.service"), std::string::npos) << *hosts;

  // An endpoint on a port in use refuses the redeploy, naming it, and changes nothing.
  std::uint16_t busy = 0;
  UniqueFd holder = bound_tcp_listener(busy);
  ASSERT_TRUE(holder.valid());
  const fs::path clash = dir_.path() / "clash.yaml";
  ASSERT_TRUE(atomic_write_file(
      clash,
      fmt::format(fmt::runtime(spec), image_, 3) +
          fmt::format("    endpoints: [ {{ name: clash, protocol: tcp, port: {} }} ]\n", busy) +
          web));
  auto refused = agent({"deploy", clash.string()});
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_NE(refused.err.find("nothing changed"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("endpoint app/clash"), std::string::npos) << refused.err;
  EXPECT_TRUE(http_get("127.0.0.1", static_cast<std::uint16_t>(web_port)));

  auto down = agent({"down", "owned"});
  EXPECT_EQ(down.exit_code, 0) << down.err;
  auto ended = wait_process(agent_pid_);
  agent_pid_ = -1;
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->exit_code, 0) << deploy_log();
  expect_nothing_left();
}

// A rolling update (a second deploy with a changed env) while a client polls the endpoint: every
// request is answered, old replicas are replaced by new numbers.
TEST_F(DeployTest, RollingUpdateKeepsTheEndpointServing) {
  const int port = random_int(30001, 40000);
  const std::string spec = R"(version: v1
deployment: rolling
services:
  web:
    image: {{ name: "{0}" }}
    command:
      entrypoint: [/bin/busybox, sh, -c]
      args: ["mkdir -p /www && echo generation {2} > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www"]
    env: {{ GENERATION: "{2}" }}
    endpoints: [ {{ name: http, protocol: http, port: {1}, target_port: 8080 }} ]
    scale: {{ mode: fixed, replicas: 2 }}
    health:
      interval: 300ms
      timeout: 1s
      retries: 1
      check: {{ type: http, url: "http://localhost:8080/", expect_status: 200 }}
)";
  start_deploy(fmt::format(fmt::runtime(spec), image_, port, 1));
  ASSERT_TRUE(wait_for("web", 1, serving));
  ASSERT_TRUE(wait_for("web", 2, serving));

  // The client runs on a thread of this test's network namespace (threads inherit it).
  std::atomic<bool> polling{true};
  std::atomic<int> answered{0};
  std::atomic<int> failed{0};
  std::string last_failure;
  std::thread client([&] {
    while (polling) {
      auto body =
          http_get("127.0.0.1", static_cast<std::uint16_t>(port), std::chrono::milliseconds(0));
      if (body && body->find("generation") != std::string::npos) {
        ++answered;
      } else {
        ++failed;
        last_failure = body ? "body: " + *body : body.error().message;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });

  const fs::path changed = dir_.path() / "changed.yaml";
  ASSERT_TRUE(atomic_write_file(changed, fmt::format(fmt::runtime(spec), image_, port, 2)));
  auto redeploy = agent({"deploy", changed.string()});
  EXPECT_EQ(redeploy.exit_code, 0) << redeploy.err;
  // Replacements take new numbers (3, 4); the old ones go.
  EXPECT_TRUE(wait_for("web", 4, serving, seconds(90)));
  const auto end = std::chrono::steady_clock::now() + seconds(60);
  while ((replica("web", 1) || replica("web", 2)) && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  polling = false;
  client.join();
  EXPECT_FALSE(replica("web", 1));
  EXPECT_FALSE(replica("web", 2));
  EXPECT_GT(answered.load(), 0);
  EXPECT_EQ(failed.load(), 0) << "last failure: " << last_failure << "\n" << deploy_log();
  auto page = http_get("127.0.0.1", static_cast<std::uint16_t>(port));
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_NE(page->find("generation 2"), std::string::npos) << *page;

  EXPECT_EQ(stop_deploy(), 0) << deploy_log();
  expect_nothing_left();
}

TEST_F(DeployTest, AnInvalidSpecStartsNothingAndListsEveryError) {
  const fs::path spec = dir_.path() / "bad.yaml";
  ASSERT_TRUE(atomic_write_file(spec, fmt::format(R"(version: v1
deployment: bad
services:
  web:
    image: {{ name: "{}" }}
    resources: {{ memory: 512MB }}
    depends: [ {{ service: nowhere }} ]
    colour: blue
)",
                                                  image_)));
  auto result = agent({"deploy", spec.string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("services.web.resources.memory"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("nowhere"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("colour"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("nothing started"), std::string::npos) << result.err;
  expect_nothing_left();
}

}  // namespace
}  // namespace zlayer
