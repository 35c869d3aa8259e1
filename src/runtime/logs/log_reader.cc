// read_logs: parses CRI records across rotated files, joins P fragments, applies
// tail/since/until/stream filters, and follows a growing, rotating log.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <deque>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "core/fs.h"
#include "core/time_format.h"
#include "runtime/logs/log_store.h"

namespace zlayer::runtime::logs {

namespace {

namespace fs = std::filesystem;

struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const FileId&) const = default;
};

struct LogFile {
  fs::path name;
  UniqueFd fd;
  FileId id;
};

// Opens `name` for reading; nullopt when it does not exist (it may be mid-rotation).
Result<std::optional<LogFile>> open_log_file(const fs::path& name) {
  UniqueFd fd(::open(name.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<LogFile>();
    return sys_error(fmt::format("opening log file {}", name.string()), errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return sys_error(fmt::format("stat of log file {}", name.string()), errno);
  }
  return std::optional<LogFile>(LogFile{name, std::move(fd), FileId{st.st_dev, st.st_ino}});
}

std::optional<FileId> file_id(const fs::path& name) {
  struct stat st {};
  if (::stat(name.c_str(), &st) != 0) return std::nullopt;
  return FileId{st.st_dev, st.st_ino};
}

// The rotated files `<path>.<n>` that exist now, lowest n (newest) first.
std::vector<std::pair<int, fs::path>> list_rotated(const fs::path& path) {
  std::vector<std::pair<int, fs::path>> rotated;
  fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::string prefix = path.filename().string() + ".";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.size() <= prefix.size() || name.size() > prefix.size() + 9 ||
        name.compare(0, prefix.size(), prefix) != 0) {
      continue;
    }
    std::string_view digits = std::string_view(name).substr(prefix.size());
    if (digits.find_first_not_of("0123456789") != std::string_view::npos) continue;
    rotated.emplace_back(std::stoi(std::string(digits)), entry.path());
  }
  std::sort(rotated.begin(), rotated.end());
  return rotated;
}

// Reads one file from where it left off to its current end and hands out complete lines
// (without `\n`). What follows the last `\n` is kept for the next drain.
class LineSplitter {
 public:
  explicit LineSplitter(const LogFile& file) : file_(&file) {}

  // Reads until the end of the file, or until about `max_bytes` were read; returns whether the
  // end was reached.
  template <class OnLine>
  Result<bool> drain(OnLine&& on_line, std::uint64_t& malformed,
                     std::size_t max_bytes = static_cast<std::size_t>(-1)) {
    if (!buffer_) buffer_ = std::make_unique<char[]>(kBufferBytes);
    for (std::size_t total = 0;;) {
      if (total >= max_bytes) return false;
      ssize_t n = ::pread(file_->fd.get(), buffer_.get(), kBufferBytes, offset_);
      if (n < 0) {
        if (errno == EINTR) continue;
        return sys_error(fmt::format("reading log file {}", file_->name.string()), errno);
      }
      if (n == 0) return true;
      offset_ += n;
      total += static_cast<std::size_t>(n);
      std::string_view chunk(buffer_.get(), static_cast<std::size_t>(n));
      while (!chunk.empty()) {
        std::size_t newline = chunk.find('\n');
        if (newline == std::string_view::npos) {
          if (!skipping_ && carry_.size() + chunk.size() > kMaxRecordBytes) {
            // Not a record we could have written: drop it up to its newline.
            skipping_ = true;
            carry_.clear();
          }
          if (!skipping_) carry_.append(chunk);
          break;
        }
        std::string_view piece = chunk.substr(0, newline);
        chunk.remove_prefix(newline + 1);
        if (skipping_) {
          skipping_ = false;
          ++malformed;
        } else if (carry_.empty()) {
          ZLAYER_CHECK(on_line(piece));
        } else {
          carry_.append(piece);
          ZLAYER_CHECK(on_line(std::string_view(carry_)));
          carry_.clear();
        }
      }
    }
  }

  // Bytes after the last `\n` exist: a record being written, or a crash remnant.
  [[nodiscard]] bool has_torn_tail() const { return !carry_.empty() || skipping_; }
  void drop_torn_tail() {
    carry_.clear();
    skipping_ = false;
  }

 private:
  static constexpr std::size_t kBufferBytes = 64 * 1024;
  static constexpr std::size_t kMaxRecordBytes = 1024 * 1024;
  const LogFile* file_;
  off_t offset_ = 0;
  std::string carry_;
  bool skipping_ = false;
  std::unique_ptr<char[]> buffer_;
};

class Reader {
 public:
  Reader(const fs::path& path, const LogReadOptions& options, const LogSink& sink)
      : path_(path), options_(options), sink_(sink) {}

  Result<LogReadStats> run() {
    if (options_.follow) watch_directory();
    ZLAYER_TRY(files, open_initial_files());
    if (files.empty()) {
      return errorf(Errc::kNotFound, "log file {} does not exist (nor any rotated file)",
                    path_.string());
    }
    std::size_t start = 0;
    if (options_.tail >= 0) {
      ZLAYER_TRY(first, first_file_for_tail(files));
      start = first;
      collecting_tail_ = true;
    }
    for (std::size_t i = start; i < files.size(); ++i) {
      files_.push_back(std::move(files[i]));
    }
    // Read every file but the newest completely; the newest becomes the followed file.
    for (std::size_t i = 0; i + 1 < files_.size(); ++i) {
      LineSplitter splitter(files_[i]);
      ZLAYER_CHECK(drain(splitter));
      drop_torn_tail(splitter);
    }
    current_ = &files_.back();
    splitter_.emplace(*current_);
    ZLAYER_CHECK(drain(*splitter_));
    if (!options_.follow) {
      drop_torn_tail(*splitter_);
      ZLAYER_CHECK(finish_pending());
      ZLAYER_CHECK(release_tail());
      return stats_;
    }
    ZLAYER_CHECK(release_tail());
    ZLAYER_TRY(stopped, follow());
    if (!stopped) ZLAYER_CHECK(finish_pending());
    return stats_;
  }

 private:
  struct PendingLine {
    bool active = false;
    Clock::WallTime time;
    std::string text;
  };

  [[nodiscard]] bool selected(Stream stream) const {
    return stream == Stream::kStdout ? options_.show_stdout : options_.show_stderr;
  }

  // Which file is where: (n, identity) for `path` (n = 0) and each `path.n`, n ascending.
  using Layout = std::vector<std::pair<int, FileId>>;

  Layout take_layout() const {
    Layout layout;
    if (auto live = file_id(path_)) layout.emplace_back(0, *live);
    for (const auto& [n, name] : list_rotated(path_)) {
      if (auto id = file_id(name)) layout.emplace_back(n, *id);
    }
    return layout;
  }

  fs::path name_of(int n) const {
    return n == 0 ? path_ : fs::path(path_.string() + "." + std::to_string(n));
  }

  // Opens the file at position `n` of `layout`; nullopt when another file is there by now.
  Result<std::optional<LogFile>> open_at(int n, const FileId& expected) const {
    ZLAYER_TRY(file, open_log_file(name_of(n)));
    if (!file || file->id != expected) return std::optional<LogFile>();
    return file;
  }

  // Opens the file whose identity is `expected`, wherever rotations have moved it since a layout
  // was taken; nullopt only when it is gone (dropped by retention).
  Result<std::optional<LogFile>> open_by_id(const FileId& expected) const {
    for (int attempt = 0; attempt < 16; ++attempt) {
      Layout now = take_layout();
      auto at = std::find_if(now.begin(), now.end(),
                             [&](const auto& entry) { return entry.second == expected; });
      if (at == now.end()) return std::optional<LogFile>();
      ZLAYER_TRY(file, open_at(at->first, at->second));
      if (file) return file;
    }
    return std::optional<LogFile>();
  }

  // Opens `path` and its rotated files, oldest first. The writer may rotate meanwhile, so the
  // layout is taken before and after opening, and the files are kept only when it did not change
  // (a few retries, then the last attempt is taken as it is).
  Result<std::vector<LogFile>> open_initial_files() {
    std::vector<LogFile> files;
    for (int attempt = 0; attempt < kStableAttempts; ++attempt) {
      files.clear();
      Layout before = take_layout();
      bool stable = true;
      for (auto it = before.rbegin(); it != before.rend(); ++it) {
        // A burst of rotations moves files while we open them: follow each by its identity,
        // so none in the middle is skipped.
        ZLAYER_TRY(file, open_by_id(it->second));
        if (!file) {
          stable = false;
          continue;
        }
        files.push_back(std::move(*file));
      }
      if (stable && take_layout() == before) break;
    }
    return files;
  }

  // The oldest file worth reading for `tail`: counting complete selected lines from the newest
  // file back, the first file where more than `tail` are reached. One more than `tail` is needed
  // because that file's first line may be the end of a line begun in the file before it; the
  // extra line pushes it out of the tail. Lines are in time order, so `since` cannot make an
  // older file contribute; `until` can, so only lines up to `until` are counted.
  Result<std::size_t> first_file_for_tail(const std::vector<LogFile>& files) {
    std::uint64_t counted = 0;
    std::uint64_t ignored = 0;
    auto want = static_cast<std::uint64_t>(options_.tail);
    for (std::size_t i = files.size(); i-- > 0;) {
      LineSplitter splitter(files[i]);
      ZLAYER_CHECK(splitter.drain(
          [&](std::string_view line) -> Status {
            auto record = parse_log_record(line);
            if (record && !record->partial && selected(record->stream) &&
                (!options_.until || record->time <= *options_.until)) {
              ++counted;
            }
            return {};
          },
          ignored));
      if (counted > want) return i;
    }
    return std::size_t{0};
  }

  Result<bool> drain(LineSplitter& splitter, std::size_t max_bytes = static_cast<std::size_t>(-1)) {
    return splitter.drain(
        [&](std::string_view line) -> Status {
          auto record = parse_log_record(line);
          if (!record) {
            ++stats_.malformed;
            return {};
          }
          return on_record(*record);
        },
        stats_.malformed, max_bytes);
  }

  void drop_torn_tail(LineSplitter& splitter) {
    if (splitter.has_torn_tail()) ++stats_.malformed;
    splitter.drop_torn_tail();
  }

  Status on_record(const LogRecord& record) {
    if (!selected(record.stream)) return {};
    PendingLine& pending = pending_[record.stream == Stream::kStdout ? 0 : 1];
    if (!pending.active) {
      if (!record.partial) return emit_line(record.stream, record.time, std::string(record.text));
      pending.active = true;
      pending.time = record.time;
      pending.text.clear();
    }
    pending.text.append(record.text);
    while (pending.text.size() > options_.max_line_bytes && options_.max_line_bytes > 0) {
      std::string piece = pending.text.substr(0, options_.max_line_bytes);
      pending.text.erase(0, options_.max_line_bytes);
      ZLAYER_CHECK(emit_line(record.stream, pending.time, std::move(piece)));
    }
    if (record.partial) return {};
    pending.active = false;
    return emit_line(record.stream, pending.time, std::exchange(pending.text, {}));
  }

  // Lines whose F never came: the writer died, or is still writing them.
  Status finish_pending() {
    for (Stream stream : {Stream::kStdout, Stream::kStderr}) {
      PendingLine& pending = pending_[stream == Stream::kStdout ? 0 : 1];
      if (!pending.active) continue;
      pending.active = false;
      ZLAYER_CHECK(emit_line(stream, pending.time, std::exchange(pending.text, {})));
    }
    return {};
  }

  Status emit_line(Stream stream, Clock::WallTime time, std::string text) {
    if (options_.since && time < *options_.since) return {};
    if (options_.until && time > *options_.until) {
      past_until_ = true;
      return {};
    }
    LogLine line{stream, time, std::move(text)};
    if (options_.timestamps) {
      std::string_view stamp = formatter_.format(time);
      std::string prefixed;
      prefixed.reserve(stamp.size() + 1 + line.text.size());
      prefixed.append(stamp);
      prefixed.push_back(' ');
      prefixed.append(line.text);
      line.text = std::move(prefixed);
    }
    if (collecting_tail_) {
      if (options_.tail == 0) return {};
      tail_lines_.push_back(std::move(line));
      if (tail_lines_.size() > static_cast<std::uint64_t>(options_.tail)) tail_lines_.pop_front();
      return {};
    }
    ++stats_.lines;
    return sink_(line);
  }

  Status release_tail() {
    collecting_tail_ = false;
    while (!tail_lines_.empty()) {
      ++stats_.lines;
      Status delivered = sink_(tail_lines_.front());
      tail_lines_.pop_front();
      if (!delivered) return delivered;
    }
    return {};
  }

  // Follows the log; returns true when should_stop() ended it.
  Result<bool> follow() {
    for (;;) {
      bool exited = options_.container_exited && options_.container_exited();
      // Bounded, so should_stop is polled even while a writer outpaces the reader.
      ZLAYER_TRY(at_end, drain(*splitter_, kFollowDrainBytes));
      if (past_until_) return false;
      if (!at_end) {
        if (options_.should_stop && options_.should_stop()) return true;
        continue;
      }
      auto live = file_id(path_);
      if (live && *live != current_->id) {
        // The writer has renamed our file and writes only to the new one now: what it wrote to
        // ours before that is there to read.
        ZLAYER_CHECK(drain(*splitter_));
        ZLAYER_TRY(opened, open_next_file());
        if (opened) continue;
      }
      if (exited) return false;
      if (options_.should_stop && options_.should_stop()) return true;
      wait_for_change();
    }
  }

  // After a rotation: opens the file written after ours (`path.(n-1)` when ours is now
  // `path.n`, `path` when it is `path.1`); when ours was dropped, the oldest file left. Returns
  // false when that file is not there yet or the layout keeps changing; the caller retries
  // after waiting.
  Result<bool> open_next_file() {
    for (int attempt = 0; attempt < kStableAttempts; ++attempt) {
      Layout before = take_layout();
      if (before.empty()) return false;
      const std::pair<int, FileId>* next = nullptr;
      auto ours = std::find_if(before.begin(), before.end(),
                               [&](const auto& entry) { return entry.second == current_->id; });
      if (ours == before.end()) {
        next = &before.back();
      } else if (ours != before.begin()) {
        next = &*(ours - 1);
      } else {
        return false;  // still the live file (or `path` is missing mid-rotation)
      }
      ZLAYER_TRY(file, open_at(next->first, next->second));
      if (!file || take_layout() != before) continue;
      drop_torn_tail(*splitter_);
      files_.push_back(std::move(*file));
      current_ = &files_.back();
      splitter_.emplace(*current_);
      return true;
    }
    return false;
  }

  void watch_directory() {
    inotify_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!inotify_.valid()) return;
    fs::path dir = path_.parent_path().empty() ? fs::path(".") : path_.parent_path();
    constexpr std::uint32_t kEvents =
        IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE;
    if (::inotify_add_watch(inotify_.get(), dir.c_str(), kEvents) < 0) inotify_.reset();
  }

  // Waits until the directory changes or poll_interval passes, whichever comes first; without
  // inotify, just the interval.
  void wait_for_change() {
    auto interval = std::max(options_.poll_interval, std::chrono::milliseconds(1));
    if (!inotify_.valid()) {
      std::this_thread::sleep_for(interval);
      return;
    }
    pollfd ready{inotify_.get(), POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(interval.count())) <= 0) return;
    alignas(inotify_event) std::array<char, 4096> events{};
    while (::read(inotify_.get(), events.data(), events.size()) > 0) {
    }
  }

  static constexpr int kStableAttempts = 20;
  static constexpr std::size_t kFollowDrainBytes = 4 * 1024 * 1024;

  const fs::path& path_;
  const LogReadOptions& options_;
  const LogSink& sink_;
  LogReadStats stats_;
  // Every file opened so far; a deque keeps `current_` valid as files are added.
  std::deque<LogFile> files_;
  LogFile* current_ = nullptr;
  std::optional<LineSplitter> splitter_;
  std::array<PendingLine, 2> pending_;
  bool collecting_tail_ = false;
  std::deque<LogLine> tail_lines_;
  bool past_until_ = false;
  Rfc3339NanoFormatter formatter_;
  UniqueFd inotify_;
};

}  // namespace

std::optional<LogRecord> parse_log_record(std::string_view line) {
  std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  auto time = parse_rfc3339(line.substr(0, space));
  if (!time) return std::nullopt;
  LogRecord record;
  record.time = *time;
  std::string_view rest = line.substr(space + 1);
  if (rest.starts_with("stdout ")) {
    record.stream = Stream::kStdout;
  } else if (rest.starts_with("stderr ")) {
    record.stream = Stream::kStderr;
  } else {
    return std::nullopt;
  }
  rest.remove_prefix(7);
  std::size_t tags_end = rest.find(' ');
  std::string_view tags = rest.substr(0, tags_end);
  if (tags.empty()) return std::nullopt;
  record.text = tags_end == std::string_view::npos ? std::string_view() : rest.substr(tags_end + 1);
  while (!tags.empty()) {
    std::size_t colon = tags.find(':');
    if (tags.substr(0, colon) == "P") record.partial = true;
    if (colon == std::string_view::npos) break;
    tags.remove_prefix(colon + 1);
  }
  return record;
}

Result<LogReadStats> read_logs(const std::filesystem::path& path, const LogReadOptions& options,
                               const LogSink& sink) {
  Reader reader(path, options, sink);
  return reader.run();
}

}  // namespace zlayer::runtime::logs
