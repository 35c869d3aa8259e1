#include "runtime/linux/user_resolve.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/fs.h"
#include "support/temp_dir.h"

namespace zlayer::runtime::linux {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::string_view kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "# a comment\n"
    "daemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n"
    "broken line without fields\n"
    "app:x:1000:1000:App:/home/app:/bin/sh\n"
    "dup:x:1000:3000::/home/dup:/bin/sh\n"
    "nohome:x:1001:1001\n";
constexpr std::string_view kGroup =
    "root:x:0:\n"
    "staff:x:50:other\n"
    "app:x:1000:\n"
    "web:x:2000:app,other\n"
    "audio:x:2001:app\n"
    "wheel:x:10:root\n";

void write(const fs::path& path, std::string_view content) {
  ASSERT_TRUE(make_dirs(path.parent_path()));
  ASSERT_TRUE(atomic_write_file(path, content));
}

class UserResolve : public ::testing::Test {
 protected:
  void SetUp() override {
    rootfs_ = dir_.path() / "rootfs";
    write(rootfs_ / "etc/passwd", kPasswd);
    write(rootfs_ / "etc/group", kGroup);
  }
  testing::TempDir dir_;
  fs::path rootfs_;
};

struct UserCase {
  std::string user;
  std::uint32_t uid;
  std::uint32_t gid;
  std::vector<std::uint32_t> groups;
  std::string home;
};

TEST_F(UserResolve, DockerRules) {
  const std::vector<UserCase> cases = {
      {"", 0, 0, {10}, "/root"},
      {"root", 0, 0, {10}, "/root"},
      {"app", 1000, 1000, {2000, 2001}, "/home/app"},
      {"1000", 1000, 1000, {2000, 2001}, "/home/app"},  // numeric → first passwd match
      {"4242", 4242, 0, {}, "/"},                       // numeric without entry: gid 0
      {"app:staff", 1000, 50, {}, "/home/app"},         // explicit group: no supplementary
      {"app:4000", 1000, 4000, {}, "/home/app"},        // numeric group need not exist
      {"1000:1000", 1000, 1000, {}, "/home/app"},
      {"4242:web", 4242, 2000, {}, "/"},
      {":50", 0, 50, {}, "/root"},
      {"nohome", 1001, 1001, {}, "/"},
  };
  for (const auto& c : cases) {
    auto user = resolve_user(rootfs_, c.user);
    ASSERT_TRUE(user) << c.user << ": " << user.error().message;
    EXPECT_EQ(user->uid, c.uid) << c.user;
    EXPECT_EQ(user->gid, c.gid) << c.user;
    EXPECT_EQ(user->additional_gids, c.groups) << c.user;
    EXPECT_EQ(user->home, c.home) << c.user;
  }
}

TEST_F(UserResolve, UnknownNamesAndBadIds) {
  auto user = resolve_user(rootfs_, "ghost");
  ASSERT_FALSE(user);
  EXPECT_EQ(user.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(user.error().message, "user \"ghost\" not found in the image's /etc/passwd");

  user = resolve_user(rootfs_, "app:nogroup");
  ASSERT_FALSE(user);
  EXPECT_EQ(user.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(user.error().message, "group \"nogroup\" not found in the image's /etc/group");

  user = resolve_user(rootfs_, "99999999999");
  ASSERT_FALSE(user);
  EXPECT_EQ(user.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(user.error().message, HasSubstr("out of range"));
}

TEST_F(UserResolve, MissingFilesCountAsEmpty) {
  fs::remove(rootfs_ / "etc/passwd");
  fs::remove(rootfs_ / "etc/group");
  auto user = resolve_user(rootfs_, "");
  ASSERT_TRUE(user) << user.error().message;
  EXPECT_EQ(user->uid, 0u);
  EXPECT_EQ(user->home, "/");
  user = resolve_user(rootfs_, "123:456");
  ASSERT_TRUE(user);
  EXPECT_EQ(user->uid, 123u);
  EXPECT_EQ(user->gid, 456u);
  EXPECT_FALSE(resolve_user(rootfs_, "app"));
}

TEST_F(UserResolve, MissingRootfsIsNotFound) {
  auto user = resolve_user(dir_.path() / "nope", "");
  ASSERT_FALSE(user);
  EXPECT_EQ(user.error().code, Errc::kNotFound);
}

// A hostile image points etc/passwd (or etc itself) at a host file. A host passwd that names
// "app" with uid 7777 sits next to the rootfs; if it were read, "app" would resolve to 7777.
class HostileRootfs : public UserResolve {
 protected:
  void SetUp() override {
    UserResolve::SetUp();
    host_etc_ = dir_.path() / "host-etc";
    write(host_etc_ / "passwd", "app:x:7777:7777::/hostile:/bin/sh\n");
    write(host_etc_ / "group", "hostgrp:x:7777:app\n");
    fs::remove(rootfs_ / "etc/passwd");
    fs::remove(rootfs_ / "etc/group");
  }
  // "../../…/<host path>" long enough to climb from rootfs/etc to / on the host.
  std::string climbing_link_to(const fs::path& target) const {
    std::string link;
    for (int i = 0; i < 32; ++i) link += "../";
    return link + target.relative_path().string();
  }
  void expect_host_file_not_read() {
    auto user = resolve_user(rootfs_, "app");
    EXPECT_FALSE(user) << "host passwd was read: uid " << user->uid;
    auto numeric = resolve_user(rootfs_, "7777");
    ASSERT_TRUE(numeric) << numeric.error().message;
    EXPECT_EQ(numeric->gid, 0u);
    EXPECT_EQ(numeric->home, "/");
  }
  fs::path host_etc_;
};

TEST_F(HostileRootfs, AbsoluteSymlinkToHostFile) {
  fs::create_symlink(host_etc_ / "passwd", rootfs_ / "etc/passwd");
  ASSERT_TRUE(fs::exists(rootfs_ / "etc/passwd"));  // a plain open would reach the host file
  expect_host_file_not_read();
}

TEST_F(HostileRootfs, DotDotSymlinkToHostFile) {
  fs::create_symlink(climbing_link_to(host_etc_ / "passwd"), rootfs_ / "etc/passwd");
  ASSERT_TRUE(fs::exists(rootfs_ / "etc/passwd"));
  expect_host_file_not_read();
}

TEST_F(HostileRootfs, EtcDirectorySymlinkToHost) {
  fs::remove_all(rootfs_ / "etc");
  fs::create_symlink(host_etc_, rootfs_ / "etc");
  ASSERT_TRUE(fs::exists(rootfs_ / "etc/passwd"));
  expect_host_file_not_read();
}

TEST_F(HostileRootfs, HostEtcPasswdByRelativeLinkIsALoopNotTheHostFile) {
  // "../../…/etc/passwd" reaches the host's /etc/passwd when followed naively; in the root it
  // comes back to itself: an error, never the host's root entry.
  fs::create_symlink(climbing_link_to("/etc/passwd"), rootfs_ / "etc/passwd");
  ASSERT_TRUE(fs::equivalent(rootfs_ / "etc/passwd", "/etc/passwd"));
  auto user = resolve_user(rootfs_, "root");
  ASSERT_FALSE(user);
  EXPECT_EQ(user.error().code, Errc::kInvalidArgument);
}

TEST_F(HostileRootfs, AbsoluteSymlinkInsideRootIsFollowedInRoot) {
  // Docker semantics: an absolute link is resolved against the rootfs, not refused.
  write(rootfs_ / "etc/real/passwd", "app:x:1234:1234::/home/app:/bin/sh\n");
  fs::create_symlink("/etc/real/passwd", rootfs_ / "etc/passwd");
  auto user = resolve_user(rootfs_, "app");
  ASSERT_TRUE(user) << user.error().message;
  EXPECT_EQ(user->uid, 1234u);
}

TEST_F(HostileRootfs, FifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo((rootfs_ / "etc/passwd").c_str(), 0644), 0);
  auto user = resolve_user(rootfs_, "app");
  ASSERT_FALSE(user);
  EXPECT_EQ(user.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(user.error().message, HasSubstr("not a regular file"));
}

}  // namespace
}  // namespace zlayer::runtime::linux
