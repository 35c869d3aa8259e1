#include "image/snapshot.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "core/fs.h"
#include "image/manifest.h"
#include "image/unpack.h"
#include "support/tar_builder.h"
#include "support/temp_dir.h"
#include "support/tree_listing.h"

namespace zlayer::image {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::TarBuilder;
using testing::TarCompression;

class SnapshotStoreTest : public ::testing::Test {
 protected:
  SnapshotStoreTest() : store_(SnapshotStore::from_paths(tmp_.paths())) {}

  void SetUp() override {
    tar_ = TarBuilder().dir("etc").file("etc/os-release", "ID=test\n").tar();
    blob_ = tmp_.path() / "layer.tar.gz";
    ASSERT_TRUE(atomic_write_file(blob_, testing::compress(tar_, TarCompression::kGzip)));
    diff_id_ = sha256_of(tar_);
  }

  SnapshotStore::Producer unpacker(int* calls = nullptr) {
    return [this, calls](const std::filesystem::path& fs_dir) -> Result<Digest> {
      if (calls != nullptr) ++*calls;
      ZLAYER_TRY(stats, unpack_layer(fs_dir, blob_, media_type::kOciLayerGzip, "sha256:blob"));
      return stats.diff_id;
    };
  }

  [[nodiscard]] std::vector<std::string> store_entries() const {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(store_.dir(), ec)) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }

  testing::TempDir tmp_;
  SnapshotStore store_;
  std::string tar_;
  std::filesystem::path blob_;
  Digest diff_id_;
};

TEST_F(SnapshotStoreTest, MadeOnceAndReused) {
  int calls = 0;
  auto first = store_.ensure(diff_id_, unpacker(&calls));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*first, tmp_.paths().snapshots_dir() / diff_id_.hex / "fs");
  EXPECT_TRUE(store_.exists(diff_id_));
  EXPECT_THAT(testing::list_tree(*first),
              ElementsAre("etc d0755 0:0", "etc/os-release f0644 0:0 = \"ID=test\n\""));
  auto second = store_.ensure(diff_id_, unpacker(&calls));
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, *first);
  EXPECT_EQ(calls, 1);
  auto listed = store_.list();
  ASSERT_TRUE(listed);
  EXPECT_THAT(*listed, ElementsAre(diff_id_));
  EXPECT_THAT(store_entries(), ElementsAre(diff_id_.hex));
}

TEST_F(SnapshotStoreTest, DiffIdMismatchLeavesNothing) {
  auto wrong = sha256_of("something else");
  auto result = store_.ensure(wrong, unpacker());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(result.error().message,
              HasSubstr(fmt::format("diff_id mismatch: image config says {}, layer unpacks to {}",
                                    wrong.str(), diff_id_.str())));
  EXPECT_FALSE(store_.exists(wrong));
  EXPECT_THAT(store_entries(), IsEmpty());
}

TEST_F(SnapshotStoreTest, FailedUnpackLeavesNothing) {
  for (const std::string& bad :
       {std::string("\x1f\x8b\x08\x00garbage-garbage-garbage", 27), tar_.substr(0, 700)}) {
    ASSERT_TRUE(atomic_write_file(blob_, bad));
    auto result = store_.ensure(diff_id_, unpacker());
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, Errc::kInvalidArgument) << result.error().message;
    EXPECT_THAT(result.error().message, HasSubstr(diff_id_.str()));
    EXPECT_THAT(store_entries(), IsEmpty());
  }
}

TEST_F(SnapshotStoreTest, TwoProcessesEnsureTheSameLayer) {
  auto counter = tmp_.path() / "producer-runs";
  auto child = [&]() -> int {
    auto result =
        store_.ensure(diff_id_, [&](const std::filesystem::path& fs_dir) -> Result<Digest> {
          int fd = ::open(counter.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
          if (fd >= 0) {
            (void)!::write(fd, "x", 1);
            ::close(fd);
          }
          ZLAYER_TRY(stats, unpack_layer(fs_dir, blob_, media_type::kOciLayerGzip, "sha256:blob"));
          return stats.diff_id;
        });
    return result && std::filesystem::exists(*result / "etc/os-release") ? 0 : 1;
  };
  pid_t pids[2];
  for (auto& pid : pids) {
    pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) ::_exit(child());
  }
  for (auto pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  auto runs = read_file(counter);
  ASSERT_TRUE(runs);
  EXPECT_EQ(*runs, "x");  // the second process waited for the first and reused its work
  EXPECT_THAT(store_entries(), ElementsAre(diff_id_.hex));
}

TEST_F(SnapshotStoreTest, CleanTempRemovesOnlyAbandonedUnpacks) {
  auto other = sha256_of("other");
  auto abandoned = store_.dir() / ("tmp-" + diff_id_.hex + "-abc123");
  auto running = store_.dir() / ("tmp-" + other.hex + "-def456");
  ASSERT_TRUE(make_dirs(abandoned / "fs" / "etc"));
  ASSERT_TRUE(make_dirs(running / "fs"));
  auto held = FileLock::acquire(tmp_.paths().locks_dir() / "snapshots" / (other.hex + ".lock"));
  ASSERT_TRUE(held);
  ASSERT_TRUE(store_.clean_temp());
  EXPECT_FALSE(std::filesystem::exists(abandoned));
  EXPECT_TRUE(std::filesystem::exists(running));
  auto listed = store_.list();
  ASSERT_TRUE(listed);
  EXPECT_THAT(*listed, IsEmpty());
}

TEST_F(SnapshotStoreTest, Remove) {
  ASSERT_TRUE(store_.ensure(diff_id_, unpacker()));
  ASSERT_TRUE(store_.remove(diff_id_));
  EXPECT_FALSE(store_.exists(diff_id_));
  EXPECT_THAT(store_entries(), IsEmpty());
  EXPECT_TRUE(store_.remove(diff_id_));  // missing is fine
}

}  // namespace
}  // namespace zlayer::image
