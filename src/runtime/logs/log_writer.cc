// LogWriter: per-stream line assembly, CRI record formatting, batching into one write(2) per
// call, and size-based rotation.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <mutex>

#include "core/fs.h"
#include "core/time_format.h"
#include "runtime/logs/log_store.h"

namespace zlayer::runtime::logs {

namespace {

// "<timestamp> <stdout|stderr> <P|F> " plus the final "\n".
constexpr std::size_t kRecordOverhead = kRfc3339NanoSize + 1 + 6 + 1 + 1 + 1 + 1;
// Records of one call are written together, but never more than this at once, so a huge chunk
// does not make the writer hold a huge batch.
constexpr std::size_t kMaxBatchBytes = 256 * 1024;

std::size_t stream_index(Stream stream) { return stream == Stream::kStdout ? 0 : 1; }

std::filesystem::path rotated_path(const std::filesystem::path& path, int n) {
  auto rotated = path;
  rotated += "." + std::to_string(n);
  return rotated;
}

}  // namespace

std::string_view stream_name(Stream stream) {
  return stream == Stream::kStdout ? "stdout" : "stderr";
}

struct LogWriter::State {
  std::filesystem::path path;
  LogWriterOptions options;
  const Clock* clock = nullptr;

  std::mutex mutex;
  UniqueFd fd;
  std::uint64_t file_size = 0;
  bool closed = false;
  // The file ends inside a record (a short write before an error): the next write starts with
  // "\n" so that record stays on its own line.
  bool needs_newline = false;
  // Unterminated text per stream (index: stream_index), never more than kMaxRecordTextBytes.
  std::array<std::string, 2> pending;
  // Records formatted but not yet written.
  std::string batch;
  Rfc3339NanoFormatter formatter;
  // The current call's timestamp (a view into `formatter`).
  std::string_view timestamp;

  void begin_call() { timestamp = formatter.format(clock->wall_now()); }

  Status open_file() {
    fd.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, options.mode));
    if (!fd.valid()) return sys_error(fmt::format("opening log file {}", path.string()), errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
      return sys_error(fmt::format("stat of log file {}", path.string()), errno);
    }
    file_size = static_cast<std::uint64_t>(st.st_size);
    needs_newline = false;
    if (file_size > 0) {
      // O_APPEND ignores the offset for writes only; reading the last byte needs another fd.
      UniqueFd reader(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      char last = '\n';
      if (reader.valid() &&
          ::pread(reader.get(), &last, 1, static_cast<off_t>(file_size - 1)) == 1 && last != '\n') {
        needs_newline = true;
      }
    }
    return {};
  }

  Status write_all(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::write(fd.get(), bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return sys_error(fmt::format("writing log file {}", path.string()), errno);
      }
      if (n == 0) {
        return errorf(Errc::kResourceExhausted, "writing log file {}: no bytes accepted",
                      path.string());
      }
      file_size += static_cast<std::uint64_t>(n);
      // If a short write is followed by an error, the file ends inside a record.
      needs_newline = bytes[static_cast<std::size_t>(n) - 1] != '\n';
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }

  Status write_batch() {
    if (batch.empty()) return {};
    std::string_view bytes = batch;
    Status written = {};
    if (!fd.valid()) written = open_file();
    if (written && needs_newline) written = write_all("\n");
    if (written) written = write_all(bytes);
    batch.clear();
    return written;
  }

  // Renames path → path.1 → path.2 …, dropping the file beyond max_files, and opens a new live
  // file. Always ends with a live file open when it can; returns the first error.
  Status rotate() {
    fd.reset();
    Status renamed = {};
    if (options.max_files == 0) {
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        renamed = sys_error(fmt::format("removing log file {}", path.string()), errno);
      }
    } else {
      for (int n = options.max_files - 1; n >= 0 && renamed; --n) {
        auto from = n == 0 ? path : rotated_path(path, n);
        auto to = rotated_path(path, n + 1);
        if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
          renamed = sys_error(fmt::format("rotating log file {} to {}", from.string(), to.string()),
                              errno);
        }
      }
    }
    Status opened = open_file();
    return renamed ? opened : renamed;
  }

  // Appends one record with text `head` + `tail` to the batch, rotating first when the record
  // would push the file past max_size_bytes.
  Status emit(Stream stream, char tag, std::string_view head, std::string_view tail = {}) {
    std::size_t record_size = kRecordOverhead + head.size() + tail.size();
    std::uint64_t used = file_size + batch.size();
    if (options.max_size_bytes > 0 && used > 0 && used + record_size > options.max_size_bytes) {
      ZLAYER_CHECK(write_batch());
      ZLAYER_CHECK(rotate());
    } else if (batch.size() + record_size > kMaxBatchBytes) {
      ZLAYER_CHECK(write_batch());
    }
    batch.append(timestamp);
    batch.push_back(' ');
    batch.append(stream_name(stream));
    batch.push_back(' ');
    batch.push_back(tag);
    batch.push_back(' ');
    batch.append(head);
    batch.append(tail);
    batch.push_back('\n');
    return {};
  }

  // Stores text that has no newline yet, writing P records so no more than
  // kMaxRecordTextBytes stay buffered.
  Status add_unterminated(Stream stream, std::string_view text) {
    std::string& buffered = pending[stream_index(stream)];
    if (buffered.size() + text.size() <= kMaxRecordTextBytes) {
      buffered.append(text);
      return {};
    }
    std::size_t fill = kMaxRecordTextBytes - buffered.size();
    ZLAYER_CHECK(emit(stream, 'P', buffered, text.substr(0, fill)));
    buffered.clear();
    text.remove_prefix(fill);
    while (text.size() > kMaxRecordTextBytes) {
      ZLAYER_CHECK(emit(stream, 'P', text.substr(0, kMaxRecordTextBytes)));
      text.remove_prefix(kMaxRecordTextBytes);
    }
    buffered.assign(text);
    return {};
  }

  // Ends the line made of the buffered text + `text` (which holds no newline): the same splitting
  // into P fragments as add_unterminated, then the rest as the F record.
  Status end_line(Stream stream, std::string_view text) {
    std::string& buffered = pending[stream_index(stream)];
    if (buffered.empty() && text.size() <= kMaxRecordTextBytes) return emit(stream, 'F', text);
    ZLAYER_CHECK(add_unterminated(stream, text));
    Status ok = emit(stream, 'F', buffered);
    buffered.clear();
    return ok;
  }

  Status write_bytes(Stream stream, std::string_view bytes) {
    while (!bytes.empty()) {
      std::size_t newline = bytes.find('\n');
      if (newline == std::string_view::npos) return add_unterminated(stream, bytes);
      ZLAYER_CHECK(end_line(stream, bytes.substr(0, newline)));
      bytes.remove_prefix(newline + 1);
    }
    return {};
  }

  // Writes every stream's buffered text as one record tagged `tag`.
  Status emit_pending(char tag) {
    for (Stream stream : {Stream::kStdout, Stream::kStderr}) {
      std::string& buffered = pending[stream_index(stream)];
      if (buffered.empty()) continue;
      Status emitted = emit(stream, tag, buffered);
      buffered.clear();
      if (!emitted) return emitted;
    }
    return {};
  }

  Status closed_error() const {
    return errorf(Errc::kFailedPrecondition, "log file {} is closed", path.string());
  }
};

LogWriter::LogWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}
LogWriter::LogWriter(LogWriter&& other) noexcept = default;

LogWriter& LogWriter::operator=(LogWriter&& other) noexcept {
  if (this != &other) {
    if (state_) (void)close();
    state_ = std::move(other.state_);
  }
  return *this;
}

LogWriter::~LogWriter() {
  if (state_) (void)close();
}

Result<LogWriter> LogWriter::open(const std::filesystem::path& path, LogWriterOptions options,
                                  const Clock& clock) {
  if (options.max_files < 0) {
    return errorf(Errc::kInvalidArgument, "log file {}: max_files {} must be 0 or more",
                  path.string(), options.max_files);
  }
  auto state = std::make_unique<State>();
  state->path = path;
  state->options = options;
  state->clock = &clock;
  state->batch.reserve(kMaxRecordTextBytes + kRecordOverhead);
  for (auto& buffered : state->pending) buffered.reserve(kMaxRecordTextBytes);
  ZLAYER_CHECK(state->open_file());
  if (state->needs_newline) ZLAYER_CHECK(state->write_all("\n"));
  return LogWriter(std::move(state));
}

Status LogWriter::write(Stream stream, std::string_view bytes) {
  std::lock_guard lock(state_->mutex);
  if (state_->closed) return state_->closed_error();
  state_->begin_call();
  Status written = state_->write_bytes(stream, bytes);
  if (!written) {
    state_->batch.clear();
    return written;
  }
  return state_->write_batch();
}

Status LogWriter::flush() {
  std::lock_guard lock(state_->mutex);
  if (state_->closed) return state_->closed_error();
  state_->begin_call();
  Status emitted = state_->emit_pending('P');
  if (!emitted) {
    state_->batch.clear();
    return emitted;
  }
  return state_->write_batch();
}

Status LogWriter::close() {
  std::lock_guard lock(state_->mutex);
  if (state_->closed) return {};
  state_->closed = true;
  state_->begin_call();
  Status written = state_->emit_pending('F');
  if (written) {
    written = state_->write_batch();
  } else {
    state_->batch.clear();
  }
  state_->fd.reset();
  return written;
}

const std::filesystem::path& LogWriter::path() const { return state_->path; }

}  // namespace zlayer::runtime::logs
