// Unit tests of the WASI preview-1 host functions, called the way the engine calls them (raw
// argument values, a GuestMemory) with a vector-backed memory and real preopened directories.
#include "wasm/wasi/wasi.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/fs.h"
#include "support/temp_dir.h"
#include "wasm/wasi/abi.h"

namespace zlayer::wasm::wasi {
namespace {

namespace fs = std::filesystem;
using namespace abi;  // NOLINT(google-build-using-namespace)

class VectorMemory final : public GuestMemory {
 public:
  explicit VectorMemory(std::size_t bytes) : bytes_(bytes) {}
  std::uint8_t* data() override { return bytes_.empty() ? nullptr : bytes_.data(); }
  [[nodiscard]] std::uint64_t size() const override { return bytes_.size(); }

 private:
  std::vector<std::uint8_t> bytes_;
};

constexpr std::uint32_t kMemorySize = 1 << 16;
constexpr std::uint32_t kOutOfBounds = kMemorySize - 2;  // any struct stored here overflows
constexpr RawValue kAllRights = kDirectoryRights | kFileRights;
constexpr RawValue kReadRights = kRightFdRead | kRightFdSeek | kRightFdTell | kRightFdFilestatGet |
                                 kRightFdReaddir | kRightPollFdReadwrite;
constexpr RawValue kRwRights = kReadRights | kRightFdWrite | kRightFdFilestatSetSize |
                               kRightFdFilestatSetTimes | kRightFdAdvise | kRightFdAllocate |
                               kRightFdSync | kRightFdDatasync | kRightFdFdstatSetFlags;
constexpr std::uint32_t kSandbox = 3;   // preopen "/sandbox" (read-write)
constexpr std::uint32_t kReadOnly = 4;  // preopen "/ro" (read-only)

class WasiTest : public ::testing::Test {
 protected:
  WasiTest() {
    fs::create_directories(sandbox());
    fs::create_directories(ro());
    fs::create_directories(tmp_.path() / "outside");
    std::ofstream(tmp_.path() / "outside" / "secret") << "host secret";
    std::ofstream(ro() / "readme") << "read only";
  }

  fs::path sandbox() const { return tmp_.path() / "sandbox"; }
  fs::path ro() const { return tmp_.path() / "ro"; }

  void start(WasiConfig config = {}) {
    config.preopens = {{sandbox(), "/sandbox", false}, {ro(), "/ro", true}};
    auto created = WasiContext::create(std::move(config));
    ASSERT_TRUE(created) << created.error().message;
    context_ = *created;
    for (auto& imp : context_->imports()) imports_.push_back(std::move(imp));
  }
  void SetUp() override {
    WasiConfig config;
    config.args = {"prog.wasm", "one", "two"};
    config.env = {"A=1", "LONGER=value"};
    config.stdin_bytes = "input bytes";
    config.stdout_sink = [this](std::string_view b) { stdout_ += b; };
    config.stderr_sink = [this](std::string_view b) { stderr_ += b; };
    config.clock = &clock_;
    start(std::move(config));
  }

  const HostImport& find(std::string_view name, std::string_view module) {
    for (const auto& imp : imports_) {
      if (imp.name == name && imp.module == module) return imp;
    }
    ADD_FAILURE() << "no import " << module << "." << name;
    return imports_.front();
  }
  // Calls `name` like the engine does and returns its errno.
  std::uint32_t call(std::string_view name, std::vector<RawValue> args,
                     std::string_view module = "wasi_snapshot_preview1") {
    const HostImport& imp = find(name, module);
    EXPECT_EQ(args.size(), imp.sig.params.size()) << name;
    RawValue result = 0xdeadbeef;
    auto abort = imp.fn(memory_, args.data(), &result);
    EXPECT_FALSE(abort.has_value()) << name;
    return static_cast<std::uint32_t>(result);
  }

  // A bump allocator in guest memory.
  std::uint32_t alloc(std::uint32_t bytes) {
    next_ = (next_ + 7) & ~7U;
    std::uint32_t at = next_;
    next_ += bytes;
    EXPECT_LT(next_, kOutOfBounds);
    std::memset(memory_.range(at, bytes), 0, bytes);
    return at;
  }
  std::uint32_t put(std::string_view s) {
    std::uint32_t at = alloc(static_cast<std::uint32_t>(s.size()) + 1);
    std::memcpy(memory_.range(at, s.size()), s.data(), s.size());
    return at;
  }
  template <class T>
  T get(std::uint64_t at) {
    T v{};
    EXPECT_TRUE(memory_.load(at, v));
    return v;
  }
  std::string get_string(std::uint32_t at, std::uint32_t len) {
    return std::string(reinterpret_cast<const char*>(memory_.range(at, len)), len);
  }
  // One iovec over a fresh buffer holding `content` (or `capacity` zero bytes).
  std::uint32_t iovec(std::string_view content, std::uint32_t capacity = 0) {
    std::uint32_t len =
        std::max<std::uint32_t>(static_cast<std::uint32_t>(content.size()), capacity);
    std::uint32_t buf = alloc(len);
    std::memcpy(memory_.range(buf, content.size()), content.data(), content.size());
    std::uint32_t iov = alloc(8);
    memory_.store(iov, buf);
    memory_.store(iov + 4, len);
    return iov;
  }

  // path_open returning errno; the new fd in *fd.
  std::uint32_t open(std::uint32_t dir, std::string_view path, std::uint32_t oflags,
                     RawValue rights, std::uint32_t* fd = nullptr, std::uint32_t fdflags = 0,
                     std::uint32_t lookup = kLookupSymlinkFollow) {
    std::uint32_t p = put(path);
    std::uint32_t out = alloc(4);
    std::uint32_t err = call("path_open", {dir, lookup, p, static_cast<RawValue>(path.size()),
                                           oflags, rights, rights, fdflags, out});
    if (fd != nullptr) *fd = get<std::uint32_t>(out);
    return err;
  }
  std::uint32_t path_call(std::string_view name, std::uint32_t dir, std::string_view path) {
    return call(name, {dir, put(path), static_cast<RawValue>(path.size())});
  }
  std::uint32_t write_fd(std::uint32_t fd, std::string_view data) {
    return call("fd_write", {fd, iovec(data), 1, alloc(4)});
  }
  std::string read_fd(std::uint32_t fd, std::uint32_t capacity = 256) {
    std::uint32_t iov = iovec("", capacity);
    std::uint32_t n = alloc(4);
    EXPECT_EQ(call("fd_read", {fd, iov, 1, n}), kSuccess);
    return get_string(get<std::uint32_t>(iov), get<std::uint32_t>(n));
  }

  testing::TempDir tmp_{"zlayer-wasi-"};
  ManualClock clock_;
  VectorMemory memory_{kMemorySize};
  std::uint32_t next_ = 64;
  std::shared_ptr<WasiContext> context_;
  std::vector<HostImport> imports_;
  std::string stdout_;
  std::string stderr_;
};

// ---- the import table --------------------------------------------------------------------

TEST_F(WasiTest, ProvidesEveryPreview1FunctionUnderBothModuleNames) {
  const std::set<std::string> expected = {"args_get",
                                          "args_sizes_get",
                                          "environ_get",
                                          "environ_sizes_get",
                                          "clock_res_get",
                                          "clock_time_get",
                                          "fd_advise",
                                          "fd_allocate",
                                          "fd_close",
                                          "fd_datasync",
                                          "fd_fdstat_get",
                                          "fd_fdstat_set_flags",
                                          "fd_fdstat_set_rights",
                                          "fd_filestat_get",
                                          "fd_filestat_set_size",
                                          "fd_filestat_set_times",
                                          "fd_pread",
                                          "fd_prestat_get",
                                          "fd_prestat_dir_name",
                                          "fd_pwrite",
                                          "fd_read",
                                          "fd_readdir",
                                          "fd_renumber",
                                          "fd_seek",
                                          "fd_sync",
                                          "fd_tell",
                                          "fd_write",
                                          "path_create_directory",
                                          "path_filestat_get",
                                          "path_filestat_set_times",
                                          "path_link",
                                          "path_open",
                                          "path_readlink",
                                          "path_remove_directory",
                                          "path_rename",
                                          "path_symlink",
                                          "path_unlink_file",
                                          "poll_oneoff",
                                          "proc_exit",
                                          "proc_raise",
                                          "sched_yield",
                                          "random_get",
                                          "sock_accept",
                                          "sock_recv",
                                          "sock_send",
                                          "sock_shutdown"};
  for (std::string_view module : {"wasi_snapshot_preview1", "wasi_unstable"}) {
    std::set<std::string> names;
    for (const auto& imp : imports_) {
      if (imp.module == module) names.insert(imp.name);
    }
    EXPECT_EQ(names, expected) << module;
  }
  const HostImport& open_fn = find("path_open", "wasi_snapshot_preview1");
  std::vector<ValType> path_open_params = {ValType::kI32, ValType::kI32, ValType::kI32,
                                           ValType::kI32, ValType::kI32, ValType::kI64,
                                           ValType::kI64, ValType::kI32, ValType::kI32};
  EXPECT_EQ(open_fn.sig.params, path_open_params);
  EXPECT_EQ(open_fn.sig.results, std::vector<ValType>{ValType::kI32});
  EXPECT_TRUE(find("proc_exit", "wasi_unstable").sig.results.empty());
}

TEST_F(WasiTest, ProcExitAbortsWithTheCode) {
  RawValue code = 42;
  RawValue unused = 0;
  auto abort = find("proc_exit", "wasi_snapshot_preview1").fn(memory_, &code, &unused);
  ASSERT_TRUE(abort.has_value());
  EXPECT_EQ(abort->kind, HostAbort::Kind::kExit);
  EXPECT_EQ(abort->exit_code, 42U);
}

TEST_F(WasiTest, SignalsAndSocketsReturnErrnoNeverTrap) {
  EXPECT_EQ(call("proc_raise", {9}), kNoSys);
  EXPECT_EQ(call("sock_accept", {3, 0, alloc(4)}), kNotSup);
  EXPECT_EQ(call("sock_recv", {3, alloc(8), 1, 0, alloc(4), alloc(4)}), kNotSup);
  EXPECT_EQ(call("sock_send", {3, alloc(8), 1, 0, alloc(4)}), kNotSup);
  EXPECT_EQ(call("sock_shutdown", {3, 3}), kNotSup);
  EXPECT_EQ(call("sched_yield", {}), kSuccess);
}

// ---- args, environ -----------------------------------------------------------------------

TEST_F(WasiTest, ArgsAndEnvironAreNulTerminatedStringLists) {
  std::uint32_t count = alloc(4);
  std::uint32_t size = alloc(4);
  ASSERT_EQ(call("args_sizes_get", {count, size}), kSuccess);
  EXPECT_EQ(get<std::uint32_t>(count), 3U);
  EXPECT_EQ(get<std::uint32_t>(size), 18U);  // "prog.wasm\0one\0two\0"
  std::uint32_t argv = alloc(12);
  std::uint32_t buf = alloc(18);
  ASSERT_EQ(call("args_get", {argv, buf}), kSuccess);
  EXPECT_EQ(get<std::uint32_t>(argv), buf);
  EXPECT_EQ(get_string(get<std::uint32_t>(argv + 4), 4), std::string("one\0", 4));
  EXPECT_EQ(get_string(buf, 18), std::string("prog.wasm\0one\0two\0", 18));

  ASSERT_EQ(call("environ_sizes_get", {count, size}), kSuccess);
  EXPECT_EQ(get<std::uint32_t>(count), 2U);
  EXPECT_EQ(get<std::uint32_t>(size), 17U);
  std::uint32_t env = alloc(8);
  std::uint32_t env_buf = alloc(17);
  ASSERT_EQ(call("environ_get", {env, env_buf}), kSuccess);
  EXPECT_EQ(get_string(get<std::uint32_t>(env + 4), 12), "LONGER=value");
}

TEST_F(WasiTest, ArgsAndEnvironFaultOutsideMemory) {
  EXPECT_EQ(call("args_sizes_get", {kOutOfBounds, alloc(4)}), kFault);
  EXPECT_EQ(call("args_sizes_get", {alloc(4), kMemorySize}), kFault);
  EXPECT_EQ(call("args_get", {kOutOfBounds, alloc(32)}), kFault);
  EXPECT_EQ(call("args_get", {alloc(12), kMemorySize - 10}), kFault);  // 18 bytes do not fit
  EXPECT_EQ(call("environ_get", {alloc(8), 0xFFFFFFFF}), kFault);
  EXPECT_EQ(call("environ_sizes_get", {0xFFFFFFFF, alloc(4)}), kFault);
}

TEST_F(WasiTest, EveryPointerFaultsWithoutLinearMemory) {
  VectorMemory none(0);
  RawValue args[2] = {0, 0};
  RawValue result = 0;
  find("args_sizes_get", "wasi_snapshot_preview1").fn(none, args, &result);
  EXPECT_EQ(result, kFault);
}

// ---- clocks and random -------------------------------------------------------------------

TEST_F(WasiTest, ClocksReadTheContextClockAndTheThreadCpuTime) {
  std::uint32_t out = alloc(8);
  ASSERT_EQ(call("clock_time_get", {kClockRealtime, 1, out}), kSuccess);
  const auto wall = static_cast<std::uint64_t>(clock_.wall_now().time_since_epoch().count());
  EXPECT_EQ(get<std::uint64_t>(out), wall);
  ASSERT_EQ(call("clock_time_get", {kClockMonotonic, 1, out}), kSuccess);
  const std::uint64_t mono = get<std::uint64_t>(out);
  clock_.advance(std::chrono::seconds(5));
  ASSERT_EQ(call("clock_time_get", {kClockMonotonic, 1, out}), kSuccess);
  EXPECT_EQ(get<std::uint64_t>(out) - mono, 5'000'000'000ULL);
  for (std::uint32_t id : {kClockProcessCputime, kClockThreadCputime}) {
    ASSERT_EQ(call("clock_time_get", {id, 1, out}), kSuccess);
    EXPECT_GT(get<std::uint64_t>(out), 0U);
  }
  for (std::uint32_t id = 0; id < 4; ++id) {
    ASSERT_EQ(call("clock_res_get", {id, out}), kSuccess);
    EXPECT_GE(get<std::uint64_t>(out), 1U);
    EXPECT_LE(get<std::uint64_t>(out), 10'000'000U);
  }
  EXPECT_EQ(call("clock_res_get", {4, out}), kInval);
  EXPECT_EQ(call("clock_time_get", {99, 0, out}), kInval);
  EXPECT_EQ(call("clock_time_get", {kClockMonotonic, 0, kOutOfBounds}), kFault);
  EXPECT_EQ(call("clock_res_get", {kClockMonotonic, kOutOfBounds}), kFault);
}

TEST_F(WasiTest, RandomGetFillsTheBuffer) {
  std::uint32_t a = alloc(64);
  std::uint32_t b = alloc(64);
  ASSERT_EQ(call("random_get", {a, 64}), kSuccess);
  ASSERT_EQ(call("random_get", {b, 64}), kSuccess);
  EXPECT_NE(get_string(a, 64), get_string(b, 64));
  EXPECT_EQ(call("random_get", {kOutOfBounds, 64}), kFault);
  EXPECT_EQ(call("random_get", {a, 0}), kSuccess);
}

TEST_F(WasiTest, RandomGetUsesTheConfiguredSource) {
  imports_.clear();
  WasiConfig config;
  config.random = [](std::span<std::uint8_t> out) { std::fill(out.begin(), out.end(), 7); };
  start(std::move(config));
  std::uint32_t a = alloc(4);
  ASSERT_EQ(call("random_get", {a, 4}), kSuccess);
  EXPECT_EQ(get<std::uint32_t>(a), 0x07070707U);
}

// ---- stdio -------------------------------------------------------------------------------

TEST_F(WasiTest, StdoutAndStderrGoToTheirSinks) {
  std::uint32_t iovs = alloc(16);
  std::uint32_t b1 = put("hello ");
  std::uint32_t b2 = put("world\n");
  memory_.store<std::uint32_t>(iovs, b1);
  memory_.store<std::uint32_t>(iovs + 4, 6);
  memory_.store<std::uint32_t>(iovs + 8, b2);
  memory_.store<std::uint32_t>(iovs + 12, 6);
  std::uint32_t n = alloc(4);
  ASSERT_EQ(call("fd_write", {1, iovs, 2, n}), kSuccess);
  EXPECT_EQ(get<std::uint32_t>(n), 12U);
  ASSERT_EQ(write_fd(2, "oops"), kSuccess);
  EXPECT_EQ(stdout_, "hello world\n");
  EXPECT_EQ(stderr_, "oops");
}

TEST_F(WasiTest, OneSinkWriteIsBoundedAndShort) {
  // 4096 iovecs all naming the same 60 KiB: 240 MiB asked, at most 1 MiB taken per call.
  std::uint32_t iovs = alloc(4096 * 8);
  for (std::uint32_t i = 0; i < 4096; ++i) {
    memory_.store<std::uint32_t>(iovs + i * 8, 0);
    memory_.store<std::uint32_t>(iovs + i * 8 + 4, 60 * 1024);
  }
  std::uint32_t n = alloc(4);
  ASSERT_EQ(call("fd_write", {1, iovs, 4096, n}), kSuccess);
  EXPECT_EQ(get<std::uint32_t>(n), 1U << 20);
  EXPECT_EQ(stdout_.size(), 1U << 20);
}

TEST_F(WasiTest, OpeningAFifoDoesNotBlock) {
  ASSERT_EQ(::mkfifo((sandbox() / "fifo").c_str(), 0600), 0);
  std::uint32_t fd = 0;
  ASSERT_EQ(open(kSandbox, "fifo", 0, kReadRights, &fd), kSuccess);
  std::uint32_t st = alloc(kFdstatSize);
  ASSERT_EQ(call("fd_fdstat_get", {fd, st}), kSuccess);
  EXPECT_EQ(get<std::uint16_t>(st + 2), 0U);  // the guest did not ask for nonblock
}

TEST_F(WasiTest, FdWriteChecksFdRightsAndEveryPointer) {
  EXPECT_EQ(write_fd(99, "x"), kBadf);
  EXPECT_EQ(write_fd(0, "x"), kNotCapable);  // stdin has no write right
  EXPECT_EQ(call("fd_write", {1, kOutOfBounds, 1, alloc(4)}), kFault);
  std::uint32_t iov = alloc(8);
  memory_.store<std::uint32_t>(iov, kMemorySize - 4);
  memory_.store<std::uint32_t>(iov + 4, 8);  // buffer runs past the end
  EXPECT_EQ(call("fd_write", {1, iov, 1, alloc(4)}), kFault);
  EXPECT_EQ(call("fd_write", {1, iovec("lost"), 1, kOutOfBounds}), kFault);
  EXPECT_EQ(stdout_, "");  // nothing written when any pointer is bad
}

TEST_F(WasiTest, StdinServesItsBytesThenEndOfFile) {
  EXPECT_EQ(read_fd(0, 5), "input");
  EXPECT_EQ(read_fd(0, 100), " bytes");
  EXPECT_EQ(read_fd(0, 100), "");
  EXPECT_EQ(call("fd_read", {0, kOutOfBounds, 1, alloc(4)}), kFault);
  EXPECT_EQ(call("fd_read", {1, iovec("", 4), 1, alloc(4)}), kNotCapable);
  EXPECT_EQ(call("fd_read", {77, iovec("", 4), 1, alloc(4)}), kBadf);
}

TEST_F(WasiTest, StdinFromAHostFd) {
  imports_.clear();
  auto pipe = make_pipe();
  ASSERT_TRUE(pipe);
  ASSERT_EQ(::write(pipe->write.get(), "piped", 5), 5);
  pipe->write.reset();
  WasiConfig config;
  config.stdin_fd = pipe->read.release();
  start(std::move(config));
  EXPECT_EQ(read_fd(0), "piped");
  EXPECT_EQ(read_fd(0), "");
}

TEST_F(WasiTest, StdioAreCharacterDevicesWithoutSeekRights) {
  std::uint32_t st = alloc(kFdstatSize);
  for (std::uint32_t fd : {0U, 1U, 2U}) {
    ASSERT_EQ(call("fd_fdstat_get", {fd, st}), kSuccess);
    EXPECT_EQ(get<std::uint8_t>(st), kFiletypeCharacterDevice);
    EXPECT_EQ(get<std::uint64_t>(st + 8) & (kRightFdSeek | kRightFdTell), 0U);
  }
  std::uint32_t out = alloc(8);
  EXPECT_EQ(call("fd_seek", {1, 0, kWhenceCur, out}), kNotCapable);
  EXPECT_EQ(call("fd_tell", {1, out}), kNotCapable);
  EXPECT_EQ(call("fd_sync", {1}), kSuccess);
  std::uint32_t filestat = alloc(kFilestatSize);
  ASSERT_EQ(call("fd_filestat_get", {1, filestat}), kSuccess);
  EXPECT_EQ(get<std::uint8_t>(filestat + 16), kFiletypeCharacterDevice);
  EXPECT_EQ(call("fd_fdstat_get", {9, st}), kBadf);
  EXPECT_EQ(call("fd_fdstat_get", {1, kOutOfBounds}), kFault);
}

// ---- preopens ----------------------------------------------------------------------------

TEST_F(WasiTest, PreopensAreNumberedFromThree) {
  std::uint32_t prestat = alloc(kPrestatSize);
  ASSERT_EQ(call("fd_prestat_get", {kSandbox, prestat}), kSuccess);
  EXPECT_EQ(get<std::uint8_t>(prestat), kPreopentypeDir);
  EXPECT_EQ(get<std::uint32_t>(prestat + 4), 8U);  // "/sandbox"
  std::uint32_t name = alloc(8);
  ASSERT_EQ(call("fd_prestat_dir_name", {kSandbox, name, 8}), kSuccess);
  EXPECT_EQ(get_string(name, 8), "/sandbox");
  ASSERT_EQ(call("fd_prestat_get", {kReadOnly, prestat}), kSuccess);
  EXPECT_EQ(get<std::uint32_t>(prestat + 4), 3U);
  EXPECT_EQ(call("fd_prestat_dir_name", {kSandbox, name, 4}), kNameTooLong);
  EXPECT_EQ(call("fd_prestat_dir_name", {kSandbox, kOutOfBounds, 8}), kFault);
  EXPECT_EQ(call("fd_prestat_get", {5, prestat}), kBadf);  // wasi-libc stops scanning here
  EXPECT_EQ(call("fd_prestat_get", {1, prestat}), kBadf);
  EXPECT_EQ(call("fd_prestat_get", {kSandbox, kOutOfBounds}), kFault);
}

TEST_F(WasiTest, ReadOnlyPreopenHasNoWriteRights) {
  std::uint32_t st = alloc(kFdstatSize);
  ASSERT_EQ(call("fd_fdstat_get", {kReadOnly, st}), kSuccess);
  EXPECT_EQ(get<std::uint8_t>(st), kFiletypeDirectory);
  EXPECT_EQ(get<std::uint64_t>(st + 8) & kWriteRights, 0U);
  EXPECT_EQ(get<std::uint64_t>(st + 16) & kWriteRights, 0U);
  ASSERT_EQ(call("fd_fdstat_get", {kSandbox, st}), kSuccess);
  EXPECT_NE(get<std::uint64_t>(st + 16) & kRightFdWrite, 0U);

  EXPECT_EQ(open(kReadOnly, "new", kOflagCreat, kRwRights & ~kWriteRights), kNotCapable);
  EXPECT_EQ(open(kReadOnly, "readme", 0, kRwRights), kNotCapable);
  EXPECT_EQ(open(kReadOnly, "readme", kOflagTrunc, kReadRights), kNotCapable);
  EXPECT_EQ(path_call("path_create_directory", kReadOnly, "d"), kNotCapable);
  EXPECT_EQ(path_call("path_unlink_file", kReadOnly, "readme"), kNotCapable);
  std::uint32_t fd = 0;
  ASSERT_EQ(open(kReadOnly, "readme", 0, kReadRights, &fd), kSuccess);
  EXPECT_EQ(read_fd(fd), "read only");
  EXPECT_EQ(write_fd(fd, "x"), kNotCapable);
  EXPECT_FALSE(fs::exists(ro() / "new"));
  EXPECT_FALSE(fs::exists(ro() / "d"));
}

TEST_F(WasiTest, CreateRejectsBadPreopens) {
  WasiConfig missing;
  missing.preopens = {{tmp_.path() / "nope", "/x", false}};
  auto a = WasiContext::create(std::move(missing));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, Errc::kNotFound);
  EXPECT_NE(a.error().message.find("nope"), std::string::npos);
  WasiConfig file;
  file.preopens = {{tmp_.path() / "outside" / "secret", "/x", false}};
  auto b = WasiContext::create(std::move(file));
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, Errc::kInvalidArgument);
  WasiConfig unnamed;
  unnamed.preopens = {{sandbox(), "", false}};
  EXPECT_FALSE(WasiContext::create(std::move(unnamed)));
}

// ---- files -------------------------------------------------------------------------------

TEST_F(WasiTest, FileLifecycle) {
  std::uint32_t fd = 0;
  ASSERT_EQ(open(kSandbox, "f.txt", kOflagCreat | kOflagExcl, kRwRights, &fd), kSuccess);
  EXPECT_EQ(fd, 5U);  // lowest free after the two preopens
  ASSERT_EQ(write_fd(fd, "hello world"), kSuccess);
  std::uint32_t pos = alloc(8);
  ASSERT_EQ(call("fd_tell", {fd, pos}), kSuccess);
  EXPECT_EQ(get<std::uint64_t>(pos), 11U);
  ASSERT_EQ(call("fd_seek", {fd, static_cast<RawValue>(-5), kWhenceEnd, pos}), kSuccess);
  EXPECT_EQ(get<std::uint64_t>(pos), 6U);
  EXPECT_EQ(read_fd(fd), "world");
  ASSERT_EQ(call("fd_seek", {fd, 0, kWhenceSet, pos}), kSuccess);
  EXPECT_EQ(read_fd(fd, 5), "hello");

  std::uint32_t n = alloc(4);
  ASSERT_EQ(call("fd_pwrite", {fd, iovec("W"), 1, 6, n}), kSuccess);
  std::uint32_t iov = iovec("", 5);
  ASSERT_EQ(call("fd_pread", {fd, iov, 1, 6, n}), kSuccess);
  EXPECT_EQ(get_string(get<std::uint32_t>(iov), get<std::uint32_t>(n)), "World");

  std::uint32_t st = alloc(kFilestatSize);
  ASSERT_EQ(call("fd_filestat_get", {fd, st}), kSuccess);
  EXPECT_EQ(get<std::uint8_t>(st + 16), kFiletypeRegularFile);
  EXPECT_EQ(get<std::uint64_t>(st + 24), 1U);   // nlink
  EXPECT_EQ(get<std::uint64_t>(st + 32), 11U);  // size
  ASSERT_EQ(call("fd_filestat_set_size", {fd, 5}), kSuccess);
  ASSERT_EQ(call("fd_filestat_set_times",
                 {fd, 1'000'000'000, 2'000'000'000, kFstflagAtim | kFstflagMtim}),
            kSuccess);
  ASSERT_EQ(call("fd_filestat_get", {fd, st}), kSuccess);
  EXPECT_EQ(get<std::uint64_t>(st + 32), 5U);
  EXPECT_EQ(get<std::uint64_t>(st + 40), 1'000'000'000U);
  EXPECT_EQ(get<std::uint64_t>(st + 48), 2'000'000'000U);
  EXPECT_EQ(call("fd_filestat_set_times", {fd, 0, 0, kFstflagAtim | kFstflagAtimNow}), kInval);
  EXPECT_EQ(call("fd_filestat_set_times", {fd, 0, 0, 0x10}), kInval);

  EXPECT_EQ(call("fd_advise", {fd, 0, 0, 1}), kSuccess);
  EXPECT_EQ(call("fd_advise", {fd, 0, 0, 6}), kInval);
  EXPECT_EQ(call("fd_allocate", {fd, 0, 4096}), kSuccess);
  EXPECT_EQ(call("fd_datasync", {fd}), kSuccess);
  EXPECT_EQ(call("fd_sync", {fd}), kSuccess);
  EXPECT_EQ(call("fd_seek", {fd, 0, 3, pos}), kInval);
  EXPECT_EQ(call("fd_seek", {fd, static_cast<RawValue>(-100), kWhenceSet, pos}), kInval);
  EXPECT_EQ(call("fd_seek", {fd, 0, kWhenceSet, kOutOfBounds}), kFault);
  EXPECT_EQ(call("fd_pread", {fd, kOutOfBounds, 1, 0, n}), kFault);
  EXPECT_EQ(call("fd_pwrite", {fd, iovec("x"), 1, 0, kOutOfBounds}), kFault);

  ASSERT_EQ(call("fd_close", {fd}), kSuccess);
  EXPECT_EQ(call("fd_close", {fd}), kBadf);
  EXPECT_EQ(write_fd(fd, "x"), kBadf);
  EXPECT_EQ(std::filesystem::file_size(sandbox() / "f.txt"), 4096U);
}

TEST_F(WasiTest, RightsLimitWhatAnFdCanDo) {
  std::uint32_t fd = 0;
  std::ofstream(sandbox() / "r") << "data";
  ASSERT_EQ(open(kSandbox, "r", 0, kRightFdRead, &fd), kSuccess);
  std::uint32_t out = alloc(8);
  EXPECT_EQ(write_fd(fd, "x"), kNotCapable);
  EXPECT_EQ(call("fd_seek", {fd, 1, kWhenceSet, out}), kNotCapable);
  EXPECT_EQ(call("fd_filestat_get", {fd, alloc(64)}), kNotCapable);
  EXPECT_EQ(call("fd_filestat_set_size", {fd, 0}), kNotCapable);
  EXPECT_EQ(call("fd_allocate", {fd, 0, 1}), kNotCapable);
  EXPECT_EQ(call("fd_advise", {fd, 0, 0, 0}), kNotCapable);
  EXPECT_EQ(call("fd_pread", {fd, iovec("", 4), 1, 0, alloc(4)}), kNotCapable);
  EXPECT_EQ(read_fd(fd), "data");

  // Rights only shrink.
  EXPECT_EQ(call("fd_fdstat_set_rights", {fd, kRightFdRead | kRightFdWrite, 0}), kNotCapable);
  ASSERT_EQ(call("fd_fdstat_set_rights", {fd, 0, 0}), kSuccess);
  EXPECT_EQ(call("fd_read", {fd, iovec("", 4), 1, alloc(4)}), kNotCapable);
  EXPECT_EQ(call("fd_fdstat_set_rights", {99, 0, 0}), kBadf);
  // A directory cannot hand down more than it has.
  EXPECT_EQ(open(kSandbox, "r", 0, kRightSockAccept), kNotCapable);
}

TEST_F(WasiTest, FdstatFlagsAppendAndSync) {
  std::uint32_t fd = 0;
  ASSERT_EQ(open(kSandbox, "log", kOflagCreat, kRwRights, &fd, kFdflagAppend), kSuccess);
  std::uint32_t st = alloc(kFdstatSize);
  ASSERT_EQ(call("fd_fdstat_get", {fd, st}), kSuccess);
  EXPECT_EQ(get<std::uint16_t>(st + 2), kFdflagAppend);
  EXPECT_EQ(get<std::uint8_t>(st), kFiletypeRegularFile);
  ASSERT_EQ(write_fd(fd, "a"), kSuccess);
  std::uint32_t pos = alloc(8);
  ASSERT_EQ(call("fd_seek", {fd, 0, kWhenceSet, pos}), kSuccess);
  ASSERT_EQ(write_fd(fd, "b"), kSuccess);  // O_APPEND: still at the end
  ASSERT_EQ(call("fd_fdstat_set_flags", {fd, 0}), kSuccess);
  ASSERT_EQ(call("fd_seek", {fd, 0, kWhenceSet, pos}), kSuccess);
  ASSERT_EQ(write_fd(fd, "c"), kSuccess);
  std::string content;
  std::getline(std::ifstream(sandbox() / "log"), content);
  EXPECT_EQ(content, "cb");
  EXPECT_EQ(call("fd_fdstat_set_flags", {fd, kFdflagSync}), kNotSup);
  EXPECT_EQ(call("fd_fdstat_set_flags", {fd, 0x100}), kInval);
  EXPECT_EQ(call("fd_fdstat_set_flags", {42, 0}), kBadf);
}

TEST_F(WasiTest, PathOpenErrors) {
  std::ofstream(sandbox() / "file") << "x";
  fs::create_directories(sandbox() / "dir");
  std::uint32_t fd = 0;
  EXPECT_EQ(open(kSandbox, "missing", 0, kReadRights), kNoEnt);
  EXPECT_EQ(open(kSandbox, "file", kOflagCreat | kOflagExcl, kRwRights), kExist);
  EXPECT_EQ(open(kSandbox, "file", kOflagDirectory, kReadRights), kNotDir);
  EXPECT_EQ(open(kSandbox, "file/x", 0, kReadRights), kNotDir);
  EXPECT_EQ(open(kSandbox, "dir", 0, kRwRights), kIsDir);
  EXPECT_EQ(open(kSandbox, "", 0, kReadRights), kNoEnt);
  EXPECT_EQ(open(kSandbox, "file", 0x10, kReadRights), kInval);
  EXPECT_EQ(open(kSandbox, "file", 0, kReadRights, nullptr, 0x40), kInval);
  EXPECT_EQ(open(kSandbox, std::string("fi\0le", 5), 0, kReadRights), kInval);
  EXPECT_EQ(open(99, "file", 0, kReadRights), kBadf);
  EXPECT_EQ(open(1, "file", 0, kReadRights), kNotDir);
  ASSERT_EQ(open(kSandbox, "file", 0, kReadRights, &fd), kSuccess);
  EXPECT_EQ(open(fd, "x", 0, kReadRights), kNotDir);
  std::uint32_t p = put("file");
  EXPECT_EQ(call("path_open", {kSandbox, 0, kOutOfBounds, 8, 0, kReadRights, 0, 0, alloc(4)}),
            kFault);
  EXPECT_EQ(call("path_open", {kSandbox, 0, p, 4, 0, kReadRights, 0, 0, kOutOfBounds}), kFault);
  // A directory opened below a preopen is a directory fd with directory rights.
  std::uint32_t dir = 0;
  ASSERT_EQ(open(kSandbox, "dir", kOflagDirectory, kAllRights, &dir), kSuccess);
  std::uint32_t st = alloc(kFdstatSize);
  ASSERT_EQ(call("fd_fdstat_get", {dir, st}), kSuccess);
  EXPECT_EQ(get<std::uint8_t>(st), kFiletypeDirectory);
  EXPECT_EQ(get<std::uint64_t>(st + 8) & kRightFdWrite, 0U);
  ASSERT_EQ(open(dir, "inner", kOflagCreat, kRwRights, &fd), kSuccess);
  EXPECT_TRUE(fs::exists(sandbox() / "dir" / "inner"));
  EXPECT_EQ(call("fd_read", {dir, iovec("", 4), 1, alloc(4)}), kNotCapable);
}

TEST_F(WasiTest, SymlinksAreFollowedOnlyInsideThePreopen) {
  fs::create_directories(sandbox() / "sub");
  std::ofstream(sandbox() / "sub" / "target") << "inside";
  fs::create_symlink("sub/target", sandbox() / "rel");
  fs::create_symlink("../sub/target", sandbox() / "sub" / "dotdot-inside");
  std::uint32_t fd = 0;
  ASSERT_EQ(open(kSandbox, "rel", 0, kReadRights, &fd), kSuccess);
  EXPECT_EQ(read_fd(fd), "inside");
  ASSERT_EQ(open(kSandbox, "sub/dotdot-inside", 0, kReadRights, &fd), kSuccess);
  EXPECT_EQ(read_fd(fd), "inside");
  // Without lookupflags.symlink_follow a final symlink is not opened.
  EXPECT_EQ(open(kSandbox, "rel", 0, kReadRights, nullptr, 0, 0), kLoop);
  ASSERT_EQ(open(kSandbox, "sub/../sub/./target", 0, kReadRights, &fd), kSuccess);
}

TEST_F(WasiTest, NoPathLeavesItsPreopen) {
  fs::create_symlink(tmp_.path() / "outside", sandbox() / "abs-link");
  fs::create_symlink("../outside", sandbox() / "rel-link");
  fs::create_symlink("/", sandbox() / "root-link");
  fs::create_directories(sandbox() / "sub");
  for (std::string_view path :
       {"../outside/secret", "/etc/passwd", "sub/../../outside/secret", "abs-link/secret",
        "rel-link/secret", "root-link/etc/passwd", "..", "sub/../.."}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(open(kSandbox, path, 0, kReadRights), kNotCapable);
    EXPECT_EQ(call("path_filestat_get", {kSandbox, kLookupSymlinkFollow, put(path),
                                         static_cast<RawValue>(path.size()), alloc(64)}),
              kNotCapable);
  }
  EXPECT_EQ(open(kSandbox, "abs-link", kOflagDirectory, kReadRights), kNotCapable);
  EXPECT_EQ(open(kSandbox, "../outside/new", kOflagCreat, kRwRights), kNotCapable);
  EXPECT_EQ(path_call("path_create_directory", kSandbox, "../escaped"), kNotCapable);
  EXPECT_EQ(path_call("path_create_directory", kSandbox, "rel-link/escaped"), kNotCapable);
  EXPECT_EQ(path_call("path_unlink_file", kSandbox, "../outside/secret"), kNotCapable);
  EXPECT_EQ(path_call("path_unlink_file", kSandbox, "abs-link/secret"), kNotCapable);
  EXPECT_EQ(path_call("path_remove_directory", kSandbox, "../outside"), kNotCapable);
  EXPECT_EQ(path_call("path_remove_directory", kSandbox, "sub/.."), kInval);  // acts on "."
  std::string link = "escape";
  std::string target = "/etc/passwd";
  EXPECT_EQ(call("path_symlink", {put(target), target.size(), kSandbox, put(link), link.size()}),
            kNotCapable);
  std::string from = "sub";
  std::string to = "../outside/moved";
  EXPECT_EQ(call("path_rename", {kSandbox, put(from), from.size(), kSandbox, put(to), to.size()}),
            kNotCapable);
  std::string secret = "abs-link/secret";
  std::string copy = "copy";
  EXPECT_EQ(call("path_link",
                 {kSandbox, 0, put(secret), secret.size(), kSandbox, put(copy), copy.size()}),
            kNotCapable);
  std::string via = "abs-link";
  EXPECT_EQ(call("path_link", {kSandbox, kLookupSymlinkFollow, put(via), via.size(), kSandbox,
                               put(copy), copy.size()}),
            kNotCapable);
  EXPECT_EQ(call("path_filestat_set_times",
                 {kSandbox, kLookupSymlinkFollow, put(via), via.size(), 0, 0, kFstflagMtimNow}),
            kNotCapable);
  std::uint32_t used = alloc(4);
  std::string up = "..";
  EXPECT_EQ(call("path_readlink", {kSandbox, put(up), up.size(), alloc(64), 64, used}),
            kNotCapable);
  // The links themselves can be inspected without following them.
  std::uint32_t st = alloc(kFilestatSize);
  ASSERT_EQ(call("path_filestat_get", {kSandbox, 0, put(via), via.size(), st}), kSuccess);
  EXPECT_EQ(get<std::uint8_t>(st + 16), kFiletypeSymbolicLink);
  // Nothing outside changed.
  EXPECT_TRUE(fs::exists(tmp_.path() / "outside" / "secret"));
  EXPECT_FALSE(fs::exists(tmp_.path() / "escaped"));
  EXPECT_FALSE(fs::exists(tmp_.path() / "outside" / "escaped"));
  EXPECT_FALSE(fs::exists(tmp_.path() / "outside" / "moved"));
  EXPECT_FALSE(fs::exists(tmp_.path() / "outside" / "new"));
  EXPECT_FALSE(fs::exists(sandbox() / "copy"));
}

// ---- directories and names ---------------------------------------------------------------

TEST_F(WasiTest, DirectoryOperations) {
  ASSERT_EQ(path_call("path_create_directory", kSandbox, "d"), kSuccess);
  EXPECT_TRUE(fs::is_directory(sandbox() / "d"));
  EXPECT_EQ(path_call("path_create_directory", kSandbox, "d"), kExist);
  EXPECT_EQ(path_call("path_create_directory", kSandbox, "missing/d"), kNoEnt);
  EXPECT_EQ(path_call("path_create_directory", kSandbox, ""), kNoEnt);
  EXPECT_EQ(call("path_create_directory", {kSandbox, kOutOfBounds, 10}), kFault);
  EXPECT_EQ(path_call("path_create_directory", 99, "x"), kBadf);
  std::ofstream(sandbox() / "d" / "f") << "x";
  EXPECT_EQ(path_call("path_create_directory", kSandbox, "d/f/sub"), kNotDir);
  EXPECT_EQ(path_call("path_remove_directory", kSandbox, "d"), kNotEmpty);
  EXPECT_EQ(path_call("path_remove_directory", kSandbox, "d/f"), kNotDir);
  EXPECT_EQ(path_call("path_unlink_file", kSandbox, "d"), kIsDir);
  EXPECT_EQ(path_call("path_unlink_file", kSandbox, "d/nothing"), kNoEnt);
  EXPECT_EQ(path_call("path_unlink_file", kSandbox, "d/f/"), kNotDir);
  ASSERT_EQ(path_call("path_unlink_file", kSandbox, "d/f"), kSuccess);
  ASSERT_EQ(path_call("path_remove_directory", kSandbox, "d/"), kSuccess);
  EXPECT_EQ(path_call("path_remove_directory", kSandbox, "d"), kNoEnt);
  EXPECT_FALSE(fs::exists(sandbox() / "d"));
}

TEST_F(WasiTest, RenameLinkSymlinkReadlink) {
  std::ofstream(sandbox() / "a") << "content";
  auto two = [&](std::string_view name, std::string_view from, std::string_view to) {
    return call(name, {kSandbox, put(from), from.size(), kSandbox, put(to), to.size()});
  };
  ASSERT_EQ(two("path_rename", "a", "b"), kSuccess);
  EXPECT_TRUE(fs::exists(sandbox() / "b"));
  EXPECT_EQ(two("path_rename", "a", "c"), kNoEnt);
  fs::create_directories(sandbox() / "full");
  std::ofstream(sandbox() / "full" / "x") << "x";
  fs::create_directories(sandbox() / "empty");
  EXPECT_EQ(two("path_rename", "empty", "full"), kNotEmpty);
  EXPECT_EQ(two("path_rename", "b", "full"), kIsDir);

  std::string b = "b";
  std::string hard = "hard";
  ASSERT_EQ(call("path_link", {kSandbox, 0, put(b), 1, kSandbox, put(hard), hard.size()}),
            kSuccess);
  EXPECT_EQ(fs::hard_link_count(sandbox() / "b"), 2U);
  EXPECT_EQ(call("path_link", {kSandbox, 0, put(b), 1, kSandbox, put(hard), hard.size()}), kExist);
  std::string empty = "empty";
  std::string dirlink = "dirlink";
  EXPECT_EQ(call("path_link",
                 {kSandbox, 0, put(empty), empty.size(), kSandbox, put(dirlink), dirlink.size()}),
            kPerm);

  std::string target = "b";
  std::string link = "sym";
  ASSERT_EQ(call("path_symlink", {put(target), 1, kSandbox, put(link), link.size()}), kSuccess);
  EXPECT_EQ(fs::read_symlink(sandbox() / "sym"), "b");
  EXPECT_EQ(call("path_symlink", {put(target), 1, kSandbox, put(link), link.size()}), kExist);
  std::string followed = "followed";
  ASSERT_EQ(call("path_link", {kSandbox, kLookupSymlinkFollow, put(link), link.size(), kSandbox,
                               put(followed), followed.size()}),
            kSuccess);
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(sandbox() / "followed")));

  std::uint32_t buf = alloc(64);
  std::uint32_t used = alloc(4);
  ASSERT_EQ(call("path_readlink", {kSandbox, put(link), link.size(), buf, 64, used}), kSuccess);
  EXPECT_EQ(get_string(buf, get<std::uint32_t>(used)), "b");
  EXPECT_EQ(call("path_readlink", {kSandbox, put(b), 1, buf, 64, used}), kInval);  // not a link
  EXPECT_EQ(call("path_readlink", {kSandbox, put(link), link.size(), kOutOfBounds, 64, used}),
            kFault);
  EXPECT_EQ(path_call("path_unlink_file", kSandbox, "sym"), kSuccess);
  EXPECT_TRUE(fs::exists(sandbox() / "b"));
}

TEST_F(WasiTest, PathFilestatAndTimes) {
  std::ofstream(sandbox() / "f") << "12345";
  fs::create_symlink("f", sandbox() / "l");
  std::uint32_t st = alloc(kFilestatSize);
  std::string f = "f";
  std::string l = "l";
  ASSERT_EQ(call("path_filestat_get", {kSandbox, kLookupSymlinkFollow, put(l), 1, st}), kSuccess);
  EXPECT_EQ(get<std::uint8_t>(st + 16), kFiletypeRegularFile);
  EXPECT_EQ(get<std::uint64_t>(st + 32), 5U);
  ASSERT_EQ(call("path_filestat_get", {kSandbox, 0, put(l), 1, st}), kSuccess);
  EXPECT_EQ(get<std::uint8_t>(st + 16), kFiletypeSymbolicLink);
  EXPECT_EQ(call("path_filestat_get", {kSandbox, 0, put("nope"), 4, st}), kNoEnt);
  EXPECT_EQ(call("path_filestat_get", {kSandbox, 0, put(f), 1, kOutOfBounds}), kFault);
  std::string dot = ".";
  ASSERT_EQ(call("path_filestat_get", {kSandbox, 0, put(dot), 1, st}), kSuccess);
  EXPECT_EQ(get<std::uint8_t>(st + 16), kFiletypeDirectory);

  ASSERT_EQ(
      call("path_filestat_set_times", {kSandbox, kLookupSymlinkFollow, put(l), 1, 3'000'000'000,
                                       4'000'000'000, kFstflagAtim | kFstflagMtim}),
      kSuccess);
  struct stat host {};
  ASSERT_EQ(::stat((sandbox() / "f").c_str(), &host), 0);
  EXPECT_EQ(host.st_mtim.tv_sec, 4);
  EXPECT_EQ(host.st_atim.tv_sec, 3);
  ASSERT_EQ(
      call("path_filestat_set_times", {kSandbox, 0, put(f), 1, 0, 7'000'000'000, kFstflagMtim}),
      kSuccess);
  ASSERT_EQ(::stat((sandbox() / "f").c_str(), &host), 0);
  EXPECT_EQ(host.st_mtim.tv_sec, 7);
  EXPECT_EQ(host.st_atim.tv_sec, 3);  // omitted
  EXPECT_EQ(call("path_filestat_set_times",
                 {kSandbox, 0, put(f), 1, 0, 0, kFstflagMtim | kFstflagMtimNow}),
            kInval);
  EXPECT_EQ(call("path_filestat_set_times", {kReadOnly, 0, put(f), 1, 0, 0, kFstflagMtimNow}),
            kNotCapable);
}

TEST_F(WasiTest, ReaddirListsEntriesWithCookies) {
  std::ofstream(sandbox() / "file") << "x";
  fs::create_directories(sandbox() / "dir");
  fs::create_symlink("file", sandbox() / "link");
  std::uint32_t fd = 0;
  ASSERT_EQ(open(kSandbox, ".", kOflagDirectory, kReadRights, &fd), kSuccess);

  // A buffer large enough for everything: 5 entries (".", "..", 3 names).
  std::uint32_t buf = alloc(1024);
  std::uint32_t used = alloc(4);
  ASSERT_EQ(call("fd_readdir", {fd, buf, 1024, 0, used}), kSuccess);
  std::map<std::string, std::uint8_t> seen;
  std::uint32_t at = 0;
  const std::uint32_t total = get<std::uint32_t>(used);
  while (at < total) {
    std::uint32_t namlen = get<std::uint32_t>(buf + at + 16);
    seen[get_string(buf + at + kDirentSize, namlen)] = get<std::uint8_t>(buf + at + 20);
    at += kDirentSize + namlen;
  }
  EXPECT_EQ(at, total);
  EXPECT_EQ(seen.size(), 5U);
  EXPECT_EQ(seen["file"], kFiletypeRegularFile);
  EXPECT_EQ(seen["dir"], kFiletypeDirectory);
  EXPECT_EQ(seen["link"], kFiletypeSymbolicLink);
  EXPECT_EQ(seen["."], kFiletypeDirectory);

  // Page through it one (truncated) entry at a time with d_next cookies.
  std::set<std::string> paged;
  std::uint64_t cookie = 0;
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(call("fd_readdir", {fd, buf, kDirentSize + 2, cookie, used}), kSuccess);
    if (get<std::uint32_t>(used) == 0) break;
    EXPECT_EQ(get<std::uint32_t>(used), kDirentSize + 2);  // a full buffer: the entry was cut
    std::uint32_t namlen = get<std::uint32_t>(buf + 16);
    ASSERT_EQ(call("fd_readdir", {fd, buf, kDirentSize + namlen, cookie, used}), kSuccess);
    paged.insert(get_string(buf + kDirentSize, namlen));
    cookie = get<std::uint64_t>(buf);
  }
  EXPECT_EQ(paged.size(), 5U);
  EXPECT_EQ(call("fd_readdir", {fd, buf, 1024, 100, used}), kSuccess);
  EXPECT_EQ(get<std::uint32_t>(used), 0U);

  EXPECT_EQ(call("fd_readdir", {fd, kOutOfBounds, 1024, 0, used}), kFault);
  EXPECT_EQ(call("fd_readdir", {99, buf, 64, 0, used}), kBadf);
  std::uint32_t file = 0;
  ASSERT_EQ(open(kSandbox, "file", 0, kReadRights, &file), kSuccess);
  EXPECT_EQ(call("fd_readdir", {file, buf, 64, 0, used}), kNotCapable);  // files lack fd_readdir
}

TEST_F(WasiTest, RenumberMovesAnFd) {
  std::uint32_t a = 0;
  std::uint32_t b = 0;
  std::ofstream(sandbox() / "x") << "xx";
  std::ofstream(sandbox() / "y") << "yy";
  ASSERT_EQ(open(kSandbox, "x", 0, kReadRights, &a), kSuccess);
  ASSERT_EQ(open(kSandbox, "y", 0, kReadRights, &b), kSuccess);
  ASSERT_EQ(call("fd_renumber", {a, b}), kSuccess);
  EXPECT_EQ(read_fd(b), "xx");
  EXPECT_EQ(call("fd_close", {a}), kBadf);
  EXPECT_EQ(call("fd_renumber", {a, b}), kBadf);
  EXPECT_EQ(call("fd_renumber", {b, 77}), kBadf);
  EXPECT_EQ(call("fd_renumber", {b, b}), kSuccess);
  // The freed number is reused first.
  std::uint32_t c = 0;
  ASSERT_EQ(open(kSandbox, "y", 0, kReadRights, &c), kSuccess);
  EXPECT_EQ(c, a);
}

// ---- wasi_unstable layouts ---------------------------------------------------------------

TEST_F(WasiTest, WasiUnstableUsesSnapshotZeroLayouts) {
  std::ofstream(sandbox() / "f") << "123456";
  std::uint32_t fd = 0;
  ASSERT_EQ(open(kSandbox, "f", 0, kReadRights, &fd), kSuccess);
  std::uint32_t st = alloc(64);
  ASSERT_EQ(call("fd_filestat_get", {fd, st}, "wasi_unstable"), kSuccess);
  EXPECT_EQ(get<std::uint32_t>(st + 20), 1U);  // nlink u32
  EXPECT_EQ(get<std::uint64_t>(st + 24), 6U);  // size
  std::uint32_t pos = alloc(8);
  ASSERT_EQ(call("fd_seek", {fd, 2, 2 /* set */, pos}, "wasi_unstable"), kSuccess);
  EXPECT_EQ(get<std::uint64_t>(pos), 2U);
  ASSERT_EQ(call("fd_seek", {fd, 1, 0 /* cur */, pos}, "wasi_unstable"), kSuccess);
  EXPECT_EQ(get<std::uint64_t>(pos), 3U);
  ASSERT_EQ(call("fd_seek", {fd, 0, 1 /* end */, pos}, "wasi_unstable"), kSuccess);
  EXPECT_EQ(get<std::uint64_t>(pos), 6U);
  EXPECT_EQ(
      call("path_filestat_get", {kSandbox, 0, put("f"), 1, kMemorySize - 60}, "wasi_unstable"),
      kSuccess);  // 56 bytes fit where 64 would not
  EXPECT_EQ(call("path_filestat_get", {kSandbox, 0, put("f"), 1, kMemorySize - 60}), kFault);
}

// ---- poll_oneoff -------------------------------------------------------------------------

struct Sub {
  std::uint64_t userdata;
  std::uint8_t tag;
  std::uint32_t clock_or_fd;
  std::uint64_t timeout = 0;
  std::uint16_t flags = 0;
};

class PollTest : public WasiTest {
 protected:
  std::uint32_t poll(const std::vector<Sub>& subs, std::uint32_t& events, std::uint32_t& nevents) {
    std::uint32_t in = alloc(static_cast<std::uint32_t>(subs.size()) * kSubscriptionSize);
    for (std::size_t i = 0; i < subs.size(); ++i) {
      std::uint32_t at = in + static_cast<std::uint32_t>(i) * kSubscriptionSize;
      memory_.store(at, subs[i].userdata);
      memory_.store(at + 8, subs[i].tag);
      memory_.store(at + 16, subs[i].clock_or_fd);
      memory_.store(at + 24, subs[i].timeout);
      memory_.store(at + 40, subs[i].flags);
    }
    events = alloc(static_cast<std::uint32_t>(subs.size()) * kEventSize);
    std::uint32_t n = alloc(4);
    std::uint32_t err = call("poll_oneoff", {in, events, static_cast<RawValue>(subs.size()), n});
    nevents = get<std::uint32_t>(n);
    return err;
  }
};

TEST_F(PollTest, ClockSubscriptionFires) {
  std::uint32_t events = 0;
  std::uint32_t n = 0;
  ASSERT_EQ(poll({{11, kEventtypeClock, kClockMonotonic, 1'000'000}}, events, n), kSuccess);
  ASSERT_EQ(n, 1U);
  EXPECT_EQ(get<std::uint64_t>(events), 11U);
  EXPECT_EQ(get<std::uint16_t>(events + 8), kSuccess);
  EXPECT_EQ(get<std::uint8_t>(events + 10), kEventtypeClock);
  // An absolute deadline in the past fires at once; so does one on the realtime clock.
  const auto now = static_cast<std::uint64_t>(clock_.now().time_since_epoch().count());
  ASSERT_EQ(poll({{12, kEventtypeClock, kClockMonotonic, now, kSubclockAbstime}}, events, n),
            kSuccess);
  EXPECT_EQ(n, 1U);
  ASSERT_EQ(poll({{13, kEventtypeClock, kClockRealtime, 0, kSubclockAbstime}}, events, n),
            kSuccess);
  EXPECT_EQ(get<std::uint64_t>(events), 13U);
}

TEST_F(PollTest, FdSubscriptionsAreReadyAtOnce) {
  std::uint32_t events = 0;
  std::uint32_t n = 0;
  ASSERT_EQ(poll({{1, kEventtypeClock, kClockMonotonic, UINT64_MAX},  // "forever" must not wrap
                  {2, kEventtypeFdWrite, 1},
                  {3, kEventtypeFdRead, 0},
                  {4, kEventtypeFdRead, 42}},
                 events, n),
            kSuccess);
  ASSERT_EQ(n, 3U);  // not the timer
  EXPECT_EQ(get<std::uint64_t>(events), 2U);
  EXPECT_EQ(get<std::uint8_t>(events + 10), kEventtypeFdWrite);
  EXPECT_EQ(get<std::uint64_t>(events + kEventSize), 3U);
  EXPECT_EQ(get<std::uint64_t>(events + kEventSize + 16), 11U);  // stdin bytes left
  EXPECT_EQ(get<std::uint64_t>(events + 2 * kEventSize), 4U);
  EXPECT_EQ(get<std::uint16_t>(events + 2 * kEventSize + 8), kBadf);
}

TEST_F(PollTest, InvalidRequests) {
  std::uint32_t events = 0;
  std::uint32_t n = 0;
  EXPECT_EQ(call("poll_oneoff", {alloc(48), alloc(32), 0, alloc(4)}), kInval);
  EXPECT_EQ(call("poll_oneoff", {kOutOfBounds, alloc(32), 1, alloc(4)}), kFault);
  EXPECT_EQ(call("poll_oneoff", {alloc(48), kOutOfBounds, 1, alloc(4)}), kFault);
  EXPECT_EQ(call("poll_oneoff", {alloc(48), alloc(32), 1, kOutOfBounds}), kFault);
  EXPECT_EQ(poll({{1, 9, 0}}, events, n), kInval);
  ASSERT_EQ(poll({{1, kEventtypeClock, 77, 0}}, events, n), kSuccess);
  EXPECT_EQ(get<std::uint16_t>(events + 8), kInval);
  ASSERT_EQ(poll({{1, kEventtypeClock, kClockProcessCputime, 0}}, events, n), kSuccess);
  EXPECT_EQ(get<std::uint16_t>(events + 8), kNotSup);
}

TEST_F(PollTest, InterruptWakesABlockedPoll) {
  imports_.clear();
  auto pipe = make_pipe();
  ASSERT_TRUE(pipe);
  WasiConfig config;
  config.stdin_fd = pipe->read.release();
  start(std::move(config));
  context_->interrupt();  // before the call: a stop requested while the guest computes
  std::uint32_t events = 0;
  std::uint32_t n = 0;
  EXPECT_EQ(poll({{1, kEventtypeFdRead, 0}}, events, n), kIntr);
  EXPECT_EQ(call("fd_read", {0, iovec("", 8), 1, alloc(4)}), kIntr);
}

TEST_F(PollTest, StdinFdBecomesReadable) {
  imports_.clear();
  auto pipe = make_pipe();
  ASSERT_TRUE(pipe);
  ASSERT_EQ(::write(pipe->write.get(), "abc", 3), 3);
  WasiConfig config;
  config.stdin_fd = pipe->read.release();
  start(std::move(config));
  std::uint32_t events = 0;
  std::uint32_t n = 0;
  ASSERT_EQ(poll({{5, kEventtypeFdRead, 0}}, events, n), kSuccess);
  ASSERT_EQ(n, 1U);
  EXPECT_EQ(get<std::uint64_t>(events + 16), 3U);
}

}  // namespace
}  // namespace zlayer::wasm::wasi
