// End-to-end tests of the image pipeline against a real docker-registry on 127.0.0.1: images built
// at test time (busybox-static layers, deletions, opaque directories), pushed with skopeo in OCI,
// Docker v2s2 and multi-platform index form, pulled through ImageService and the CLI.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "core/subprocess.h"
#include "image/image_service.h"
#include "image/manifest.h"
#include "image/rootfs.h"
#include "state/state_db.h"
#include "support/fake_http_server.h"
#include "support/image_builder.h"
#include "support/registry_fixture.h"
#include "support/tar_builder.h"
#include "support/temp_dir.h"

namespace zlayer::image {
namespace {

namespace fs = std::filesystem;
using testing::LayoutTag;
using testing::OciImage;
using testing::OciImageIndex;
using testing::PushFormat;
using testing::RegistryFixture;
using testing::RegistryFlavor;
using testing::TarBuilder;
using testing::TarCompression;
using testing::TempDir;

// Layer 2 deletes /bin/ls and /etc/group, adds /data/{a,b}; layer 3 makes /data opaque with
// /data/c, re-creates /bin/ls as a file, and adds a zstd-compressed payload.
// `top` is the third layer's compression: Docker schema 2 has no zstd layers, so the Docker-format
// test uses gzip there.
OciImage three_layer_image(TarCompression top = TarCompression::kZstd) {
  OciImage img;
  img.add_layer(*testing::busybox_rootfs_tar(), TarCompression::kGzip);
  img.add_layer(TarBuilder()
                    .whiteout("bin/ls")
                    .whiteout("etc/group")
                    .dir("data")
                    .file("data/a", "a")
                    .file("data/b", "b")
                    .file("etc/hello", "hello\n")
                    .tar(),
                TarCompression::kGzip);
  img.add_layer(TarBuilder()
                    .dir("data")
                    .opaque("data")
                    .file("data/c", "c")
                    .file("bin/ls", "not busybox")
                    .tar(),
                top);
  testing::OciImageConfig config;
  config.cmd = {"/bin/sh"};
  config.env = {"PATH=/bin"};
  config.stop_signal = "SIGINT";
  img.config(config);
  return img;
}

class ImagePullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "needs root (snapshots hold device nodes and trusted.* xattrs)";
    auto registry = RegistryFixture::start(RegistryFlavor::kPlainHttp);
    ASSERT_TRUE(registry) << registry.error().message;
    registry_ = std::move(*registry);
    layout_ = dir_.path() / "layout";
  }

  std::unique_ptr<ImageService> service(RegistryOptions options = {}) {
    auto s = ImageService::open(dir_.paths(), std::move(options));
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::move(*s) : nullptr;
  }

  std::string push(const std::string& tag, const std::variant<OciImage, OciImageIndex>& image,
                   PushFormat format, const std::string& name) {
    auto written = testing::write_layout(layout_, {LayoutTag{tag, image}});
    EXPECT_TRUE(written) << written.error().message;
    auto pushed = testing::push(layout_, tag, *registry_, name, format);
    EXPECT_TRUE(pushed) << pushed.error().message;
    return registry_->host_port() + "/" + name;
  }

  TempDir dir_{"zlayer-pull-"};
  std::unique_ptr<RegistryFixture> registry_;
  fs::path layout_;
};

bool is_whiteout_device(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

TEST_F(ImagePullTest, OciImageIsPulledUnpackedAndMounted) {
  auto name = push("v1", three_layer_image(), PushFormat::kOci, "test/three:v1");
  auto images = service();
  ASSERT_TRUE(images);
  auto ref = Reference::parse(name);
  ASSERT_TRUE(ref);
  auto pulled = images->pull(*ref);
  ASSERT_TRUE(pulled) << pulled.error().message;
  EXPECT_EQ(pulled->image.record.kind, "oci");
  EXPECT_EQ(pulled->image.manifest.media_type, media_type::kOciManifest);
  EXPECT_EQ(pulled->layers_downloaded, 3);
  EXPECT_EQ(pulled->image.config.stop_signal, "SIGINT");

  auto dirs = images->layer_dirs(pulled->image);
  ASSERT_TRUE(dirs) << dirs.error().message;
  ASSERT_EQ(dirs->size(), 3u);
  EXPECT_TRUE(fs::is_regular_file((*dirs)[0] / "bin" / "busybox"));
  EXPECT_TRUE(is_whiteout_device((*dirs)[1] / "bin" / "ls"));
  EXPECT_TRUE(is_whiteout_device((*dirs)[1] / "etc" / "group"));

  // Stacked, the snapshots give the image's filesystem.
  auto container = dir_.path() / "container";
  auto mounted = mount_rootfs(*dirs, container);
  ASSERT_TRUE(mounted) << mounted.error().message;
  auto rootfs = container / "rootfs";
  EXPECT_TRUE(fs::exists(rootfs / "bin" / "busybox"));
  EXPECT_TRUE(fs::is_symlink(rootfs / "bin" / "sh"));
  EXPECT_FALSE(fs::exists(rootfs / "etc" / "group"));
  EXPECT_TRUE(fs::exists(rootfs / "etc" / "passwd"));
  EXPECT_EQ(read_file(rootfs / "bin" / "ls").value_or(""), "not busybox");
  EXPECT_EQ(read_file(rootfs / "etc" / "hello").value_or(""), "hello\n");
  EXPECT_FALSE(fs::exists(rootfs / "data" / "a"));
  EXPECT_EQ(read_file(rootfs / "data" / "c").value_or(""), "c");
  ASSERT_TRUE(unmount_rootfs(container));

  // A second pull finds everything in place and transfers nothing.
  auto again = images->pull(*ref);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->bytes_transferred, 0);
  EXPECT_EQ(again->layers_reused, 3);
}

TEST_F(ImagePullTest, DockerSchema2ImageIsPulled) {
  auto name = push("v1", three_layer_image(TarCompression::kGzip), PushFormat::kDockerV2s2,
                   "test/docker:v1");
  auto images = service();
  auto pulled = images->pull(*Reference::parse(name));
  ASSERT_TRUE(pulled) << pulled.error().message;
  EXPECT_EQ(pulled->image.manifest.media_type, media_type::kDockerManifest);
  EXPECT_EQ(pulled->image.config.diff_ids.size(), 3u);
  auto dirs = images->layer_dirs(pulled->image);
  ASSERT_TRUE(dirs);
  EXPECT_TRUE(fs::exists((*dirs)[2] / "data" / "c"));
}

TEST_F(ImagePullTest, IndexPicksTheRequestedPlatform) {
  OciImageIndex index;
  auto host = Platform::host();
  OciImage native = three_layer_image();
  native.platform(host.os, host.architecture, host.variant);
  index.add(native);
  OciImage arm64;
  arm64.add_layer(testing::dummy_layer_tar("arm64"), TarCompression::kGzip)
      .platform("linux", "arm64", "v8");
  index.add(arm64);
  OciImage armv7;
  armv7.add_layer(testing::dummy_layer_tar("armv7"), TarCompression::kGzip)
      .platform("linux", "arm", "v7");
  index.add(armv7);
  auto name = push("multi", index, PushFormat::kAll, "test/multi:1");

  auto images = service();
  auto pulled = images->pull(*Reference::parse(name));
  ASSERT_TRUE(pulled) << pulled.error().message;
  EXPECT_TRUE(pulled->image.record.index_digest.has_value());
  EXPECT_EQ(pulled->image.record.platform.architecture, host.architecture);
  EXPECT_EQ(pulled->image.manifest.layers.size(), 3u);

  PullOptions arm;
  arm.platform = *Platform::parse("linux/arm64");
  auto pulled_arm = images->pull(*Reference::parse(name), arm);
  ASSERT_TRUE(pulled_arm) << pulled_arm.error().message;
  EXPECT_EQ(pulled_arm->image.record.platform.str(), "linux/arm64/v8");
  auto dirs = images->layer_dirs(pulled_arm->image);
  ASSERT_TRUE(dirs);
  auto dummy = read_file((*dirs)[0] / "dummy.txt");
  ASSERT_TRUE(dummy) << dummy.error().message;
  EXPECT_EQ(*dummy, "arm64");

  PullOptions s390x;
  s390x.platform = *Platform::parse("linux/s390x");
  auto missing = images->pull(*Reference::parse(name), s390x);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("linux/arm/v7"), std::string::npos)
      << missing.error().message;
}

TEST_F(ImagePullTest, SinglePlatformImageRefusesAnotherRequestedPlatform) {
  auto name = push("v1", three_layer_image(), PushFormat::kOci, "test/single:v1");
  auto images = service();
  PullOptions arm;
  arm.platform = *Platform::parse("linux/arm64");
  auto pulled = images->pull(*Reference::parse(name), arm);
  ASSERT_FALSE(pulled);
  EXPECT_NE(pulled.error().message.find("linux/arm64"), std::string::npos)
      << pulled.error().message;
  EXPECT_TRUE(images->list()->empty());
  PullOptions host;
  host.platform = Platform::host();
  EXPECT_TRUE(images->pull(*Reference::parse(name), host));
}

TEST_F(ImagePullTest, SecondImageTransfersOnlyItsOwnLayer) {
  OciImage base = three_layer_image();
  OciImage derived = three_layer_image();
  // Same first two layers; a different top layer.
  OciImage second;
  second.add_layer(base.layers()[0].tar, base.layers()[0].compression);
  second.add_layer(base.layers()[1].tar, base.layers()[1].compression);
  second.add_layer(TarBuilder().file("only-in-second", std::string(50000, 'x')).tar(),
                   TarCompression::kGzip);
  auto written = testing::write_layout(layout_, {LayoutTag{"a", base}, LayoutTag{"b", second}});
  ASSERT_TRUE(written) << written.error().message;
  ASSERT_TRUE(testing::push(layout_, "a", *registry_, "test/shared:a", PushFormat::kOci));
  ASSERT_TRUE(testing::push(layout_, "b", *registry_, "test/shared:b", PushFormat::kOci));

  auto images = service();
  ASSERT_TRUE(images->pull(*Reference::parse(registry_->host_port() + "/test/shared:a")));
  auto b = images->pull(*Reference::parse(registry_->host_port() + "/test/shared:b"));
  ASSERT_TRUE(b) << b.error().message;
  const auto& m = written->at("b").manifests.at(0);
  auto config_size = b->image.manifest.config.size;
  EXPECT_EQ(b->layers_downloaded, 1);
  EXPECT_EQ(b->layers_reused, 2);
  EXPECT_EQ(b->bytes_transferred, m.layer_sizes.at(2) + config_size);
}

TEST_F(ImagePullTest, BadLayerFailsThePullAndLeavesNothing) {
  OciImage evil;
  evil.add_layer(TarBuilder().file("ok", "fine").tar(), TarCompression::kGzip);
  evil.add_layer(TarBuilder().file("../zlayer-escaped", "gotcha").tar(), TarCompression::kGzip);
  auto name = push("evil", evil, PushFormat::kOci, "test/evil:1");
  auto images = service();
  auto pulled = images->pull(*Reference::parse(name));
  ASSERT_FALSE(pulled);
  EXPECT_NE(pulled.error().message.find("../zlayer-escaped"), std::string::npos)
      << pulled.error().message;
  EXPECT_NE(pulled.error().message.find("test/evil"), std::string::npos) << pulled.error().message;
  EXPECT_TRUE(images->list()->empty());
  auto snapshots = dir_.paths().snapshots_dir();
  for (const auto& e : fs::directory_iterator(snapshots)) {
    EXPECT_EQ(e.path().filename().string().rfind("tmp-", 0), std::string::npos) << e.path();
  }
  EXPECT_FALSE(fs::exists(snapshots / "zlayer-escaped"));
  EXPECT_FALSE(fs::exists(dir_.path() / "zlayer-escaped"));
  EXPECT_TRUE(fs::is_empty(dir_.paths().content_dir() / "ingest"));
}

TEST_F(ImagePullTest, DigestPinnedPullAndRemoveAndPrune) {
  auto written = testing::write_layout(layout_, {LayoutTag{"v1", three_layer_image()}});
  ASSERT_TRUE(written);
  ASSERT_TRUE(testing::push(layout_, "v1", *registry_, "test/pin:v1", PushFormat::kOci));
  auto digest = written->at("v1").digest;
  auto images = service();
  auto pinned = images->pull(*Reference::parse(registry_->host_port() + "/test/pin@" + digest));
  ASSERT_TRUE(pinned) << pinned.error().message;
  EXPECT_EQ(pinned->image.record.name, registry_->host_port() + "/test/pin@" + digest);
  EXPECT_EQ(pinned->image.record.manifest_digest.str(), digest);

  auto inspected = images->inspect(pinned->image.record.config_digest.hex.substr(0, 8));
  ASSERT_TRUE(inspected) << inspected.error().message;
  auto removed = images->remove(pinned->image.record.name);
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->size(), 1u);
  auto report = images->prune();
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->snapshots_removed, 3);
  EXPECT_GE(report->blobs_removed, 5);  // 3 layers, config, manifest
  EXPECT_TRUE(images->content().list()->empty());
  EXPECT_FALSE(images->inspect(pinned->image.record.name));
}

TEST_F(ImagePullTest, ImportFromOciLayout) {
  auto img = three_layer_image();
  ASSERT_TRUE(testing::write_layout(layout_, {LayoutTag{"one", img}, LayoutTag{"two", img}}));
  auto images = service();
  auto ambiguous = images->import_layout(layout_, std::nullopt, std::nullopt);
  ASSERT_FALSE(ambiguous);
  EXPECT_NE(ambiguous.error().message.find("one"), std::string::npos) << ambiguous.error().message;
  EXPECT_NE(ambiguous.error().message.find("two"), std::string::npos) << ambiguous.error().message;
  auto bare_tag = images->import_layout(layout_, "two", std::nullopt);
  ASSERT_FALSE(bare_tag);
  EXPECT_NE(bare_tag.error().message.find("give REF"), std::string::npos)
      << bare_tag.error().message;
  auto digest_ref = images->import_layout(
      layout_, "two", *Reference::parse("local/x@sha256:" + std::string(64, 'a')));
  ASSERT_FALSE(digest_ref);
  EXPECT_TRUE(images->list()->empty());
  auto imported = images->import_layout(layout_, "two", *Reference::parse("local/imported:2"));
  ASSERT_TRUE(imported) << imported.error().message;
  // The same image under a second name: removing it by id needs force, like `docker rmi`.
  ASSERT_TRUE(images->import_layout(layout_, "one", *Reference::parse("local/imported:1")));
  auto id = imported->image.record.config_digest.str();
  auto refused = images->remove(id);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kFailedPrecondition);
  EXPECT_NE(refused.error().message.find("local/imported:1"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(images->list()->size(), 2u);
  EXPECT_EQ(imported->image.record.name, "docker.io/local/imported:2");
  EXPECT_EQ(imported->bytes_transferred, 0);
  auto dirs = images->layer_dirs(imported->image);
  ASSERT_TRUE(dirs);
  EXPECT_TRUE(fs::exists((*dirs)[0] / "bin" / "busybox"));
  auto forced = images->remove(id, true);
  ASSERT_TRUE(forced) << forced.error().message;
  EXPECT_EQ(forced->size(), 2u);
  EXPECT_TRUE(images->list()->empty());
}

TEST(ImagePullTls, BasicAuthOverTlsWithCertsDir) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir dir("zlayer-pull-tls-");
  auto registry = RegistryFixture::start(RegistryFlavor::kTlsBasicAuth);
  ASSERT_TRUE(registry) << registry.error().message;
  auto layout = dir.path() / "layout";
  OciImage img;
  img.add_layer(TarBuilder().file("hello", "tls").tar(), TarCompression::kGzip);
  ASSERT_TRUE(testing::write_layout(layout, {LayoutTag{"1", img}}));
  ASSERT_TRUE(testing::push(layout, "1", **registry, "secure/app:1", PushFormat::kOci));
  ASSERT_TRUE((*registry)->write_docker_config(dir.path() / "docker"));
  auto ref = *Reference::parse((*registry)->host_port() + "/secure/app:1");

  RegistryOptions options;
  options.certs_dir = (*registry)->certs_dir();
  options.force_https_for_loopback = true;
  options.initial_backoff = std::chrono::milliseconds(1);
  {
    auto anonymous = ImageService::open(dir.paths(), options);
    ASSERT_TRUE(anonymous);
    auto denied = (*anonymous)->pull(ref);
    ASSERT_FALSE(denied);
    EXPECT_EQ(denied.error().code, Errc::kPermissionDenied) << denied.error().message;
  }
  options.docker_config = dir.path() / "docker" / "config.json";
  auto images = ImageService::open(dir.paths(), options);
  ASSERT_TRUE(images);
  auto pulled = (*images)->pull(ref);
  ASSERT_TRUE(pulled) << pulled.error().message;
  auto dirs = (*images)->layer_dirs(pulled->image);
  ASSERT_TRUE(dirs);
  EXPECT_EQ(read_file((*dirs)[0] / "hello").value_or(""), "tls");
}

// The CLI, run as a user runs it: two processes pulling the same image at once both succeed and
// share one snapshot per layer; bad input gives Docker's exit codes and a message quoting it.
class CliTest : public ImagePullTest {
 protected:
  Result<SubprocessResult> agent(std::vector<std::string> args) {
    args.insert(args.begin(), ZLAYER_AGENT_BIN);
    auto p = dir_.paths();
    std::map<std::string, std::string> env{{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"},
                                           {"ZLAYER_ROOT_DIR", p.root_dir.string()},
                                           {"ZLAYER_RUNTIME_DIR", p.runtime_dir.string()},
                                           {"ZLAYER_WASM_CACHE_DIR", p.wasm_cache_dir.string()},
                                           {"HOME", dir_.path().string()}};
    return run_subprocess(args, {.env = env, .timeout = std::chrono::minutes(5)});
  }
};

TEST_F(CliTest, ConcurrentPullsShareSnapshots) {
  auto name = push("v1", three_layer_image(), PushFormat::kOci, "test/cli:v1");
  std::vector<pid_t> children;
  for (int i = 0; i < 2; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto p = dir_.paths();
      ::setenv("ZLAYER_ROOT_DIR", p.root_dir.c_str(), 1);
      ::setenv("ZLAYER_RUNTIME_DIR", p.runtime_dir.c_str(), 1);
      ::execl(ZLAYER_AGENT_BIN, ZLAYER_AGENT_BIN, "pull", "--quiet", name.c_str(), nullptr);
      ::_exit(127);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  }
  int snapshots = 0;
  for (const auto& e : fs::directory_iterator(dir_.paths().snapshots_dir())) {
    if (e.is_directory()) {
      EXPECT_EQ(e.path().filename().string().rfind("tmp-", 0), std::string::npos);
      ++snapshots;
    }
  }
  EXPECT_EQ(snapshots, 3);

  auto listed = agent({"images", "--format", "json"});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->exit_code, 0) << listed->err;
  auto json = nlohmann::json::parse(listed->out);
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0]["name"], name);
  EXPECT_EQ(json[0]["kind"], "oci");
  EXPECT_EQ(json[0]["tag"], "v1");
}

TEST_F(CliTest, BadInputGivesDockerExitCodes) {
  auto bad_ref = agent({"pull", "Not/A Valid:ref"});
  ASSERT_TRUE(bad_ref);
  EXPECT_EQ(bad_ref->exit_code, 1);
  EXPECT_NE(bad_ref->err.find("\"Not/A Valid:ref\""), std::string::npos) << bad_ref->err;

  auto missing = agent({"pull", registry_->host_port() + "/no/such:image"});
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->exit_code, 1);
  EXPECT_NE(missing->err.find("no/such"), std::string::npos) << missing->err;

  auto usage = agent({"pull"});
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->exit_code, 2);
  auto unknown = agent({"frobnicate"});
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->exit_code, 2);
  auto no_image = agent({"image", "inspect", "nothing-here"});
  ASSERT_TRUE(no_image);
  EXPECT_EQ(no_image->exit_code, 1);
  EXPECT_NE(no_image->err.find("nothing-here"), std::string::npos) << no_image->err;
}

// A registry that misbehaves in one way per test, served by a fake HTTP server: the pull must fail
// (or recover) cleanly, and the store must hold nothing half-written.
class BrokenRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    layer_ = testing::compress(TarBuilder().file("hello", "world").tar(), TarCompression::kGzip);
    diff_id_ = testing::sha256_digest(TarBuilder().file("hello", "world").tar());
    config_ = fmt::format(
        R"({{"architecture":"{}","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}})",
        Platform::host().architecture, diff_id_);
    manifest_ = fmt::format(
        R"({{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
        R"("config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},)"
        R"("layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}]}})",
        testing::sha256_digest(config_), config_.size(), testing::sha256_digest(layer_),
        layer_.size());
    auto& http = server_.http();
    http.Get("/v2/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("{}", "application/json");
    });
    http.Get("/v2/broken/app/manifests/1", [this](const httplib::Request&, httplib::Response& res) {
      if (html_manifest_) {
        res.set_content("<html><body>Log in to continue</body></html>", "text/html");
        return;
      }
      res.set_content(manifest_, "application/vnd.oci.image.manifest.v1+json");
    });
    http.Get(R"(/v2/broken/app/blobs/(sha256:[0-9a-f]+))", [this](const httplib::Request& req,
                                                                  httplib::Response& res) {
      std::string digest = req.matches[1];
      if (digest == testing::sha256_digest(config_)) {
        res.set_content(config_, "application/octet-stream");
        return;
      }
      if (failures_left_ > 0) {
        --failures_left_;
        res.status = 500;
        res.set_content("<html>internal error</html>", "text/html");
        return;
      }
      if (gated_) {
        std::unique_lock lock(gate_mutex_);
        layer_requested_ = true;
        gate_cv_.notify_all();
        gate_cv_.wait(lock, [this] { return gate_open_; });
      }
      std::string body = layer_;
      if (tamper_) body[body.size() / 2] ^= 0x55;  // same size, wrong digest
      if (truncate_) {
        // Announce the full size, send half, drop the connection (every attempt).
        auto shared = std::make_shared<std::string>(body);
        res.set_content_provider(shared->size(), "application/octet-stream",
                                 [shared](size_t offset, size_t, httplib::DataSink& sink) {
                                   if (offset >= shared->size() / 2) return false;
                                   sink.write(shared->data() + offset, shared->size() / 2 - offset);
                                   return true;
                                 });
        return;
      }
      res.set_content(body, "application/octet-stream");
    });
    server_.start();
  }

  Result<PullResult> pull() {
    RegistryOptions options;
    options.initial_backoff = std::chrono::milliseconds(1);
    options.max_attempts = 3;
    auto images = ImageService::open(dir_.paths(), options);
    if (!images) return unexpected(images.error());
    return (*images)->pull(*Reference::parse(server_.host() + "/broken/app:1"));
  }

  // Nothing half-written: no blob under a real name but verified ones, no ingest file, no
  // snapshot, no tag.
  void expect_nothing_left() {
    auto content = dir_.paths().content_dir();
    EXPECT_TRUE(fs::is_empty(content / "ingest"));
    EXPECT_FALSE(
        fs::exists(content / "blobs" / "sha256" / testing::sha256_digest(layer_).substr(7)));
    for (const auto& e : fs::directory_iterator(content / "blobs" / "sha256")) {
      auto bytes = read_file(e.path());
      ASSERT_TRUE(bytes);
      EXPECT_EQ(testing::sha256_digest(*bytes).substr(7), e.path().filename().string());
    }
    EXPECT_TRUE(fs::is_empty(dir_.paths().snapshots_dir()));
    auto db = state::StateDb::open(dir_.paths().state_db());
    ASSERT_TRUE(db);
    EXPECT_EQ(state::as_int((*db->query("SELECT COUNT(*) FROM images"))[0][0]), 0);
  }

  TempDir dir_{"zlayer-broken-"};
  testing::FakeServer server_;
  std::string layer_, diff_id_, config_, manifest_;
  std::atomic<int> failures_left_{0};
  bool tamper_ = false;
  bool truncate_ = false;
  bool html_manifest_ = false;
  bool gated_ = false;  // the layer request waits until the test opens the gate
  std::mutex gate_mutex_;
  std::condition_variable gate_cv_;
  bool layer_requested_ = false;
  bool gate_open_ = false;
};

TEST_F(BrokenRegistryTest, WrongDigestBlobIsRejected) {
  tamper_ = true;
  auto pulled = pull();
  ASSERT_FALSE(pulled);
  EXPECT_NE(pulled.error().message.find("digest mismatch"), std::string::npos)
      << pulled.error().message;
  expect_nothing_left();
}

TEST_F(BrokenRegistryTest, ConnectionDroppedMidBlobEveryTimeFailsCleanly) {
  truncate_ = true;
  auto pulled = pull();
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code, Errc::kUnavailable) << pulled.error().message;
  expect_nothing_left();
}

TEST_F(BrokenRegistryTest, ServerErrorsThenSuccessIsRetried) {
  failures_left_ = 2;
  auto pulled = pull();
  ASSERT_TRUE(pulled) << pulled.error().message;
  EXPECT_EQ(failures_left_.load(), 0);
  EXPECT_EQ(server_.count("/v2/broken/app/blobs/" + testing::sha256_digest(layer_)), 3);
}

// `image prune` while a pull is between storing its config and tagging the image must not delete
// what the pull is about to tag: prune waits for running pulls.
TEST_F(BrokenRegistryTest, PruneDuringPullWaitsForIt) {
  gated_ = true;
  std::optional<Result<PullResult>> pulled;
  std::thread puller([&] { pulled = pull(); });
  {
    std::unique_lock lock(gate_mutex_);
    gate_cv_.wait(lock, [this] { return layer_requested_; });
  }
  // The config blob is stored, the layer is in flight: now prune from "another terminal".
  std::atomic<bool> prune_done{false};
  std::optional<Result<PruneReport>> pruned;
  std::thread pruner([&] {
    auto images = ImageService::open(dir_.paths(), {});
    ASSERT_TRUE(images);
    pruned = (*images)->prune();
    prune_done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let prune reach its lock
  EXPECT_FALSE(prune_done.load());
  {
    std::lock_guard lock(gate_mutex_);
    gate_open_ = true;
  }
  gate_cv_.notify_all();
  puller.join();
  pruner.join();
  ASSERT_TRUE(pulled && *pulled) << (pulled ? pulled->error().message : "no result");
  ASSERT_TRUE(pruned && *pruned) << pruned->error().message;
  EXPECT_EQ((*pruned)->blobs_removed, 0);
  auto images = ImageService::open(dir_.paths(), {});
  ASSERT_TRUE(images);
  auto inspected = (*images)->inspect(server_.host() + "/broken/app:1");
  ASSERT_TRUE(inspected) << inspected.error().message;
  auto dirs = (*images)->layer_dirs(*inspected);
  ASSERT_TRUE(dirs) << dirs.error().message;
  EXPECT_EQ(read_file((*dirs)[0] / "hello").value_or(""), "world");
}

// Leftovers of killed pulls (partial downloads, abandoned unpack directories) go with prune.
TEST_F(BrokenRegistryTest, PruneRemovesLeftoversOfKilledPulls) {
  ASSERT_TRUE(pull());
  auto ingest = dir_.paths().content_dir() / "ingest" / "0123456789ab-partial";
  ASSERT_TRUE(atomic_write_file(ingest, std::string(1000, 'x')));
  auto abandoned = dir_.paths().snapshots_dir() / "tmp-0123-XXXXXX" / "fs";
  ASSERT_TRUE(make_dirs(abandoned));
  auto images = ImageService::open(dir_.paths(), {});
  ASSERT_TRUE(images);
  auto report = (*images)->prune();
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->bytes_freed, 1000);
  EXPECT_FALSE(fs::exists(ingest));
  EXPECT_FALSE(fs::exists(abandoned.parent_path()));
  EXPECT_EQ(report->blobs_removed, 0);  // the tagged image keeps all of its content
}

TEST_F(BrokenRegistryTest, HtmlInsteadOfManifestIsAClearError) {
  html_manifest_ = true;
  auto pulled = pull();
  ASSERT_FALSE(pulled);
  EXPECT_NE(pulled.error().message.find("not a manifest"), std::string::npos)
      << pulled.error().message;
  EXPECT_NE(pulled.error().message.find("Log in"), std::string::npos) << pulled.error().message;
  expect_nothing_left();
}

}  // namespace
}  // namespace zlayer::image
