#include "runtime/linux/attach.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include "support/temp_dir.h"

namespace zlayer::runtime::linux {
namespace {

TEST(AttachTest, FramesKeepTheirBoundariesAndSplitLongPayloads) {
  testing::TempDir dir;
  // Longer than sun_path (108 bytes): reached through /proc/self/fd/<dir>/<name>.
  auto deep = dir.path() / std::string(60, 'd') / std::string(60, 'e');
  ASSERT_TRUE(make_dirs(deep));
  auto path = deep / "attach.sock";
  ASSERT_GT(path.string().size(), 108u);
  auto listener = listen_unix(path, SOCK_SEQPACKET);
  ASSERT_TRUE(listener) << listener.error().message;
  auto client = connect_unix(path, SOCK_SEQPACKET);
  ASSERT_TRUE(client) << client.error().message;
  UniqueFd server(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(server.valid());

  std::string big(kMaxAttachPayload + 10, 'x');
  ASSERT_TRUE(send_frame(client->get(), AttachFrame::kStdin, "abc"));
  ASSERT_TRUE(send_frame(client->get(), AttachFrame::kStdinEof));
  ASSERT_TRUE(send_frame(server.get(), AttachFrame::kStderr, big));
  auto first = read_frame(server.get());
  ASSERT_TRUE(first && *first);
  EXPECT_EQ((*first)->type, AttachFrame::kStdin);
  EXPECT_EQ((*first)->payload, "abc");
  auto eof = read_frame(server.get());
  ASSERT_TRUE(eof && *eof);
  EXPECT_EQ((*eof)->type, AttachFrame::kStdinEof);
  EXPECT_EQ((*eof)->payload, "");
  auto part1 = read_frame(client->get());
  auto part2 = read_frame(client->get());
  ASSERT_TRUE(part1 && *part1 && part2 && *part2);
  EXPECT_EQ((*part1)->payload.size(), kMaxAttachPayload);
  EXPECT_EQ((*part1)->payload + (*part2)->payload, big);
  server.reset();
  auto closed = read_frame(client->get());
  ASSERT_TRUE(closed);
  EXPECT_FALSE(*closed);
}

TEST(AttachTest, ConnectNamesWhatIsMissing) {
  testing::TempDir dir;
  auto missing = connect_unix(dir.path() / "none.sock", SOCK_SEQPACKET);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  {
    auto listener = listen_unix(dir.path() / "gone.sock", SOCK_SEQPACKET);
    ASSERT_TRUE(listener);
  }
  auto refused = connect_unix(dir.path() / "gone.sock", SOCK_SEQPACKET);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kUnavailable);
}

TEST(AttachTest, ResizePayloadRoundTrips) {
  EXPECT_EQ(resize_payload(33, 111), "33 111");
  auto size = parse_resize("33 111");
  ASSERT_TRUE(size);
  EXPECT_EQ(size->first, 33);
  EXPECT_EQ(size->second, 111);
  for (std::string_view bad : {"", "33", "33 ", "a b", "33 111 1", "70000 1"}) {
    EXPECT_FALSE(parse_resize(bad)) << bad;
  }
}

}  // namespace
}  // namespace zlayer::runtime::linux
