#include "image/snapshot.h"

#include <spdlog/spdlog.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cerrno>
#include <system_error>

#include "core/fs.h"

namespace zlayer::image {
namespace {

constexpr std::string_view kTempPrefix = "tmp-";
constexpr std::string_view kFsDir = "fs";

}  // namespace

SnapshotStore::SnapshotStore(std::filesystem::path snapshots_dir, std::filesystem::path locks_dir)
    : dir_(std::move(snapshots_dir)), locks_dir_(std::move(locks_dir)) {}

SnapshotStore SnapshotStore::from_paths(const Paths& paths) {
  return SnapshotStore(paths.snapshots_dir(), paths.locks_dir() / "snapshots");
}

std::filesystem::path SnapshotStore::path(const Digest& diff_id) const {
  return dir_ / diff_id.hex / kFsDir;
}

std::filesystem::path SnapshotStore::lock_path(const std::string& hex) const {
  return locks_dir_ / (hex + ".lock");
}

bool SnapshotStore::exists(const Digest& diff_id) const {
  std::error_code ec;
  return std::filesystem::is_directory(path(diff_id), ec);
}

Result<std::filesystem::path> SnapshotStore::ensure(const Digest& diff_id,
                                                    const Producer& produce) const {
  if (diff_id.algorithm != "sha256" || diff_id.hex.size() != 64) {
    return errorf(Errc::kInvalidArgument, "diff_id \"{}\" is not a sha256 digest", diff_id.str());
  }
  if (exists(diff_id)) return path(diff_id);
  ZLAYER_CHECK(make_dirs(dir_));
  ZLAYER_TRY(lock, FileLock::acquire(lock_path(diff_id.hex)));
  if (exists(diff_id)) return path(diff_id);  // made by another process while we waited

  ZLAYER_TRY(temp, make_temp_dir(dir_, fmt::format("{}{}-", kTempPrefix, diff_id.hex)));
  auto discard = [&temp] {
    if (auto ok = remove_tree(temp); !ok) spdlog::warn("{}", ok.error().message);
  };
  auto fs_dir = temp / kFsDir;
  if (::mkdir(fs_dir.c_str(), 0755) != 0) {
    int err = errno;
    discard();
    return sys_error(fmt::format("creating {}", fs_dir.string()), err);
  }
  auto produced = produce(fs_dir);
  if (!produced) {
    discard();
    return unexpected(produced.error().wrap(fmt::format("unpacking layer {}", diff_id.str())));
  }
  if (*produced != diff_id) {
    discard();
    return errorf(Errc::kInvalidArgument,
                  "layer {}: diff_id mismatch: image config says {}, layer unpacks to {}",
                  diff_id.str(), diff_id.str(), produced->str());
  }
  auto final_dir = dir_ / diff_id.hex;
  if (::rename(temp.c_str(), final_dir.c_str()) != 0) {
    int err = errno;
    discard();
    // Someone without our lock (another store root sharing the dir) finished first.
    if ((err == EEXIST || err == ENOTEMPTY) && exists(diff_id)) return path(diff_id);
    return sys_error(fmt::format("renaming {} to {}", temp.string(), final_dir.string()), err);
  }
  ZLAYER_CHECK(fsync_dir(dir_));
  return path(diff_id);
}

Status SnapshotStore::remove(const Digest& diff_id) const {
  if (diff_id.hex.empty() || diff_id.hex.find('/') != std::string::npos) {
    return errorf(Errc::kInvalidArgument, "diff_id \"{}\" is not a digest", diff_id.str());
  }
  ZLAYER_TRY(lock, FileLock::acquire(lock_path(diff_id.hex)));
  // Rename first so a half-removed snapshot never looks complete.
  auto final_dir = dir_ / diff_id.hex;
  auto doomed = dir_ / fmt::format("{}{}-removing", kTempPrefix, diff_id.hex);
  if (::rename(final_dir.c_str(), doomed.c_str()) != 0) {
    if (errno == ENOENT) return {};
    return sys_error(fmt::format("renaming {}", final_dir.string()), errno);
  }
  return remove_tree(doomed);
}

Result<std::vector<Digest>> SnapshotStore::list() const {
  std::vector<Digest> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_, ec);
  if (ec == std::errc::no_such_file_or_directory) return out;
  if (ec) return sys_error(fmt::format("listing {}", dir_.string()), ec.value());
  for (const auto& entry : it) {
    auto name = entry.path().filename().string();
    if (name.starts_with(kTempPrefix)) continue;
    auto digest = Digest::parse("sha256:" + name);
    if (!digest) continue;
    out.push_back(std::move(*digest));
  }
  return out;
}

Status SnapshotStore::clean_temp() const {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_, ec);
  if (ec == std::errc::no_such_file_or_directory) return {};
  if (ec) return sys_error(fmt::format("listing {}", dir_.string()), ec.value());
  std::vector<std::filesystem::path> temps;
  for (const auto& entry : it) {
    if (entry.path().filename().string().starts_with(kTempPrefix)) temps.push_back(entry.path());
  }
  for (const auto& temp : temps) {
    // tmp-<hex>-XXXXXX: an unpack in progress holds the lock for <hex>.
    auto name = temp.filename().string().substr(kTempPrefix.size());
    auto hex = name.substr(0, name.find('-'));
    auto lock = FileLock::try_acquire(lock_path(hex));
    if (!lock) {
      if (lock.error().code == Errc::kUnavailable) continue;
      return unexpected(lock.error());
    }
    ZLAYER_CHECK(remove_tree(temp));
  }
  return {};
}

}  // namespace zlayer::image
