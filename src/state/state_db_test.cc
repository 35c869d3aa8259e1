#include "state/state_db.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "support/temp_dir.h"

namespace zlayer::state {
namespace {

TEST(StateDb, CreatesSchemaAndRoundTripsValues) {
  testing::TempDir dir;
  auto path = dir.path() / "state.db";
  {
    auto db = StateDb::open(path);
    ASSERT_TRUE(db) << db.error().message;
    ASSERT_TRUE(
        db->exec("INSERT INTO images VALUES (?1, ?2, NULL, ?3, 'linux/amd64', ?4, 'oci', 0)",
                 {std::string("docker.io/library/busybox:latest"), std::string("sha256:aa"),
                  std::string("sha256:bb"), std::int64_t{1234}}));
  }
  auto reopened = StateDb::open(path);
  ASSERT_TRUE(reopened);
  auto rows = reopened->query("SELECT name, size, index_digest FROM images");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(as_string((*rows)[0][0]), "docker.io/library/busybox:latest");
  EXPECT_EQ(as_int((*rows)[0][1]), 1234);
  EXPECT_TRUE(std::holds_alternative<std::nullptr_t>((*rows)[0][2]));
}

TEST(StateDb, MigratesAVersion1DatabaseKeepingItsRows) {
  testing::TempDir dir;
  auto path = dir.path() / "state.db";
  {
    auto db = StateDb::open(path);
    ASSERT_TRUE(db) << db.error().message;
    // Turn it back into what a version-1 agent left behind.
    ASSERT_TRUE(db->exec("DROP TABLE replicas"));
    ASSERT_TRUE(db->exec("PRAGMA user_version=1"));
    ASSERT_TRUE(
        db->exec("INSERT INTO services (deployment, name, desired_replicas) VALUES "
                 "('demo', 'web', 2)"));
  }
  auto db = StateDb::open(path);
  ASSERT_TRUE(db) << db.error().message;
  auto version = db->query("PRAGMA user_version");
  ASSERT_TRUE(version);
  EXPECT_EQ(as_int((*version)[0][0]), StateDb::kSchemaVersion);
  auto services = db->query("SELECT desired_replicas FROM services WHERE name = 'web'");
  ASSERT_TRUE(services);
  ASSERT_EQ(services->size(), 1u);
  EXPECT_EQ(as_int((*services)[0][0]), 2);
  ASSERT_TRUE(db->exec(
      "INSERT INTO replicas (deployment, service, replica, container_id, backend, desired, state, "
      "health, updated_at) VALUES ('demo', 'web', 1, 'web-rep-1', 'linux', 'running', 'running', "
      "'healthy', 0)"));
}

TEST(StateDb, FailedTransactionRollsBack) {
  testing::TempDir dir;
  auto db = StateDb::open(dir.path() / "state.db");
  ASSERT_TRUE(db);
  auto r = db->transaction([&]() -> Status {
    ZLAYER_CHECK(db->exec("INSERT INTO deployments VALUES ('d', 'spec', 'up', NULL, 0)"));
    return make_error(Errc::kCancelled, "stop");
  });
  ASSERT_FALSE(r);
  auto rows = db->query("SELECT COUNT(*) FROM deployments");
  ASSERT_TRUE(rows);
  EXPECT_EQ(as_int((*rows)[0][0]), 0);
}

TEST(StateDb, BadSqlNamesTheDatabase) {
  testing::TempDir dir;
  auto db = StateDb::open(dir.path() / "state.db");
  ASSERT_TRUE(db);
  auto r = db->query("SELEKT 1");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("state.db"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace zlayer::state

namespace zlayer::state {
namespace {

// Several processes opening one new database at once (e.g. two `zlayer-agent pull`s on a fresh
// machine) all succeed.
TEST(StateDb, ConcurrentFirstOpenFromProcesses) {
  testing::TempDir dir;
  auto path = dir.path() / "state.db";
  std::vector<pid_t> children;
  for (int i = 0; i < 6; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto db = StateDb::open(path);
      if (!db) ::_exit(1);
      auto ok = db->exec("INSERT INTO deployments VALUES (?1, 's', 'up', NULL, 0)",
                         {std::string("d") + std::to_string(i)});
      ::_exit(ok ? 0 : 2);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  }
  auto db = StateDb::open(path);
  ASSERT_TRUE(db);
  EXPECT_EQ(as_int((*db->query("SELECT COUNT(*) FROM deployments"))[0][0]), 6);
}

// One StateDb shared by threads (the deploy's executor threads share the image store's):
// concurrent statements and transactions neither fail nor lose rows.
TEST(StateDb, OneObjectSharedByThreads) {
  testing::TempDir dir;
  auto db = StateDb::open(dir.path() / "state.db");
  ASSERT_TRUE(db) << db.error().message;
  constexpr int kThreads = 8;
  constexpr int kRows = 150;
  std::atomic<int> failures{0};
  std::string first_error;
  std::mutex error_mutex;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRows; ++i) {
        auto done = db->transaction([&]() -> Status {
          ZLAYER_CHECK(db->exec(
              "INSERT INTO deployments (name, spec, desired, owner_pid, updated_at) VALUES "
              "(?1, 'x', 'up', 1, 0)",
              {fmt::format("d-{}-{}", t, i)}));
          return {};
        });
        auto rows = db->query("SELECT COUNT(*) FROM deployments");
        if (!done || !rows) {
          ++failures;
          std::lock_guard lock(error_mutex);
          if (first_error.empty()) first_error = !done ? done.error().message : rows.error().message;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0) << first_error;
  EXPECT_EQ(as_int((*db->query("SELECT COUNT(*) FROM deployments"))[0][0]), kThreads * kRows);
}

}  // namespace
}  // namespace zlayer::state
