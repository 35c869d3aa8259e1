// Content store: blobs by digest under `$ZLAYER_ROOT_DIR/content/blobs/sha256/<hex>`. A blob is
// streamed into `content/ingest/<random>` and renamed to its real name only after its size and
// digest check, so a crash or a full disk never leaves a half blob under a real name; a blob that
// is already present is stored once. Safe for several threads and processes at once (rename is
// atomic; two writers of one digest both succeed). docs/design.md §2.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "image/digest.h"

namespace zlayer::image {

// A sink for one blob's bytes (the registry client writes into it).
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  // Appends bytes. Errors: kResourceExhausted on ENOSPC, errno-mapped others.
  virtual Status write(std::string_view bytes) = 0;
  // Bytes written so far (a retry resumes with a Range request from here).
  [[nodiscard]] virtual std::int64_t written() const = 0;
  // Drops everything written so far (a retry that cannot resume starts again).
  virtual Status reset() = 0;
};

// An in-memory BlobWriter (manifests, configs, tests).
class StringBlobWriter final : public BlobWriter {
 public:
  Status write(std::string_view bytes) override;
  [[nodiscard]] std::int64_t written() const override {
    return static_cast<std::int64_t>(data_.size());
  }
  Status reset() override;
  [[nodiscard]] const std::string& data() const { return data_; }

 private:
  std::string data_;
};

class ContentStore {
 public:
  // `root` is the content directory (Paths::content_dir()); created if missing.
  static Result<ContentStore> open(const std::filesystem::path& root);

  // Where the blob lives (whether or not it exists).
  [[nodiscard]] std::filesystem::path blob_path(const Digest& digest) const;
  [[nodiscard]] bool contains(const Digest& digest) const;
  // Size in bytes of a stored blob. Errors: kNotFound.
  Result<std::int64_t> size(const Digest& digest) const;
  // Reads a whole blob (for manifests and configs). Errors: kNotFound.
  Result<std::string> read(const Digest& digest) const;

  // One blob being written: bytes go to a temp file in ingest/; commit() checks that the size is
  // `expected_size` (when ≥ 0) and the sha256 is `expected`, fsyncs, and renames it into place.
  // Destroying an uncommitted Ingest removes its temp file.
  class Ingest final : public BlobWriter {
   public:
    ~Ingest() override;
    Status write(std::string_view bytes) override;
    [[nodiscard]] std::int64_t written() const override { return written_; }
    Status reset() override;
    // Errors: kInvalidArgument "digest mismatch: expected X, got Y (N bytes)" or
    // "size mismatch: expected N bytes, got M"; the temp file is removed either way.
    Status commit();

   private:
    friend class ContentStore;
    Ingest(const ContentStore* store, Digest expected, std::int64_t expected_size,
           std::filesystem::path temp, UniqueFd fd);
    const ContentStore* store_;
    Digest expected_;
    std::int64_t expected_size_;
    std::filesystem::path temp_;
    UniqueFd fd_;
    Sha256 hash_;
    std::int64_t written_ = 0;
    bool done_ = false;
  };

  // Starts writing a blob. expected_size < 0 means unknown.
  Result<std::unique_ptr<Ingest>> begin(const Digest& expected, std::int64_t expected_size) const;
  // Stores bytes already in memory (verifies the digest like commit()).
  Status put(const Digest& expected, std::string_view bytes) const;

  // Removes one blob (missing is success).
  Status remove(const Digest& digest) const;
  // Every stored blob's digest.
  Result<std::vector<Digest>> list() const;
  // Removes blobs not in `keep`; returns bytes freed.
  Result<std::int64_t> remove_all_except(const std::set<Digest>& keep) const;
  // Removes every file in ingest/ (downloads a crashed or killed pull left). Only call it while no
  // pull runs (ImageService::prune holds the content lock exclusively). Returns bytes freed.
  Result<std::int64_t> remove_ingest() const;

  [[nodiscard]] const std::filesystem::path& root() const { return root_; }

 private:
  explicit ContentStore(std::filesystem::path root) : root_(std::move(root)) {}
  std::filesystem::path root_;
};

}  // namespace zlayer::image
