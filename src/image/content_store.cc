#include "image/content_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>

namespace zlayer::image {
namespace {

std::string random_name() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

}  // namespace

Result<ContentStore> ContentStore::open(const std::filesystem::path& root) {
  ZLAYER_CHECK(make_dirs(root / "blobs" / "sha256", 0700));
  ZLAYER_CHECK(make_dirs(root / "ingest", 0700));
  return ContentStore(root);
}

std::filesystem::path ContentStore::blob_path(const Digest& digest) const {
  return root_ / "blobs" / digest.algorithm / digest.hex;
}

bool ContentStore::contains(const Digest& digest) const {
  struct stat st {};
  return ::stat(blob_path(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<std::int64_t> ContentStore::size(const Digest& digest) const {
  struct stat st {};
  if (::stat(blob_path(digest).c_str(), &st) != 0) {
    if (errno == ENOENT)
      return errorf(Errc::kNotFound, "blob {} is not in the content store", digest.str());
    return sys_error(fmt::format("stat blob {}", digest.str()), errno);
  }
  return static_cast<std::int64_t>(st.st_size);
}

Result<std::string> ContentStore::read(const Digest& digest) const {
  auto data = read_file(blob_path(digest));
  if (!data && data.error().code == Errc::kNotFound) {
    return errorf(Errc::kNotFound, "blob {} is not in the content store", digest.str());
  }
  return data;
}

ContentStore::Ingest::Ingest(const ContentStore* store, Digest expected, std::int64_t expected_size,
                             std::filesystem::path temp, UniqueFd fd)
    : store_(store),
      expected_(std::move(expected)),
      expected_size_(expected_size),
      temp_(std::move(temp)),
      fd_(std::move(fd)) {}

ContentStore::Ingest::~Ingest() {
  if (!done_) ::unlink(temp_.c_str());
}

Status ContentStore::Ingest::write(std::string_view bytes) {
  if (done_) return make_error(Errc::kFailedPrecondition, "blob ingest already finished");
  if (expected_size_ >= 0 && written_ + static_cast<std::int64_t>(bytes.size()) > expected_size_) {
    return errorf(Errc::kInvalidArgument, "blob {}: more than the expected {} bytes arrived",
                  expected_.str(), expected_size_);
  }
  hash_.update(bytes);
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_.get(), bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error(fmt::format("writing blob {}", expected_.str()), errno);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
    written_ += n;
  }
  return {};
}

Status ContentStore::Ingest::reset() {
  if (::ftruncate(fd_.get(), 0) != 0 || ::lseek(fd_.get(), 0, SEEK_SET) != 0) {
    return sys_error(fmt::format("resetting blob {}", expected_.str()), errno);
  }
  hash_.finish();
  written_ = 0;
  return {};
}

Status ContentStore::Ingest::commit() {
  if (done_) return make_error(Errc::kFailedPrecondition, "blob ingest already finished");
  done_ = true;
  auto fail = [&](tl::unexpected<Error> e) -> Status {
    ::unlink(temp_.c_str());
    return e;
  };
  if (expected_size_ >= 0 && written_ != expected_size_) {
    return fail(errorf(Errc::kInvalidArgument, "blob {}: size mismatch: expected {} bytes, got {}",
                       expected_.str(), expected_size_, written_));
  }
  Digest actual = hash_.finish();
  if (actual != expected_) {
    return fail(errorf(Errc::kInvalidArgument,
                       "blob {}: digest mismatch: expected {}, got {} ({} bytes)", expected_.str(),
                       expected_.str(), actual.str(), written_));
  }
  if (::fsync(fd_.get()) != 0)
    return fail(sys_error(fmt::format("syncing blob {}", expected_.str()), errno));
  ::fchmod(fd_.get(), 0444);
  fd_.reset();
  auto dest = store_->blob_path(expected_);
  if (::rename(temp_.c_str(), dest.c_str()) != 0) {
    return fail(sys_error(fmt::format("storing blob {}", expected_.str()), errno));
  }
  return fsync_dir(dest.parent_path());
}

Result<std::unique_ptr<ContentStore::Ingest>> ContentStore::begin(
    const Digest& expected, std::int64_t expected_size) const {
  if (expected.algorithm != "sha256") {
    return errorf(Errc::kUnsupported, "blob {}: only sha256 digests can be verified",
                  expected.str());
  }
  auto temp = root_ / "ingest" / fmt::format("{}-{}", expected.short_hex(), random_name());
  UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return sys_error(fmt::format("creating {}", temp.string()), errno);
  return std::unique_ptr<Ingest>(new Ingest(this, expected, expected_size, temp, std::move(fd)));
}

Status ContentStore::put(const Digest& expected, std::string_view bytes) const {
  if (contains(expected)) return {};
  ZLAYER_TRY(ingest, begin(expected, static_cast<std::int64_t>(bytes.size())));
  ZLAYER_CHECK(ingest->write(bytes));
  return ingest->commit();
}

Status ContentStore::remove(const Digest& digest) const {
  if (::unlink(blob_path(digest).c_str()) != 0 && errno != ENOENT) {
    return sys_error(fmt::format("removing blob {}", digest.str()), errno);
  }
  return {};
}

Result<std::vector<Digest>> ContentStore::list() const {
  std::vector<Digest> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root_ / "blobs" / "sha256", ec)) {
    auto d = Digest::parse("sha256:" + entry.path().filename().string());
    if (d) out.push_back(*d);
  }
  if (ec) return errorf(Errc::kInternal, "listing {}: {}", root_.string(), ec.message());
  return out;
}

Result<std::int64_t> ContentStore::remove_all_except(const std::set<Digest>& keep) const {
  ZLAYER_TRY(all, list());
  std::int64_t freed = 0;
  for (const auto& d : all) {
    if (keep.count(d) != 0) continue;
    auto s = size(d);
    ZLAYER_CHECK(remove(d));
    if (s) freed += *s;
  }
  return freed;
}

Result<std::int64_t> ContentStore::remove_ingest() const {
  std::int64_t freed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root_ / "ingest", ec)) {
    std::error_code size_ec;
    auto size = entry.file_size(size_ec);
    if (::unlink(entry.path().c_str()) != 0 && errno != ENOENT) {
      return sys_error(fmt::format("removing {}", entry.path().string()), errno);
    }
    if (!size_ec) freed += static_cast<std::int64_t>(size);
  }
  if (ec)
    return errorf(Errc::kInternal, "listing {}: {}", (root_ / "ingest").string(), ec.message());
  return freed;
}

}  // namespace zlayer::image
