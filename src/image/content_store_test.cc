#include "image/content_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "support/temp_dir.h"

namespace zlayer::image {
namespace {

int count_files(const std::filesystem::path& dir) {
  int n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

TEST(ContentStore, CommitVerifiesAndRenames) {
  testing::TempDir dir;
  auto store = ContentStore::open(dir.path() / "content");
  ASSERT_TRUE(store);
  auto digest = sha256_of("hello world");
  auto ingest = store->begin(digest, 11);
  ASSERT_TRUE(ingest);
  ASSERT_TRUE((*ingest)->write("hello "));
  EXPECT_FALSE(store->contains(digest));  // nothing under the real name before commit
  ASSERT_TRUE((*ingest)->write("world"));
  ASSERT_TRUE((*ingest)->commit());
  EXPECT_TRUE(store->contains(digest));
  EXPECT_EQ(*store->read(digest), "hello world");
  EXPECT_EQ(count_files(dir.path() / "content" / "ingest"), 0);
}

TEST(ContentStore, WrongDigestOrSizeLeavesNothing) {
  testing::TempDir dir;
  auto store = ContentStore::open(dir.path() / "content");
  ASSERT_TRUE(store);
  auto digest = sha256_of("expected");
  {
    auto ingest = store->begin(digest, 8);
    ASSERT_TRUE((*ingest)->write("tampered"));
    auto r = (*ingest)->commit();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("digest mismatch"), std::string::npos);
  }
  {
    auto ingest = store->begin(digest, 100);
    ASSERT_TRUE((*ingest)->write("expected"));
    auto r = (*ingest)->commit();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("size mismatch"), std::string::npos);
  }
  {
    auto ingest = store->begin(digest, 4);
    EXPECT_FALSE((*ingest)->write("expected"));  // too many bytes fails at once
  }
  {
    auto ingest = store->begin(digest, 8);
    ASSERT_TRUE((*ingest)->write("exp"));
    // abandoned (e.g. the connection dropped for good): the destructor removes the temp file
  }
  EXPECT_FALSE(store->contains(digest));
  EXPECT_EQ(count_files(dir.path() / "content" / "ingest"), 0);
  EXPECT_EQ(count_files(dir.path() / "content" / "blobs" / "sha256"), 0);
}

TEST(ContentStore, ResetStartsOverAndSharedBlobsAreStoredOnce) {
  testing::TempDir dir;
  auto store = ContentStore::open(dir.path() / "content");
  ASSERT_TRUE(store);
  auto digest = sha256_of("abc");
  auto ingest = store->begin(digest, 3);
  ASSERT_TRUE((*ingest)->write("zz"));
  ASSERT_TRUE((*ingest)->reset());
  ASSERT_TRUE((*ingest)->write("abc"));
  ASSERT_TRUE((*ingest)->commit());
  ASSERT_TRUE(store->put(digest, "abc"));
  auto list = store->list();
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), 1u);
  auto freed = store->remove_all_except({});
  ASSERT_TRUE(freed);
  EXPECT_EQ(*freed, 3);
  EXPECT_FALSE(store->contains(digest));
}

}  // namespace
}  // namespace zlayer::image
