#include "image/image_service.h"

#include <fcntl.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "image/oci_layout.h"
#include "image/snapshot.h"
#include "image/unpack.h"
#include "image/wasm_artifact.h"
#include "state/state_db.h"

namespace zlayer::image {
namespace {

using state::as_int;
using state::as_string;

// Where a pull gets its bytes from: a registry or an OCI image layout directory.
class BlobSource {
 public:
  virtual ~BlobSource() = default;
  // The top-level document for the image (manifest or index) with its raw bytes.
  virtual Result<FetchedManifest> top_manifest() = 0;
  virtual Result<FetchedManifest> manifest(const Digest& digest) = 0;
  virtual Status blob(const Descriptor& desc, BlobWriter& out,
                      const std::function<void(std::int64_t)>& on_bytes) = 0;
};

class RegistrySource final : public BlobSource {
 public:
  RegistrySource(RegistryClient& client, Reference ref) : client_(client), ref_(std::move(ref)) {}
  Result<FetchedManifest> top_manifest() override { return client_.fetch_manifest(ref_); }
  Result<FetchedManifest> manifest(const Digest& digest) override {
    return client_.fetch_manifest(ref_, digest);
  }
  Status blob(const Descriptor& desc, BlobWriter& out,
              const std::function<void(std::int64_t)>& on_bytes) override {
    return client_.fetch_blob(ref_, desc, out, on_bytes);
  }

 private:
  RegistryClient& client_;
  Reference ref_;
};

class LayoutSource final : public BlobSource {
 public:
  LayoutSource(std::filesystem::path dir, Descriptor top)
      : dir_(std::move(dir)), top_(std::move(top)) {}
  Result<FetchedManifest> top_manifest() override { return manifest(top_.digest); }
  Result<FetchedManifest> manifest(const Digest& digest) override {
    ZLAYER_TRY(body, read_layout_blob(dir_, digest, -1, 4 << 20));
    return FetchedManifest{std::move(body), "", digest};
  }
  Status blob(const Descriptor& desc, BlobWriter& out,
              const std::function<void(std::int64_t)>& on_bytes) override {
    // Streamed, not read whole: layers can be large. The content store's commit checks the digest.
    ZLAYER_TRY(fd, open_layout_blob(dir_, desc.digest));
    std::vector<char> buffer(1 << 20);
    for (;;) {
      ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return sys_error(fmt::format("reading blob {} from {}", desc.digest.str(), dir_.string()),
                         errno);
      }
      if (n == 0) return {};
      ZLAYER_CHECK(out.write(std::string_view(buffer.data(), static_cast<std::size_t>(n))));
      if (on_bytes) on_bytes(n);
    }
  }

 private:
  std::filesystem::path dir_;
  Descriptor top_;
};

bool is_tar_layer(std::string_view media_type) {
  return media_type.find(".tar") != std::string_view::npos ||
         media_type.find("rootfs.diff") != std::string_view::npos ||
         media_type == "application/octet-stream" || media_type.empty();
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ImageRecord record_from_row(const state::Row& row) {
  ImageRecord r;
  r.name = as_string(row[0]);
  r.manifest_digest = Digest::parse(as_string(row[1])).value_or(Digest{});
  if (!std::holds_alternative<std::nullptr_t>(row[2])) {
    if (auto d = Digest::parse(as_string(row[2]))) r.index_digest = *d;
  }
  r.config_digest = Digest::parse(as_string(row[3])).value_or(Digest{});
  r.platform = Platform::parse(as_string(row[4])).value_or(Platform{});
  r.size = as_int(row[5]);
  r.kind = as_string(row[6]);
  r.pulled_at = as_int(row[7]);
  return r;
}

constexpr std::string_view kSelectImages =
    "SELECT name, manifest_digest, index_digest, config_digest, platform, size, kind, pulled_at "
    "FROM images";

}  // namespace

struct ImageService::Impl {
  Paths paths;
  RegistryClient client;
  ContentStore content;
  SnapshotStore snapshots;
  state::StateDb db;

  std::filesystem::path content_lock() const { return paths.locks_dir() / "content.lock"; }

  // Serialises progress callbacks from download threads.
  std::mutex progress_mutex;

  Impl(Paths p, RegistryOptions options, ContentStore c, SnapshotStore s, state::StateDb d)
      : paths(std::move(p)),
        client(std::move(options)),
        content(std::move(c)),
        snapshots(std::move(s)),
        db(std::move(d)) {}

  void emit(const PullOptions& options, PullEvent event) {
    if (!options.progress) return;
    std::lock_guard lock(progress_mutex);
    options.progress(event);
  }

  Status store_blob(BlobSource& source, const Descriptor& desc, const PullOptions& options) {
    if (content.contains(desc.digest)) return {};
    ZLAYER_TRY(ingest, content.begin(desc.digest, desc.size));
    std::int64_t seen = 0;
    std::string id = desc.digest.short_hex();
    std::int64_t last_report = 0;
    ZLAYER_CHECK(source.blob(desc, *ingest, [&](std::int64_t n) {
      seen += n;
      // Throttle: an event per 1 MiB (or at the end) keeps terminal redraws cheap.
      if (seen - last_report >= (1 << 20) || seen == desc.size) {
        last_report = seen;
        emit(options, {PullEvent::Phase::kDownloading, id, seen, desc.size});
      }
    }));
    return ingest->commit();
  }

  Result<PullResult> pull_from(BlobSource& source, const std::string& display_name,
                               const std::string& record_name, const PullOptions& options) {
    Platform want = options.platform ? *options.platform : Platform::host();
    std::int64_t bytes_before = client.bytes_received();

    ZLAYER_TRY(top, source.top_manifest());
    ZLAYER_TRY(top_doc, parse_manifest(top.body, top.content_type));
    std::optional<Digest> index_digest;
    FetchedManifest manifest_bytes = top;
    ImageManifest manifest;
    if (auto* index = std::get_if<ImageIndex>(&top_doc)) {
      auto selected = select_platform(*index, want);
      // A WASM pull (asked for wasip1/wasi + wasm, or of an index that offers nothing for this
      // host but a WASI build) takes the index's WASI entry.
      const bool wasm_wanted = is_wasm_platform(want);
      if ((wasm_wanted || (!selected && !options.platform)) &&
          (!selected || !is_wasm_platform(*selected->platform))) {
        for (const auto& candidate : wasm_platforms()) {
          if (auto wasm_entry = select_platform(*index, candidate)) {
            selected = std::move(wasm_entry);
            break;
          }
        }
      }
      if (!selected) return unexpected(selected.error());
      Descriptor chosen = std::move(*selected);
      index_digest = top.digest;
      ZLAYER_TRY(child, source.manifest(chosen.digest));
      if (child.digest != chosen.digest) {
        return errorf(Errc::kInvalidArgument, "manifest {}: digest mismatch: got {}",
                      chosen.digest.str(), child.digest.str());
      }
      ZLAYER_TRY(child_doc, parse_manifest(child.body, child.content_type));
      if (!std::holds_alternative<ImageManifest>(child_doc)) {
        return errorf(Errc::kInvalidArgument,
                      "manifest {} for {} is an index, not an image manifest", chosen.digest.str(),
                      want.str());
      }
      manifest = std::get<ImageManifest>(std::move(child_doc));
      manifest_bytes = std::move(child);
    } else {
      manifest = std::get<ImageManifest>(std::move(top_doc));
    }
    emit(options, {PullEvent::Phase::kResolved, display_name, 0, 0});

    // Artifacts (wasm media types) are blobs; Docker+Wasm images (platform wasip1/wasi + wasm)
    // are ordinary images whose layers hold the module file.
    const bool wasm_artifact = is_wasm_artifact(manifest);
    bool wasm = wasm_artifact;
    ZLAYER_CHECK(store_blob(source, manifest.config, options));
    ZLAYER_TRY(config_body, content.read(manifest.config.digest));
    ImageConfig config;
    if (!wasm_artifact) {
      ZLAYER_TRY(parsed, parse_image_config(config_body));
      config = std::move(parsed);
      wasm = is_wasm_platform(config.platform);
      if (config.diff_ids.size() != manifest.layers.size()) {
        return errorf(Errc::kInvalidArgument,
                      "image config {} lists {} diff_ids but the manifest has {} layers",
                      manifest.config.digest.str(), config.diff_ids.size(), manifest.layers.size());
      }
      for (const auto& layer : manifest.layers) {
        if (!is_tar_layer(layer.media_type)) {
          return errorf(Errc::kUnsupported, "layer {} has media type \"{}\", not a tar layer",
                        layer.digest.str(), layer.media_type);
        }
      }
      // A single-platform image that does not match: an error when the user asked for a
      // platform, a warning when it is only the host's default (as Docker does).
      // A WASI image runs on any host, so it matches unless another platform was asked for.
      bool mismatch =
          wasm ? options.platform && !is_wasm_platform(want)
               : !config.platform.os.empty() && (config.platform.os != want.os ||
                                                 config.platform.architecture != want.architecture);
      if (mismatch && options.platform) {
        return errorf(Errc::kNotFound, "image is for {}, not the requested platform {}",
                      config.platform.str(), want.str());
      }
      if (mismatch) {
        spdlog::warn("{}: the image's platform ({}) does not match this host ({})", display_name,
                     config.platform.str(), want.str());
      }
    } else {
      for (const auto& layer : manifest.layers) {
        if (layer.media_type.find("component") != std::string::npos) {
          return errorf(Errc::kUnsupported,
                        "{}: layer {} is a WebAssembly component (preview 2), which is not "
                        "supported; build a WASI preview 1 module (wasm32-wasip1)",
                        display_name, layer.digest.str());
        }
      }
    }

    // Decide per layer: snapshot present → nothing to do; blob present → unpack only.
    std::size_t n = manifest.layers.size();
    std::vector<bool> need_download(n, false), need_unpack(n, false);
    PullResult result;
    for (std::size_t i = 0; i < n; ++i) {
      const auto& layer = manifest.layers[i];
      bool have_snapshot = !wasm_artifact && snapshots.exists(config.diff_ids[i]);
      need_unpack[i] = !wasm_artifact && !have_snapshot;
      need_download[i] = !have_snapshot && !content.contains(layer.digest);
      if (!need_download[i]) {
        ++result.layers_reused;
        emit(options,
             {PullEvent::Phase::kExists, layer.digest.short_hex(), layer.size, layer.size});
      } else {
        emit(options, {PullEvent::Phase::kWaiting, layer.digest.short_hex(), 0, layer.size});
      }
    }

    // Downloads run on worker threads in parallel; unpacking runs here, strictly bottom-up, as
    // soon as each layer's blob is committed.
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<int> done(n, 0);  // 0 pending, 1 ok, -1 failed
    std::vector<Error> errors(n);
    std::atomic<std::size_t> next{0};
    std::atomic<bool> cancelled{false};
    auto worker = [&] {
      for (;;) {
        std::size_t i = next.fetch_add(1);
        if (i >= n) return;
        Status ok;
        if (need_download[i] && !cancelled) {
          ok = store_blob(source, manifest.layers[i], options);
          if (ok)
            emit(options, {PullEvent::Phase::kDownloaded, manifest.layers[i].digest.short_hex(),
                           manifest.layers[i].size, manifest.layers[i].size});
        } else if (cancelled) {
          ok = make_error(Errc::kCancelled, "cancelled");
        }
        std::lock_guard lock(mutex);
        done[i] = ok ? 1 : -1;
        if (!ok) {
          errors[i] = ok.error();
          cancelled = true;
        }
        cv.notify_all();
      }
    };
    int threads = std::max(1, std::min<int>(options.max_concurrent_downloads, static_cast<int>(n)));
    std::vector<std::thread> pool;
    for (int t = 0; t < threads && n > 0; ++t) pool.emplace_back(worker);

    Status failure;
    for (std::size_t i = 0; i < n && failure; ++i) {
      {
        std::unique_lock lock(mutex);
        cv.wait(lock, [&] { return done[i] != 0; });
        if (done[i] < 0) {
          failure =
              unexpected(errors[i].wrap(fmt::format("layer {}", manifest.layers[i].digest.str())));
          break;
        }
      }
      if (need_download[i]) ++result.layers_downloaded;
      if (!need_unpack[i]) continue;
      const auto& layer = manifest.layers[i];
      emit(options, {PullEvent::Phase::kUnpacking, layer.digest.short_hex(), 0, layer.size});
      auto blob_path = content.blob_path(layer.digest);
      std::string layer_name = layer.digest.str();
      auto snapshot = snapshots.ensure(
          config.diff_ids[i], [&](const std::filesystem::path& dir) -> Result<Digest> {
            ZLAYER_TRY(stats, unpack_layer(dir, blob_path, layer.media_type, layer_name));
            return stats.diff_id;
          });
      if (!snapshot) {
        cancelled = true;
        failure = unexpected(std::move(snapshot).error());
        break;
      }
      emit(options,
           {PullEvent::Phase::kUnpacked, layer.digest.short_hex(), layer.size, layer.size});
    }
    for (auto& t : pool) t.join();
    if (!failure) return unexpected(failure.error());
    if (wasm_artifact) {
      // A component is recognised by its preamble even when its media type says "wasm".
      ZLAYER_TRY(module_layer, wasm_module_layer(manifest, display_name));
      const auto module_path = content.blob_path(module_layer.digest);
      UniqueFd module_fd(::open(module_path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!module_fd.valid()) {
        return sys_error(fmt::format("opening {}", module_path.string()), errno);
      }
      char head[8] = {};
      ssize_t got = ::pread(module_fd.get(), head, sizeof head, 0);
      ZLAYER_CHECK(check_wasm_preamble(
          std::string_view(head, got > 0 ? static_cast<std::size_t>(got) : 0),
          fmt::format("{} (layer {})", display_name, module_layer.digest.str())));
    }

    // Manifests last: an image whose manifest is in the store is complete.
    if (index_digest) ZLAYER_CHECK(content.put(*index_digest, top.body));
    ZLAYER_CHECK(content.put(manifest_bytes.digest, manifest_bytes.body));

    ImageRecord record;
    record.name = record_name;
    record.manifest_digest = manifest_bytes.digest;
    record.index_digest = index_digest;
    record.config_digest = manifest.config.digest;
    record.platform = wasm_artifact ? wasm_platforms().front()
                                    : (config.platform.os.empty() ? want : config.platform);
    record.size = manifest.config.size;
    for (const auto& l : manifest.layers) record.size += l.size;
    record.kind = wasm ? "wasm" : "oci";
    record.pulled_at = unix_now();
    ZLAYER_CHECK(db.exec(
        "INSERT INTO images (name, manifest_digest, index_digest, config_digest, platform, size, "
        "kind, pulled_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(name) DO UPDATE SET "
        "manifest_digest=?2, index_digest=?3, config_digest=?4, platform=?5, size=?6, kind=?7, "
        "pulled_at=?8",
        {record.name, record.manifest_digest.str(),
         index_digest ? state::Value(index_digest->str()) : state::Value(nullptr),
         record.config_digest.str(), record.platform.str(), record.size, record.kind,
         record.pulled_at}));
    result.image = ImageDetails{std::move(record), std::move(manifest), std::move(config)};
    result.bytes_transferred = client.bytes_received() - bytes_before;
    return result;
  }

  Result<ImageDetails> details(ImageRecord record) {
    ZLAYER_TRY(body, content.read(record.manifest_digest));
    ZLAYER_TRY(doc, parse_manifest(body, ""));
    if (!std::holds_alternative<ImageManifest>(doc)) {
      return errorf(Errc::kInternal, "{}: stored manifest is not an image manifest", record.name);
    }
    ImageDetails d{std::move(record), std::get<ImageManifest>(std::move(doc)), {}};
    if (d.record.kind == "oci") {
      ZLAYER_TRY(config_body, content.read(d.manifest.config.digest));
      ZLAYER_TRY(config, parse_image_config(config_body));
      d.config = std::move(config);
    }
    return d;
  }
};

ImageService::ImageService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ImageService::~ImageService() = default;

Result<std::unique_ptr<ImageService>> ImageService::open(const Paths& paths,
                                                         RegistryOptions options) {
  ZLAYER_TRY(content, ContentStore::open(paths.content_dir()));
  SnapshotStore snapshots = SnapshotStore::from_paths(paths);
  ZLAYER_CHECK(make_dirs(paths.snapshots_dir(), 0700));
  ZLAYER_TRY(db, state::StateDb::open(paths.state_db()));
  auto impl = std::make_unique<Impl>(paths, std::move(options), std::move(content),
                                     std::move(snapshots), std::move(db));
  return std::unique_ptr<ImageService>(new ImageService(std::move(impl)));
}

Result<PullResult> ImageService::pull(const Reference& ref, const PullOptions& options) {
  ZLAYER_TRY(lease, FileLock::acquire_shared(impl_->content_lock()));
  RegistrySource source(impl_->client, ref);
  // A digest-pinned reference is recorded under its digest; a tag under registry/repo:tag.
  std::string record_name = ref.tag.empty() ? ref.str() : ref.name() + ":" + ref.tag;
  auto result = impl_->pull_from(source, ref.familiar(), record_name, options);
  if (!result) return unexpected(result.error().wrap(fmt::format("pulling {}", ref.familiar())));
  return result;
}

Result<PullResult> ImageService::import_layout(const std::filesystem::path& dir,
                                               std::optional<std::string> tag,
                                               std::optional<Reference> name,
                                               const PullOptions& options) {
  ZLAYER_TRY(lease, FileLock::acquire_shared(impl_->content_lock()));
  ZLAYER_TRY(selection, select_layout_image(dir, tag));
  Reference ref;
  if (name) {
    if (name->digest) {
      return errorf(Errc::kInvalidArgument,
                    "image import: REF \"{}\" must be a name with an optional tag, not a digest",
                    name->str());
    }
    ref = *name;
  } else {
    // containerd writes the full name in io.containerd.image.name; ref.name is usually only a
    // tag ("v1", "latest"), which is no image name on its own.
    auto full = selection.descriptor.annotations.find("io.containerd.image.name");
    std::string candidate =
        full != selection.descriptor.annotations.end() ? full->second : selection.tag;
    bool looks_like_name = candidate.find_first_of("/:") != std::string::npos;
    auto parsed = Reference::parse(candidate);
    if (!looks_like_name || !parsed || parsed->digest) {
      return errorf(Errc::kInvalidArgument,
                    "image layout {}: \"{}\" is a tag, not an image name; give REF, e.g. "
                    "`zlayer-agent image import {}:{} myapp:{}`",
                    dir.string(), candidate, dir.string(), candidate, candidate);
    }
    ref = *parsed;
  }
  LayoutSource source(dir, selection.descriptor);
  std::string record_name = ref.tag.empty() ? ref.str() : ref.name() + ":" + ref.tag;
  auto result = impl_->pull_from(source, ref.familiar(), record_name, options);
  if (!result) return unexpected(result.error().wrap(fmt::format("importing {}", dir.string())));
  return result;
}

Result<std::vector<ImageRecord>> ImageService::list() {
  ZLAYER_TRY(rows, impl_->db.query(std::string(kSelectImages) + " ORDER BY name"));
  std::vector<ImageRecord> out;
  for (const auto& row : rows) out.push_back(record_from_row(row));
  return out;
}

namespace {

// Resolves a user's word for an image: a reference, "sha256:<id>", or an id prefix.
Result<std::vector<ImageRecord>> resolve(std::vector<ImageRecord> all, std::string_view what) {
  std::vector<ImageRecord> matches;
  if (auto ref = Reference::parse(what)) {
    std::string name = ref->tag.empty() ? ref->str() : ref->name() + ":" + ref->tag;
    for (auto& r : all) {
      if (r.name == name) matches.push_back(r);
    }
    if (!matches.empty()) return matches;
  }
  std::string_view hex = what;
  if (hex.starts_with("sha256:")) hex.remove_prefix(7);
  bool is_hex =
      hex.size() >= 4 && hex.find_first_not_of("0123456789abcdef") == std::string_view::npos;
  if (is_hex) {
    std::set<std::string> ids;
    for (auto& r : all) {
      if (r.config_digest.hex.starts_with(hex)) {
        matches.push_back(r);
        ids.insert(r.config_digest.hex);
      }
    }
    if (ids.size() > 1) {
      return errorf(Errc::kInvalidArgument, "image id prefix \"{}\" is ambiguous ({} images)", what,
                    ids.size());
    }
    if (!matches.empty()) return matches;
  }
  return errorf(Errc::kNotFound, "no such image: {}", what);
}

}  // namespace

Result<ImageDetails> ImageService::inspect(std::string_view what) {
  ZLAYER_TRY(all, list());
  ZLAYER_TRY(matches, resolve(std::move(all), what));
  return impl_->details(matches.front());
}

Result<std::vector<std::string>> ImageService::remove(std::string_view what, bool force) {
  ZLAYER_TRY(all, list());
  ZLAYER_TRY(matches, resolve(std::move(all), what));
  if (matches.size() > 1 && !force) {
    std::vector<std::string> names;
    for (const auto& m : matches) names.push_back(m.name);
    return errorf(Errc::kFailedPrecondition,
                  "image {} is tagged as {}; remove the tags one by one or use --force", what,
                  fmt::join(names, ", "));
  }
  std::vector<std::string> removed;
  for (const auto& m : matches) {
    ZLAYER_CHECK(impl_->db.exec("DELETE FROM images WHERE name = ?1", {m.name}));
    removed.push_back(m.name);
  }
  return removed;
}

Result<PruneReport> ImageService::prune() {
  ZLAYER_TRY(exclusive, FileLock::acquire(impl_->content_lock()));
  ZLAYER_TRY(all, list());
  std::set<Digest> keep_blobs;
  std::set<Digest> keep_snapshots;
  for (auto& record : all) {
    keep_blobs.insert(record.manifest_digest);
    if (record.index_digest) keep_blobs.insert(*record.index_digest);
    auto d = impl_->details(record);
    if (!d) continue;  // a broken record keeps nothing alive
    keep_blobs.insert(d->manifest.config.digest);
    for (const auto& l : d->manifest.layers) keep_blobs.insert(l.digest);
    for (const auto& id : d->config.diff_ids) keep_snapshots.insert(id);
  }
  // Snapshots stacked by containers (kContainerSnapshotsFile), tagged image or not.
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator(impl_->paths.containers_dir(), ec)) {
    auto pinned = read_file(entry.path() / kContainerSnapshotsFile);
    if (!pinned) continue;
    std::string_view rest = *pinned;
    while (!rest.empty()) {
      auto line = rest.substr(0, rest.find('\n'));
      rest.remove_prefix(std::min(rest.size(), line.size() + 1));
      if (auto id = Digest::parse(line)) keep_snapshots.insert(*id);
    }
  }
  PruneReport report;
  ZLAYER_TRY(before, impl_->content.list());
  ZLAYER_TRY(freed, impl_->content.remove_all_except(keep_blobs));
  ZLAYER_TRY(after, impl_->content.list());
  report.blobs_removed = static_cast<int>(before.size() - after.size());
  ZLAYER_TRY(ingest_freed, impl_->content.remove_ingest());
  report.bytes_freed = freed + ingest_freed;
  ZLAYER_CHECK(impl_->snapshots.clean_temp());
  ZLAYER_TRY(snapshot_ids, impl_->snapshots.list());
  for (const auto& id : snapshot_ids) {
    if (keep_snapshots.count(id) != 0) continue;
    ZLAYER_CHECK(impl_->snapshots.remove(id));
    ++report.snapshots_removed;
  }
  return report;
}

Result<std::vector<std::filesystem::path>> ImageService::layer_dirs(const ImageDetails& image) {
  std::vector<std::filesystem::path> out;
  for (const auto& id : image.config.diff_ids) {
    if (!impl_->snapshots.exists(id)) {
      return errorf(Errc::kNotFound, "{}: snapshot of layer {} is missing; pull the image again",
                    image.record.name, id.str());
    }
    out.push_back(impl_->snapshots.path(id));
  }
  return out;
}

const ContentStore& ImageService::content() const { return impl_->content; }

}  // namespace zlayer::image
