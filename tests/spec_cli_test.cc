// `deploy --dry-run` and `secret set|ls|rm` through the real zlayer-agent binary.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/fs.h"
#include "core/subprocess.h"
#include "support/temp_dir.h"

namespace zlayer {
namespace {

namespace fs = std::filesystem;

class SpecCliTest : public ::testing::Test {
 protected:
  SubprocessResult agent(std::vector<std::string> args, std::string input = {}) {
    args.insert(args.begin(), ZLAYER_AGENT_BIN);
    auto p = dir_.paths();
    std::map<std::string, std::string> env{{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"},
                                           {"ZLAYER_ROOT_DIR", p.root_dir.string()},
                                           {"ZLAYER_RUNTIME_DIR", p.runtime_dir.string()},
                                           {"HOME", dir_.path().string()}};
    auto result = run_subprocess(
        args, {.input = std::move(input), .env = env, .timeout = std::chrono::minutes(1)});
    EXPECT_TRUE(result) << result.error().message;
    return result ? *result : SubprocessResult{};
  }
  fs::path write_spec(const std::string& text) {
    auto path = dir_.path() / "spec.yaml";
    EXPECT_TRUE(atomic_write_file(path, text));
    return path;
  }
  testing::TempDir dir_;
};

TEST_F(SpecCliTest, DryRunPrintsPlanInDependencyOrder) {
  auto path = write_spec(R"(
version: v1
deployment: demo
services:
  worker:
    image: { name: "busybox:latest" }
    depends: [ { service: web, condition: healthy, timeout: 30s } ]
  web:
    image: { name: "busybox:latest" }
    endpoints: [ { name: http, protocol: http, port: 8080, target_port: 80, expose: public } ]
    scale: { mode: fixed, replicas: 2 }
  fn:
    image: { name: "127.0.0.1:5000/demo/hello:wasm" }
  nightly:
    rtype: cron
    schedule: "0 0 3 * * *"
    image: { name: "busybox:latest" }
    node_selector: { labels: { disk: ssd } }
)");
  auto result = agent({"deploy", "--dry-run", path.string()});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("deployment demo: 4 services, start order:"), std::string::npos)
      << result.out;
  // web before worker; fn and nightly have no order and sort by name.
  auto web = result.out.find(
      "web                  service  2         container  http http :8080->80 public");
  auto worker = result.out.find("worker               service  1         container  -");
  ASSERT_NE(web, std::string::npos) << result.out;
  ASSERT_NE(worker, std::string::npos) << result.out;
  EXPECT_LT(web, worker);
  EXPECT_NE(result.out.find("fn                   service  1         wasm"), std::string::npos);
  EXPECT_NE(result.out.find(
                "nightly: cron \"0 0 3 * * *\" — validated; cron jobs are not run by deploy yet"),
            std::string::npos);
  EXPECT_NE(result.out.find("worker: waits for web to be healthy (timeout 30s, then fail)"),
            std::string::npos);
  EXPECT_NE(
      result.err.find(":18: warning: services.nightly.node_selector: only meaningful in a cluster"),
      std::string::npos)
      << result.err;
}

TEST_F(SpecCliTest, InvalidSpecListsEveryProblemAndStartsNothing) {
  auto path = write_spec(R"(
version: v1
deployment: demo
services:
  api:
    image: { name: api }
    resources: { memory: 512MB }
    depends: [ { service: db } ]
    endpoints: [ { name: http, protocol: http, port: 0 } ]
  db:
    image: { name: db }
    depends: [ { service: api } ]
    health: { start_grace: soon, check: { type: tcp } }
)");
  auto result = agent({"deploy", "--dry-run", path.string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "");
  std::string file = path.string();
  EXPECT_EQ(result.err,
            file +
                ":13: error: services.db.health.start_grace: \"soon\" is not a duration like "
                "30s, 1m30s or 500ms\n" +
                file +
                ":7: error: services.api.resources.memory: \"512MB\" is not a quantity "
                "like 512Mi\n" +
                file + ":9: error: services.api.endpoints[0].port: 0 is not a port (1-65535)\n" +
                file + ":8: error: services.api.depends: dependency cycle api -> db -> api\n" +
                "zlayer-agent: " + file +
                ": invalid deployment spec (4 problems); nothing started\n");
  EXPECT_FALSE(fs::exists(dir_.paths().root_dir / "state.db"));

  auto missing = agent({"deploy", "--dry-run", (dir_.path() / "nope.yaml").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nope.yaml"), std::string::npos) << missing.err;
}

TEST_F(SpecCliTest, SecretsSetListRemove) {
  EXPECT_EQ(agent({"secret", "set", "--deployment", "demo", "api-key"}, "s3cret\n").exit_code, 0);
  EXPECT_EQ(
      agent({"secret", "set", "--deployment", "demo", "--service", "web", "token"}, "t").exit_code,
      0);
  EXPECT_EQ(agent({"secret", "set", "shared"}, "g").exit_code, 0);
  auto stored = read_file(dir_.paths().root_dir / "secrets/deployments/demo/values/api-key");
  ASSERT_TRUE(stored);
  EXPECT_EQ(*stored, "s3cret");  // one trailing newline dropped

  auto json = agent({"secret", "ls", "--format", "json"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(json.out, R"([{"deployment":null,"name":"shared","service":null},)"
                      R"({"deployment":"demo","name":"api-key","service":null},)"
                      R"({"deployment":"demo","name":"token","service":"web"}])"
                      "\n");
  auto table = agent({"secret", "ls"});
  EXPECT_EQ(table.out.find("s3cret"), std::string::npos);

  auto removed = agent({"secret", "rm", "--deployment", "demo", "api-key"});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  auto again = agent({"secret", "rm", "--deployment", "demo", "api-key"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.err, "zlayer-agent: secret \"api-key\" not found in deployment demo\n");
  auto bad = agent({"secret", "set", "--service", "web", "x"}, "v");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.err, "zlayer-agent: a service scope (\"web\") needs a deployment\n");
}

}  // namespace
}  // namespace zlayer
