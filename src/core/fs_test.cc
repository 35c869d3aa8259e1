#include "core/fs.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

namespace zlayer {
namespace {

namespace fs = std::filesystem;

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = make_temp_dir(fs::temp_directory_path(), "zlayer-fs-test-");
    ASSERT_TRUE(dir);
    dir_ = *dir;
  }
  void TearDown() override { ASSERT_TRUE(remove_tree(dir_)); }
  fs::path dir_;
};

TEST_F(FsTest, AtomicWriteReplacesAndLeavesNoTemp) {
  auto path = dir_ / "file.json";
  ASSERT_TRUE(atomic_write_file(path, "one"));
  ASSERT_TRUE(atomic_write_file(path, "two", 0600));
  EXPECT_EQ(*read_file(path), "two");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  int entries = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST_F(FsTest, AtomicWriteIntoMissingDirectoryFails) {
  auto r = atomic_write_file(dir_ / "missing" / "x", "data");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNotFound);
}

TEST_F(FsTest, RemoveTreeDoesNotFollowSymlinks) {
  auto outside = dir_ / "outside";
  ASSERT_TRUE(make_dirs(outside));
  ASSERT_TRUE(atomic_write_file(outside / "keep", "x"));
  auto tree = dir_ / "tree" / "a" / "b";
  ASSERT_TRUE(make_dirs(tree));
  fs::create_symlink(outside, tree / "link");
  ASSERT_TRUE(remove_tree(dir_ / "tree"));
  EXPECT_FALSE(fs::exists(dir_ / "tree"));
  EXPECT_TRUE(fs::exists(outside / "keep"));
  EXPECT_TRUE(remove_tree(dir_ / "never-existed"));
}

TEST_F(FsTest, TryLockSeesOtherHolder) {
  auto lock_path = dir_ / "locks" / "x.lock";
  auto first = FileLock::try_acquire(lock_path);
  ASSERT_TRUE(first);
  auto second = FileLock::try_acquire(lock_path);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Errc::kUnavailable);
}

TEST_F(FsTest, SharedLocksCoexistButExcludeAnExclusiveOne) {
  auto lock_path = dir_ / "content.lock";
  auto reader1 = FileLock::acquire_shared(lock_path);
  auto reader2 = FileLock::acquire_shared(lock_path);
  ASSERT_TRUE(reader1);
  ASSERT_TRUE(reader2);
  auto writer = FileLock::try_acquire(lock_path);
  ASSERT_FALSE(writer);
  EXPECT_EQ(writer.error().code, Errc::kUnavailable);
}

}  // namespace
}  // namespace zlayer
