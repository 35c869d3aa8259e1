// The persisted log store of containers and WASM instances (docs/design.md §6): a LogWriter
// turns raw stdout/stderr bytes into CRI (Kubernetes) log records in one file per container,
// rotated by size to `<file>.1`, `<file>.2` …; read_logs reads them back (tail, since/until,
// stream selection, timestamps, follow across rotation), joining partial records into lines.
// A LogWriter may be called from any thread (an internal mutex serialises calls); read_logs runs
// on the calling thread and may run concurrently with the writer, in this or another process.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/error.h"

namespace zlayer::runtime::logs {

enum class Stream { kStdout, kStderr };

// "stdout" / "stderr", the stream field of a CRI record.
[[nodiscard]] std::string_view stream_name(Stream stream);

// A line longer than this is stored as `P` records of exactly this many bytes of text followed
// by one `F` record with the rest (as containerd's CRI plugin does); a line of exactly this many
// bytes is one `F` record.
inline constexpr std::size_t kMaxRecordTextBytes = 16 * 1024;

struct LogWriterOptions {
  // Rotate before a record would make the file larger than this many bytes; 0 = never rotate.
  // A single record larger than the limit still goes whole into a fresh file.
  std::uint64_t max_size_bytes = 0;
  // Rotated files kept besides the live one (`<file>.1` … `<file>.<max_files>`); the oldest is
  // dropped at rotation. 0 = rotation discards the old content.
  int max_files = 3;
  // Permission bits of log files the writer creates.
  unsigned mode = 0640;
};

// Writes one container's output as CRI records:
//   `<RFC 3339, 9 fraction digits, UTC> <stdout|stderr> <P|F> <text>\n`
// Bytes are buffered per stream until a newline (only `\n` splits; `\r` and any other byte is
// stored verbatim); at most kMaxRecordTextBytes are buffered per stream. All records produced by
// one write() call carry the clock's time at that call and go to the O_APPEND file in one
// write(2) (split only when rotation falls in between), so a concurrent reader never sees a torn
// record except after a crash. Move-only; destruction calls close() and ignores its error.
class LogWriter {
 public:
  // Opens the live log file `path` for appending, creating it if missing (its directory must
  // exist). An existing file is continued (its size counts toward rotation); if it ends with
  // a torn record (a crash during a write), a `\n` is appended first so the next record starts on
  // its own line. `clock` must outlive the writer.
  // Errors: kInvalidArgument (max_files < 0), errno-mapped errors naming the file (kNotFound when
  // the directory is missing, kPermissionDenied, kResourceExhausted).
  [[nodiscard]] static Result<LogWriter> open(const std::filesystem::path& path,
                                              LogWriterOptions options, const Clock& clock);

  LogWriter(LogWriter&& other) noexcept;
  LogWriter& operator=(LogWriter&& other) noexcept;
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;
  ~LogWriter();

  // Takes raw bytes from `stream`'s pipe, in any chunking: a line may span many calls and one call
  // may hold many lines. Every complete line is written as `F` (preceded by `P` fragments when it
  // is longer than kMaxRecordTextBytes); the unterminated rest stays buffered.
  // Errors: kFailedPrecondition after close(); errno-mapped write/rename errors naming the file
  // (kResourceExhausted on ENOSPC). On error the records of this call that were not written are
  // dropped (the caller must keep draining the pipe); later calls try again.
  Status write(Stream stream, std::string_view bytes);

  // Writes each stream's buffered unterminated text as a `P` record, e.g. on a timer, so a prompt
  // without newline becomes visible; text that follows continues the same line, ending with `F`.
  // Errors: as write().
  Status flush();

  // Writes each stream's buffered unterminated text as an `F` record (the stream ended, so the
  // line did too) and closes the file. Idempotent. Errors: as write(); the file is closed anyway.
  Status close();

  // The live log file.
  [[nodiscard]] const std::filesystem::path& path() const;

 private:
  struct State;
  explicit LogWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// One line as read back: P fragments joined with their F record.
struct LogLine {
  Stream stream = Stream::kStdout;
  // Time of the line's first record (when its first byte was logged), as Docker shows it.
  Clock::WallTime time;
  // Without the trailing `\n`; with LogReadOptions::timestamps, prefixed by the time in
  // format_rfc3339_nano form and one space, as `docker logs -t` prints it.
  std::string text;
};

struct LogReadOptions {
  // Only the last `tail` lines (counted after joining and after the stream/since/until
  // filters) of what exists when reading starts; -1 = all. With follow, new lines come after.
  std::int64_t tail = -1;
  // Skip lines older than `since` / newer than `until` (inclusive bounds). With follow, the first
  // line newer than `until` ends the read.
  std::optional<Clock::WallTime> since;
  std::optional<Clock::WallTime> until;
  bool timestamps = false;
  bool show_stdout = true;
  bool show_stderr = true;
  // Keep reading as the file grows and across rotations, until should_stop() or, once
  // container_exited() has returned true, the file is read to its end. container_exited must
  // only return true after the writer has closed the log (or its process has died).
  bool follow = false;
  std::function<bool()> should_stop;
  std::function<bool()> container_exited;
  // Longest wait between two checks of should_stop/container_exited while following; a write or
  // rotation wakes the follower at once (inotify).
  std::chrono::milliseconds poll_interval{100};
  // A joined line longer than this is delivered in pieces of this size, so a writer that never
  // ends a line cannot exhaust the reader's memory.
  std::size_t max_line_bytes = 8 * 1024 * 1024;
};

struct LogReadStats {
  std::uint64_t lines = 0;      // lines given to the sink
  std::uint64_t malformed = 0;  // records skipped: unparsable, or torn (no `\n` at the end)
};

// Receives each line; an error stops the read and is returned by read_logs unchanged.
using LogSink = std::function<Status(const LogLine&)>;

// Reads the log whose live file is `path`, oldest first across rotated files (`path.N` … `path.1`,
// `path`), giving each selected line to `sink` in order of completion. Records that cannot be
// parsed are skipped and counted (never fatal); a final record without `\n` is a write in progress
// or a crash remnant and is skipped (when following, it is awaited instead). A line whose `F`
// never came (the writer died or is still in the middle of it) is delivered at the end.
// Timestamps with fewer than nine fraction digits (containerd writes RFC3339Nano) are accepted.
// A follower that falls more than max_files rotations behind loses the dropped files' lines.
// Errors: kNotFound (neither `path` nor a rotated file exists), errno-mapped read errors naming
// the file, or the sink's error. should_stop ending a follow is success.
[[nodiscard]] Result<LogReadStats> read_logs(const std::filesystem::path& path,
                                             const LogReadOptions& options, const LogSink& sink);

// One parsed CRI record; `text` points into the line given to parse_log_record.
struct LogRecord {
  Clock::WallTime time;
  Stream stream = Stream::kStdout;
  bool partial = false;  // `P` tag (tags are `:`-separated; any `P` among them counts)
  std::string_view text;
};

// Parses one record line without its `\n`. A missing text (`<time> <stream> F`) is an empty
// line. Returns nullopt for anything that is not a CRI record.
[[nodiscard]] std::optional<LogRecord> parse_log_record(std::string_view line);

}  // namespace zlayer::runtime::logs
