#include "runtime/logs/log_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/fs.h"
#include "core/time_format.h"
#include "support/temp_dir.h"

namespace zlayer::runtime::logs {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::int64_t kStart = 1'700'000'000;  // 2023-11-14T22:13:20Z
constexpr std::string_view kT0 = "2023-11-14T22:13:20.000000000Z";
constexpr std::string_view kT1 = "2023-11-14T22:13:20.001000000Z";
constexpr std::string_view kT2 = "2023-11-14T22:13:20.002000000Z";
constexpr std::string_view kT3 = "2023-11-14T22:13:20.003000000Z";

class LogStoreTest : public ::testing::Test {
 protected:
  LogWriter open_writer(LogWriterOptions options = {}) {
    auto writer = LogWriter::open(log_, options, clock_);
    EXPECT_TRUE(writer) << writer.error().message;
    return std::move(*writer);
  }

  std::string file(const fs::path& path) {
    auto content = read_file(path);
    EXPECT_TRUE(content) << content.error().message;
    return content ? *content : std::string();
  }

  std::vector<LogLine> read(LogReadOptions options = {}, LogReadStats* stats = nullptr) {
    std::vector<LogLine> lines;
    auto result = read_logs(log_, options, [&](const LogLine& line) -> Status {
      lines.push_back(line);
      return {};
    });
    EXPECT_TRUE(result) << result.error().message;
    if (result && stats) *stats = *result;
    return lines;
  }

  std::vector<std::string> texts(LogReadOptions options = {}) {
    std::vector<std::string> out;
    for (auto& line : read(std::move(options))) out.push_back(line.text);
    return out;
  }

  zlayer::testing::TempDir dir_{"zlayer-logs-test-"};
  ManualClock clock_{Clock::WallTime(seconds(kStart))};
  fs::path log_ = dir_.path() / "container.log";
};

std::string record(std::string_view time, std::string_view stream, char tag,
                   std::string_view text) {
  return fmt::format("{} {} {} {}\n", time, stream, tag, text);
}

TEST_F(LogStoreTest, ChunkedWritesProduceExactRecords) {
  LogWriter writer = open_writer();
  // One line over many writes; the record carries the time of the write that ended it.
  ASSERT_TRUE(writer.write(Stream::kStdout, "hel"));
  clock_.advance(milliseconds(1));
  ASSERT_TRUE(writer.write(Stream::kStdout, "lo"));
  ASSERT_TRUE(writer.write(Stream::kStdout, "\nwor"));
  ASSERT_TRUE(writer.write(Stream::kStdout, "ld\n"));
  // Many lines in one write, an empty line, and bytes other than \n stored verbatim.
  clock_.advance(milliseconds(1));
  ASSERT_TRUE(writer.write(Stream::kStdout, "a\n\nprogress\r50%\r100%\tdone\x01\nb"));
  // Partial lines pending on both streams at once.
  clock_.advance(milliseconds(1));
  ASSERT_TRUE(writer.write(Stream::kStderr, "err-"));
  ASSERT_TRUE(writer.write(Stream::kStdout, "-out"));
  ASSERT_TRUE(writer.write(Stream::kStderr, "1\nerr-2"));
  ASSERT_TRUE(writer.write(Stream::kStdout, "\n"));
  // close() ends what is still pending as F lines.
  ASSERT_TRUE(writer.close());

  std::string expected = record(kT1, "stdout", 'F', "hello") + record(kT1, "stdout", 'F', "world") +
                         record(kT2, "stdout", 'F', "a") + record(kT2, "stdout", 'F', "") +
                         record(kT2, "stdout", 'F', "progress\r50%\r100%\tdone\x01") +
                         record(kT3, "stderr", 'F', "err-1") + record(kT3, "stdout", 'F', "b-out") +
                         record(kT3, "stderr", 'F', "err-2");
  EXPECT_EQ(file(log_), expected);

  EXPECT_THAT(texts(), ElementsAre("hello", "world", "a", "", "progress\r50%\r100%\tdone\x01",
                                   "err-1", "b-out", "err-2"));
}

TEST_F(LogStoreTest, FlushWritesPendingAsPartialAndTheLineContinues) {
  LogWriter writer = open_writer();
  ASSERT_TRUE(writer.write(Stream::kStdout, "Password: "));
  ASSERT_TRUE(writer.flush());
  // Flush with nothing pending writes nothing.
  ASSERT_TRUE(writer.flush());
  clock_.advance(milliseconds(1));
  ASSERT_TRUE(writer.write(Stream::kStdout, "ok\n"));
  ASSERT_TRUE(writer.close());
  ASSERT_TRUE(writer.close());  // idempotent
  EXPECT_EQ(file(log_),
            record(kT0, "stdout", 'P', "Password: ") + record(kT1, "stdout", 'F', "ok"));

  auto lines = read();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].text, "Password: ok");
  // A joined line carries the time of its first record.
  EXPECT_EQ(format_rfc3339_nano(lines[0].time), kT0);

  auto after_close = writer.write(Stream::kStdout, "x\n");
  ASSERT_FALSE(after_close);
  EXPECT_EQ(after_close.error().code, Errc::kFailedPrecondition);
}

TEST_F(LogStoreTest, LongLineIsSplitIntoPartialRecordsAndJoinedOnRead) {
  std::string line(100 * 1024, '\0');
  for (std::size_t i = 0; i < line.size(); ++i) line[i] = static_cast<char>('a' + i % 26);
  LogWriter writer = open_writer();
  // Arbitrary chunking, and a short line on the other stream in the middle.
  for (std::size_t at = 0; at < line.size(); at += 7000) {
    ASSERT_TRUE(writer.write(Stream::kStdout, std::string_view(line).substr(at, 7000)));
    if (at == 21000) {
      ASSERT_TRUE(writer.write(Stream::kStderr, "meanwhile\n"));
    }
  }
  ASSERT_TRUE(writer.write(Stream::kStdout, "\n"));
  ASSERT_TRUE(writer.close());

  std::string content = file(log_);
  std::vector<std::string_view> records;
  for (std::string_view rest = content; !rest.empty();) {
    std::size_t newline = rest.find('\n');
    ASSERT_NE(newline, std::string_view::npos);
    records.push_back(rest.substr(0, newline));
    rest.remove_prefix(newline + 1);
  }
  // 102400 = 6 × 16384 + 4096.
  ASSERT_EQ(records.size(), 8u);
  std::string rebuilt;
  int partials = 0;
  for (std::string_view text : records) {
    auto parsed = parse_log_record(text);
    ASSERT_TRUE(parsed);
    if (parsed->stream == Stream::kStderr) continue;
    EXPECT_LE(parsed->text.size(), kMaxRecordTextBytes);
    if (parsed->partial) {
      ++partials;
      EXPECT_EQ(parsed->text.size(), kMaxRecordTextBytes);
    }
    rebuilt.append(parsed->text);
  }
  EXPECT_EQ(partials, 6);
  EXPECT_TRUE(records.back().starts_with(std::string(kT0) + " stdout F "));
  EXPECT_EQ(rebuilt, line);

  auto lines = read();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "meanwhile");
  EXPECT_EQ(lines[1].stream, Stream::kStdout);
  EXPECT_EQ(lines[1].text, line);
}

TEST_F(LogStoreTest, FragmentBoundaryAtExactly16KiB) {
  LogWriter writer = open_writer();
  std::string exact(kMaxRecordTextBytes, 'x');
  ASSERT_TRUE(writer.write(Stream::kStdout, exact));
  ASSERT_TRUE(writer.write(Stream::kStdout, "\n"));
  ASSERT_TRUE(writer.write(Stream::kStdout, exact + "y\n"));
  ASSERT_TRUE(writer.close());
  EXPECT_EQ(file(log_), record(kT0, "stdout", 'F', exact) + record(kT0, "stdout", 'P', exact) +
                            record(kT0, "stdout", 'F', "y"));
  EXPECT_THAT(texts(), ElementsAre(exact, exact + "y"));
}

// Record size: 30 (time) + " stdout F " (10) + text + "\n" = 41 + text; "line-NN" → 48 bytes.
constexpr std::uint64_t kFourRecords = 4 * 48;

std::string numbered(int n) { return fmt::format("line-{:02}", n); }

std::vector<std::string> numbered_range(int first, int last) {
  std::vector<std::string> out;
  for (int n = first; n <= last; ++n) out.push_back(numbered(n));
  return out;
}

TEST_F(LogStoreTest, RotationKeepsMaxFilesAndReadsInOrder) {
  {
    LogWriter writer = open_writer({.max_size_bytes = kFourRecords, .max_files = 2});
    for (int n = 1; n <= 20; ++n) {
      ASSERT_TRUE(writer.write(Stream::kStdout, numbered(n) + "\n"));
    }
  }
  EXPECT_EQ(file(log_).size(), kFourRecords);
  EXPECT_THAT(file(log_), HasSubstr("line-17"));
  EXPECT_THAT(file(fs::path(log_.string() + ".1")), HasSubstr("line-13"));
  EXPECT_THAT(file(fs::path(log_.string() + ".2")), HasSubstr("line-09"));
  EXPECT_FALSE(fs::exists(log_.string() + ".3"));

  EXPECT_EQ(texts(), numbered_range(9, 20));
  // Tail across a rotation boundary (log.1 → log), and larger than what exists.
  EXPECT_EQ(texts({.tail = 6}), numbered_range(15, 20));
  EXPECT_EQ(texts({.tail = 9}), numbered_range(12, 20));
  EXPECT_EQ(texts({.tail = 100}), numbered_range(9, 20));
  EXPECT_TRUE(texts({.tail = 0}).empty());
}

TEST_F(LogStoreTest, RotationInsideOneWriteCall) {
  std::string all;
  for (int n = 1; n <= 10; ++n) all += numbered(n) + "\n";
  {
    LogWriter writer = open_writer({.max_size_bytes = kFourRecords, .max_files = 5});
    ASSERT_TRUE(writer.write(Stream::kStdout, all));
  }
  EXPECT_EQ(file(log_.string() + ".2").size(), kFourRecords);
  EXPECT_EQ(file(log_.string() + ".1").size(), kFourRecords);
  EXPECT_EQ(file(log_).size(), 2 * 48u);
  EXPECT_EQ(texts(), numbered_range(1, 10));
}

TEST_F(LogStoreTest, ReopenedWriterContinuesAndCountsExistingSize) {
  {
    LogWriter writer = open_writer({.max_size_bytes = kFourRecords, .max_files = 1});
    for (int n = 1; n <= 3; ++n) ASSERT_TRUE(writer.write(Stream::kStdout, numbered(n) + "\n"));
  }
  {
    LogWriter writer = open_writer({.max_size_bytes = kFourRecords, .max_files = 1});
    for (int n = 4; n <= 5; ++n) ASSERT_TRUE(writer.write(Stream::kStdout, numbered(n) + "\n"));
  }
  EXPECT_EQ(file(log_.string() + ".1").size(), kFourRecords);
  EXPECT_EQ(texts(), numbered_range(1, 5));
}

TEST_F(LogStoreTest, ZeroMaxFilesDiscardsOnRotation) {
  {
    LogWriter writer = open_writer({.max_size_bytes = kFourRecords, .max_files = 0});
    for (int n = 1; n <= 6; ++n) ASSERT_TRUE(writer.write(Stream::kStdout, numbered(n) + "\n"));
  }
  EXPECT_FALSE(fs::exists(log_.string() + ".1"));
  EXPECT_EQ(texts(), numbered_range(5, 6));
  EXPECT_FALSE(LogWriter::open(log_, {.max_files = -1}, clock_));
}

TEST_F(LogStoreTest, LongLineJoinedAcrossRotatedFiles) {
  std::string line(40 * 1024, 'z');
  {
    // Every 16 KiB fragment exceeds the limit, so each lands in a file of its own.
    LogWriter writer = open_writer({.max_size_bytes = 1024, .max_files = 5});
    ASSERT_TRUE(writer.write(Stream::kStdout, "before\n"));
    ASSERT_TRUE(writer.write(Stream::kStdout, line + "\nafter\n"));
  }
  EXPECT_TRUE(fs::exists(log_.string() + ".3"));
  EXPECT_THAT(texts(), ElementsAre("before", line, "after"));
  // The tail reaches back to the file holding the line's first fragment.
  EXPECT_THAT(texts({.tail = 2}), ElementsAre(line, "after"));
}

TEST_F(LogStoreTest, SinceUntilStreamsAndTimestamps) {
  {
    LogWriter writer = open_writer();
    for (int n = 0; n < 8; ++n) {
      ASSERT_TRUE(writer.write(n % 2 == 0 ? Stream::kStdout : Stream::kStderr, numbered(n) + "\n"));
      clock_.advance(seconds(1));
    }
  }
  auto at = [](int s) { return Clock::WallTime(seconds(kStart + s)); };
  EXPECT_EQ(texts({.since = at(3)}), numbered_range(3, 7));
  EXPECT_EQ(texts({.until = at(2)}), numbered_range(0, 2));
  EXPECT_EQ(texts({.since = at(2), .until = at(5)}), numbered_range(2, 5));
  EXPECT_THAT(texts({.show_stderr = false}),
              ElementsAre("line-00", "line-02", "line-04", "line-06"));
  EXPECT_THAT(texts({.show_stdout = false}),
              ElementsAre("line-01", "line-03", "line-05", "line-07"));
  EXPECT_TRUE(texts({.show_stdout = false, .show_stderr = false}).empty());
  // Tail counts lines after the filters.
  EXPECT_THAT(texts({.tail = 2, .show_stdout = false}), ElementsAre("line-05", "line-07"));
  EXPECT_THAT(texts({.tail = 2, .until = at(4)}), ElementsAre("line-03", "line-04"));
  EXPECT_THAT(texts({.tail = 10, .since = at(6)}), ElementsAre("line-06", "line-07"));

  auto lines = read({.tail = 2, .timestamps = true});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "2023-11-14T22:13:26.000000000Z line-06");
  EXPECT_EQ(lines[1].text, "2023-11-14T22:13:27.000000000Z line-07");
  EXPECT_EQ(lines[1].stream, Stream::kStderr);
  EXPECT_EQ(lines[1].time, at(7));
}

TEST_F(LogStoreTest, TornFinalLineAndGarbageAreSkipped) {
  std::string good = record(kT0, "stdout", 'F', "one") + record(kT1, "stderr", 'F', "two");
  ASSERT_TRUE(atomic_write_file(log_, good + "not a record\n" + "2023-11-14T22:13:20Z stdin F x\n" +
                                          std::string(kT2) + " stdout F thr"));
  LogReadStats stats;
  auto lines = read({}, &stats);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "one");
  EXPECT_EQ(lines[1].text, "two");
  EXPECT_EQ(stats.lines, 2u);
  EXPECT_EQ(stats.malformed, 3u);

  // A writer reopening the file ends the torn record first, so what follows stays readable.
  {
    LogWriter writer = open_writer();
    ASSERT_TRUE(writer.write(Stream::kStdout, "four\n"));
  }
  EXPECT_THAT(texts(), ElementsAre("one", "two", "thr", "four"));
}

TEST_F(LogStoreTest, OpenInMissingDirectoryIsNotFound) {
  auto writer = LogWriter::open(dir_.path() / "missing" / "log", {}, clock_);
  ASSERT_FALSE(writer);
  EXPECT_EQ(writer.error().code, Errc::kNotFound);
  EXPECT_THAT(writer.error().message, HasSubstr("missing/log"));
}

TEST_F(LogStoreTest, FullDiskIsReportedAndWritingResumesOnAFreshLine) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  fs::path mount_point = dir_.path() / "small";
  ASSERT_TRUE(make_dirs(mount_point));
  ASSERT_EQ(::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=16k"), 0) << errno;
  struct Unmount {
    fs::path path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point};
  ASSERT_TRUE(atomic_write_file(mount_point / "filler", std::string(8192, 'f')));

  log_ = mount_point / "container.log";
  LogWriter writer = open_writer();
  std::vector<std::string> expected;
  Status full = {};
  for (int n = 0; n < 100 && full; ++n) {
    expected.push_back(numbered(n) + std::string(1000, '.'));
    full = writer.write(Stream::kStdout, expected.back() + "\n");
  }
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, Errc::kResourceExhausted);
  EXPECT_THAT(full.error().message, HasSubstr(log_.string()));

  ASSERT_TRUE(remove_tree(mount_point / "filler"));
  ASSERT_TRUE(writer.write(Stream::kStdout, "after\n"));
  ASSERT_TRUE(writer.close());
  auto lines = texts();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "after");
  // Every line before is whole, except perhaps the one the disk filled up in.
  int truncated = 0;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    ASSERT_LT(i, expected.size());
    if (lines[i] != expected[i]) {
      ++truncated;
      EXPECT_TRUE(expected[i].starts_with(lines[i])) << lines[i];
    }
  }
  EXPECT_LE(truncated, 1);
}

TEST_F(LogStoreTest, PartialWithoutFinalRecordIsDelivered) {
  ASSERT_TRUE(atomic_write_file(log_, record(kT0, "stdout", 'P', "abc") +
                                          record(kT1, "stderr", 'F', "other") +
                                          record(kT1, "stdout", 'P', "def")));
  EXPECT_THAT(texts(), ElementsAre("other", "abcdef"));
}

TEST_F(LogStoreTest, ParsesContainerdRecords) {
  auto partial = parse_log_record("2016-10-06T00:17:09.669794202Z stdout P log content 1");
  ASSERT_TRUE(partial);
  EXPECT_TRUE(partial->partial);
  EXPECT_EQ(partial->stream, Stream::kStdout);
  EXPECT_EQ(partial->text, "log content 1");
  EXPECT_EQ(format_rfc3339_nano(partial->time), "2016-10-06T00:17:09.669794202Z");

  auto short_fraction = parse_log_record("2016-10-06T00:17:10.1Z stderr F:x  two spaces ");
  ASSERT_TRUE(short_fraction);
  EXPECT_FALSE(short_fraction->partial);
  EXPECT_EQ(short_fraction->stream, Stream::kStderr);
  EXPECT_EQ(short_fraction->text, " two spaces ");

  auto no_text = parse_log_record("2016-10-06T00:17:10Z stdout F");
  ASSERT_TRUE(no_text);
  EXPECT_EQ(no_text->text, "");

  EXPECT_FALSE(parse_log_record(""));
  EXPECT_FALSE(parse_log_record("2016-10-06T00:17:10Z"));
  EXPECT_FALSE(parse_log_record("2016-10-06T00:17:10Z stdout"));
  EXPECT_FALSE(parse_log_record("2016-10-06T00:17:10Z stdout  x"));
  EXPECT_FALSE(parse_log_record("yesterday stdout F x"));
}

TEST_F(LogStoreTest, SinkErrorStopsTheRead) {
  {
    LogWriter writer = open_writer();
    ASSERT_TRUE(writer.write(Stream::kStdout, "a\nb\nc\n"));
  }
  int calls = 0;
  auto result = read_logs(log_, {}, [&](const LogLine&) -> Status {
    ++calls;
    return make_error(Errc::kUnavailable, "stdout closed");
  });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message, "stdout closed");
  EXPECT_EQ(calls, 1);
}

TEST_F(LogStoreTest, MissingLogIsNotFound) {
  auto result = read_logs(log_, {}, [](const LogLine&) -> Status { return {}; });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::kNotFound);
  EXPECT_THAT(result.error().message, HasSubstr(log_.string()));
}

// Collects the lines a follower delivers and lets a writer thread wait for them.
class Received {
 public:
  Status add(const LogLine& line) {
    std::lock_guard lock(mutex_);
    texts_.push_back(line.text);
    changed_.notify_all();
    return {};
  }
  // Waits until `count` lines arrived. The deadline only keeps a broken follower from hanging
  // the suite; it plays no part in what is asserted.
  bool wait_for(std::size_t count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, seconds(60), [&] { return texts_.size() >= count; });
  }
  std::vector<std::string> texts() {
    std::lock_guard lock(mutex_);
    return texts_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> texts_;
};

TEST_F(LogStoreTest, FollowReadsEveryLineAcrossRotationsUntilExit) {
  constexpr int kLines = 60;
  std::string long_line(40 * 1024, 'L');
  LogWriter writer = open_writer({.max_size_bytes = kFourRecords, .max_files = 3});
  ASSERT_TRUE(writer.write(Stream::kStdout, "existing\n"));

  Received received;
  std::atomic<bool> exited{false};
  Result<LogReadStats> result = LogReadStats{};
  std::thread reader([&] {
    LogReadOptions options{.follow = true, .container_exited = [&] { return exited.load(); }};
    result = read_logs(log_, options, [&](const LogLine& line) { return received.add(line); });
  });

  ASSERT_TRUE(received.wait_for(1));
  std::vector<std::string> expected{"existing"};
  for (int n = 1; n <= kLines; ++n) {
    // Every fourth line rotates; line 30 is long enough to span three files by itself.
    std::string text = n == 30 ? long_line : numbered(n);
    // Half of the lines arrive in two pieces.
    if (n % 2 == 0) {
      ASSERT_TRUE(writer.write(Stream::kStdout, std::string_view(text).substr(0, 3)));
      ASSERT_TRUE(writer.write(Stream::kStdout, text.substr(3) + "\n"));
    } else {
      ASSERT_TRUE(writer.write(Stream::kStdout, text + "\n"));
    }
    expected.push_back(text);
    // Lock-step, so the follower is never more than max_files rotations behind.
    ASSERT_TRUE(received.wait_for(expected.size())) << "follower stuck before line " << n;
  }
  // Lines written right before the exit are still delivered.
  ASSERT_TRUE(writer.write(Stream::kStderr, "last words\nunterminated"));
  ASSERT_TRUE(writer.close());
  expected.insert(expected.end(), {"last words", "unterminated"});
  exited = true;
  reader.join();

  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->malformed, 0u);
  EXPECT_EQ(received.texts(), expected);
  EXPECT_TRUE(fs::exists(log_.string() + ".3"));
}

TEST_F(LogStoreTest, FollowBurstAcrossRotationsWithEnoughFilesKept) {
  LogWriter writer = open_writer({.max_size_bytes = kFourRecords, .max_files = 50});
  Received received;
  std::atomic<bool> exited{false};
  Result<LogReadStats> result = LogReadStats{};
  std::thread reader([&] {
    LogReadOptions options{.follow = true, .container_exited = [&] { return exited.load(); }};
    result = read_logs(log_, options, [&](const LogLine& line) { return received.add(line); });
  });
  // No lock-step: the writer may rotate many times while the follower sleeps.
  for (int n = 1; n <= 99; ++n) ASSERT_TRUE(writer.write(Stream::kStdout, numbered(n) + "\n"));
  ASSERT_TRUE(writer.close());
  exited = true;
  reader.join();
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(received.texts(), numbered_range(1, 99));
}

TEST_F(LogStoreTest, FollowWithTailThenNewLines) {
  LogWriter writer = open_writer();
  ASSERT_TRUE(writer.write(Stream::kStdout, "a\nb\nc\n"));
  Received received;
  std::atomic<bool> exited{false};
  Result<LogReadStats> result = LogReadStats{};
  std::thread reader([&] {
    LogReadOptions options{
        .tail = 1, .follow = true, .container_exited = [&] { return exited.load(); }};
    result = read_logs(log_, options, [&](const LogLine& line) { return received.add(line); });
  });
  ASSERT_TRUE(received.wait_for(1));
  ASSERT_TRUE(writer.write(Stream::kStdout, "d\n"));
  ASSERT_TRUE(received.wait_for(2));
  ASSERT_TRUE(writer.close());
  exited = true;
  reader.join();
  ASSERT_TRUE(result);
  EXPECT_THAT(received.texts(), ElementsAre("c", "d"));
}

TEST_F(LogStoreTest, FollowStopsWhenAsked) {
  LogWriter writer = open_writer();
  ASSERT_TRUE(writer.write(Stream::kStdout, "only\n"));
  Received received;
  std::atomic<bool> stop{false};
  Result<LogReadStats> result = LogReadStats{};
  std::thread reader([&] {
    LogReadOptions options{.follow = true, .should_stop = [&] { return stop.load(); }};
    result = read_logs(log_, options, [&](const LogLine& line) { return received.add(line); });
  });
  ASSERT_TRUE(received.wait_for(1));
  stop = true;
  reader.join();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->lines, 1u);
}

TEST_F(LogStoreTest, FollowEndsAtTheFirstLineAfterUntil) {
  LogWriter writer = open_writer();
  ASSERT_TRUE(writer.write(Stream::kStdout, "early\n"));
  Received received;
  Result<LogReadStats> result = LogReadStats{};
  std::thread reader([&] {
    LogReadOptions options{.until = Clock::WallTime(seconds(kStart + 5)), .follow = true};
    result = read_logs(log_, options, [&](const LogLine& line) { return received.add(line); });
  });
  ASSERT_TRUE(received.wait_for(1));
  clock_.advance(seconds(3));
  ASSERT_TRUE(writer.write(Stream::kStdout, "in range\n"));
  ASSERT_TRUE(received.wait_for(2));
  clock_.advance(seconds(3));
  ASSERT_TRUE(writer.write(Stream::kStdout, "too late\n"));
  reader.join();  // neither exit nor should_stop: the late line alone ends the follow
  ASSERT_TRUE(result);
  EXPECT_THAT(received.texts(), ElementsAre("early", "in range"));
}

TEST_F(LogStoreTest, FollowOfAnExitedContainerReadsToTheEnd) {
  {
    LogWriter writer = open_writer();
    ASSERT_TRUE(writer.write(Stream::kStdout, "x\ny\n"));
  }
  EXPECT_THAT(texts({.follow = true, .container_exited = [] { return true; }}),
              ElementsAre("x", "y"));
}

}  // namespace
}  // namespace zlayer::runtime::logs
