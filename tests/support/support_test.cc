// Proves the test support works against the real tools: docker-registry (both flavours), skopeo
// pushes in every format read back with `skopeo inspect --raw`, umoci reading our layouts.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "core/fs.h"
#include "core/subprocess.h"
#include "support/image_builder.h"
#include "support/registry_fixture.h"
#include "support/temp_dir.h"

namespace zlayer::testing {
namespace {

using nlohmann::json;

constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

bool process_gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

OciImage busybox_or_fail() {
  auto image = busybox_image();
  EXPECT_TRUE(image) << image.error().message;
  return image ? *image : OciImage{};
}

// linux/amd64 busybox plus two foreign platforms with dummy layers.
OciImageIndex multi_platform_index() {
  OciImageIndex index;
  index.add(busybox_or_fail().platform("linux", "amd64"));
  index.add(OciImage().add_layer(dummy_layer_tar("arm64")).platform("linux", "arm64", "v8"));
  index.add(OciImage().add_layer(dummy_layer_tar("armv7")).platform("linux", "arm", "v7"));
  return index;
}

json parse_json(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << text;
  return j;
}

// Pushes a busybox image as OCI and as Docker v2s2 and a three-platform index, then reads each
// back from the registry.
void push_all_formats(const RegistryFixture& registry) {
  TempDir layout_dir("zlayer-layout-");
  auto layout = layout_dir.path() / "layout";
  auto written =
      write_layout(layout, {{"busybox", busybox_or_fail()}, {"multi", multi_platform_index()}});
  ASSERT_TRUE(written) << written.error().message;

  auto ok = push(layout, "busybox", registry, "test/busybox:oci", PushFormat::kOci);
  ASSERT_TRUE(ok) << ok.error().message;
  ok = push(layout, "busybox", registry, "test/busybox:v2s2", PushFormat::kDockerV2s2);
  ASSERT_TRUE(ok) << ok.error().message;
  ok = push(layout, "multi", registry, "test/multi:all", PushFormat::kAll);
  ASSERT_TRUE(ok) << ok.error().message;

  auto oci = inspect_raw(registry.endpoint(), "test/busybox:oci");
  ASSERT_TRUE(oci) << oci.error().message;
  EXPECT_EQ(parse_json(*oci)["mediaType"], kOciManifest);
  // skopeo copies an OCI manifest to the registry byte for byte.
  EXPECT_EQ(sha256_digest(*oci), written->at("busybox").digest);

  auto v2s2 = inspect_raw(registry.endpoint(), "test/busybox:v2s2");
  ASSERT_TRUE(v2s2) << v2s2.error().message;
  json docker = parse_json(*v2s2);
  EXPECT_EQ(docker["mediaType"], kDockerManifest);
  EXPECT_EQ(docker["layers"][0]["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip");

  auto all = inspect_raw(registry.endpoint(), "test/multi:all");
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(sha256_digest(*all), written->at("multi").digest);
  json index = parse_json(*all);
  EXPECT_EQ(index["mediaType"], kOciIndex);
  ASSERT_EQ(index["manifests"].size(), 3u);
  std::vector<std::string> platforms;
  for (const auto& m : index["manifests"]) {
    EXPECT_EQ(m["mediaType"], kOciManifest);
    std::string p = m["platform"]["os"].get<std::string>() + "/" +
                    m["platform"]["architecture"].get<std::string>();
    if (m["platform"].contains("variant")) p += "/" + m["platform"]["variant"].get<std::string>();
    platforms.push_back(p);
  }
  EXPECT_EQ(platforms, (std::vector<std::string>{"linux/amd64", "linux/arm64/v8", "linux/arm/v7"}));
  // Every platform's manifest was pushed too, not only the index.
  auto arm = inspect_raw(registry.endpoint(),
                         "test/multi@" + index["manifests"][2]["digest"].get<std::string>());
  ASSERT_TRUE(arm) << arm.error().message;
  EXPECT_EQ(parse_json(*arm)["layers"].size(), 1u);
}

TEST(RegistryFixtureTest, PlainHttpRegistryTakesEveryFormatAndStopsByPid) {
  pid_t pid = -1;
  {
    auto registry = RegistryFixture::start(RegistryFlavor::kPlainHttp);
    ASSERT_TRUE(registry) << registry.error().message;
    pid = (*registry)->pid();
    ASSERT_GT(pid, 0);
    EXPECT_EQ((*registry)->host_port(), "127.0.0.1:" + std::to_string((*registry)->port()));
    EXPECT_EQ((*registry)->url(), "http://" + (*registry)->host_port());
    EXPECT_TRUE((*registry)->ca_cert().empty());
    EXPECT_FALSE((*registry)->write_docker_config("/nonexistent"));
    push_all_formats(**registry);
  }
  EXPECT_TRUE(process_gone(pid)) << "registry pid " << pid << " still exists";
}

TEST(RegistryFixtureTest, TlsRegistryNeedsCredentialsAndTrustsOnlyItsCa) {
  pid_t pid = -1;
  {
    auto started = RegistryFixture::start(RegistryFlavor::kTlsBasicAuth);
    ASSERT_TRUE(started) << started.error().message;
    const RegistryFixture& registry = **started;
    pid = registry.pid();
    EXPECT_EQ(registry.url(), "https://" + registry.host_port());
    struct stat st {};
    EXPECT_EQ(::stat((registry.certs_dir() / registry.host_port() / "ca.crt").c_str(), &st), 0);

    push_all_formats(registry);

    // Anonymous access is refused.
    RegistryEndpoint anonymous = registry.endpoint();
    anonymous.username.clear();
    auto refused = inspect_raw(anonymous, "test/busybox:oci");
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("authentication required"), std::string::npos)
        << refused.error().message;
    // Without the test CA the certificate does not verify.
    RegistryEndpoint untrusted = registry.endpoint();
    untrusted.cert_dir = "/nonexistent-cert-dir";
    EXPECT_FALSE(inspect_raw(untrusted, "test/busybox:oci"));

    // The CA verifies the server for another client too (curl through openssl s_client's chain).
    auto verify =
        run_subprocess({"openssl", "verify", "-CAfile", registry.ca_cert().string(), "-verify_ip",
                        "127.0.0.1", (registry.ca_cert().parent_path() / "server.crt").string()});
    ASSERT_TRUE(verify);
    EXPECT_EQ(verify->exit_code, 0) << verify->out << verify->err;

    TempDir config_dir("zlayer-docker-config-");
    ASSERT_TRUE(registry.write_docker_config(config_dir.path() / "docker"));
    auto config = read_file(config_dir.path() / "docker" / "config.json");
    ASSERT_TRUE(config);
    json auths = parse_json(*config)["auths"];
    ASSERT_TRUE(auths.contains(registry.host_port()));
    // base64("zlayer:s3cret-pass")
    EXPECT_EQ(auths[registry.host_port()]["auth"], "emxheWVyOnMzY3JldC1wYXNz");
  }
  EXPECT_TRUE(process_gone(pid)) << "registry pid " << pid << " still exists";
}

TEST(RegistryFixtureTest, TwoRegistriesGetDifferentPorts) {
  auto a = RegistryFixture::start();
  auto b = RegistryFixture::start();
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_NE((*a)->port(), (*b)->port());
  pid_t pid = (*a)->pid();
  (*a)->stop();
  EXPECT_TRUE(process_gone(pid));
  (*a)->stop();  // idempotent
}

TEST(ImageBuilderTest, WritesAnOciLayoutWithDiffIdsAndRefNames) {
  TempDir dir("zlayer-layout-");
  auto layout = dir.path() / "layout";
  std::string bottom = TarBuilder().file("a.txt", "bottom").tar();
  std::string top = TarBuilder().file("b.txt", "top").tar();
  OciImage image;
  image.add_layer(bottom, TarCompression::kGzip)
      .add_layer(top, TarCompression::kZstd)
      .config({.entrypoint = {"/bin/app"},
               .cmd = {"--serve"},
               .env = {"A=1"},
               .user = "65534:65534",
               .working_dir = "/srv",
               .labels = {{"org.example", "yes"}},
               .volumes = {"/data"},
               .exposed_ports = {"8080/tcp"},
               .stop_signal = "SIGINT"});
  auto written = write_layout(layout, {{"v1", image}});
  ASSERT_TRUE(written) << written.error().message;

  auto oci_layout = read_file(layout / "oci-layout");
  ASSERT_TRUE(oci_layout);
  EXPECT_EQ(parse_json(*oci_layout)["imageLayoutVersion"], "1.0.0");
  json index = parse_json(read_file(layout / "index.json").value());
  ASSERT_EQ(index["manifests"].size(), 1u);
  EXPECT_EQ(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "v1");

  const WrittenManifest& m = written->at("v1").manifests.at(0);
  EXPECT_EQ(m.diff_ids, (std::vector<std::string>{sha256_digest(bottom), sha256_digest(top)}));
  auto blob = [&](const std::string& digest) {
    auto text = read_file(layout / "blobs" / "sha256" / digest.substr(7));
    EXPECT_TRUE(text) << digest;
    if (text) {
      EXPECT_EQ(sha256_digest(*text), digest);
    }
    return text.value_or("");
  };
  json manifest = parse_json(blob(m.digest));
  EXPECT_EQ(manifest["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
  EXPECT_EQ(manifest["layers"][1]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
  json config = parse_json(blob(m.config_digest));
  EXPECT_EQ(config["rootfs"]["diff_ids"][1], sha256_digest(top));
  EXPECT_EQ(config["history"].size(), 2u);
  EXPECT_EQ(config["config"]["User"], "65534:65534");
  EXPECT_EQ(config["config"]["StopSignal"], "SIGINT");
  EXPECT_TRUE(config["config"]["Volumes"].contains("/data"));
  EXPECT_TRUE(config["config"]["ExposedPorts"].contains("8080/tcp"));
  for (const auto& d : m.layer_digests) blob(d);

  // A second write keeps the other tags and replaces the one written again.
  auto again = write_layout(layout, {{"v2", image}, {"v1", OciImage().add_layer(top)}});
  ASSERT_TRUE(again) << again.error().message;
  index = parse_json(read_file(layout / "index.json").value());
  ASSERT_EQ(index["manifests"].size(), 2u);
  EXPECT_EQ(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "v2");
  EXPECT_EQ(index["manifests"][1]["digest"], again->at("v1").digest);
}

TEST(ImageBuilderTest, EqualInputsGiveEqualDigests) {
  // Shared layers must be byte-identical blobs, or a second image re-downloads them.
  TempDir dir("zlayer-layout-");
  std::string tar = TarBuilder().file("same.txt", std::string(100000, 'x')).tar();
  OciImage gzip_image;
  gzip_image.add_layer(tar, TarCompression::kGzip).add_layer(tar, TarCompression::kZstd);
  auto a = write_layout(dir.path() / "a", {{"t", gzip_image}});
  auto b = write_layout(dir.path() / "b", {{"t", gzip_image}});
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->at("t").digest, b->at("t").digest);
  EXPECT_EQ(a->at("t").manifests[0].layer_digests, b->at("t").manifests[0].layer_digests);
  // Both writes may fall in the same second, so check the cause too: gzip's MTIME field is 0.
  auto gz = read_file(dir.path() / "a" / "blobs" / "sha256" /
                      a->at("t").manifests[0].layer_digests[0].substr(7));
  ASSERT_TRUE(gz);
  ASSERT_GT(gz->size(), 8u);
  EXPECT_EQ(gz->substr(0, 2), "\x1f\x8b");
  EXPECT_EQ(gz->substr(4, 4), std::string(4, '\0'));
}

TEST(ImageBuilderTest, BusyboxLayoutUnpacksWithUmociAndRuns) {
  TempDir dir("zlayer-layout-");
  auto layout = dir.path() / "layout";
  ASSERT_TRUE(write_layout(layout, {{"latest", busybox_or_fail()}}));
  auto bundle = dir.path() / "bundle";
  auto unpack =
      run_subprocess({"umoci", "unpack", "--image", layout.string() + ":latest", bundle.string()});
  ASSERT_TRUE(unpack) << unpack.error().message;
  ASSERT_EQ(unpack->exit_code, 0) << unpack->err;
  auto rootfs = bundle / "rootfs";
  EXPECT_EQ(std::filesystem::read_symlink(rootfs / "bin" / "sh"), "busybox");
  auto echo = run_subprocess({(rootfs / "bin" / "busybox").string(), "echo", "hello"});
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->out, "hello\n");
  auto passwd = read_file(rootfs / "etc" / "passwd");
  ASSERT_TRUE(passwd);
  EXPECT_EQ(passwd->rfind("root:x:0:0:", 0), 0u);
  EXPECT_EQ(
      std::filesystem::status(rootfs / "tmp").permissions() & std::filesystem::perms::sticky_bit,
      std::filesystem::perms::sticky_bit);
}

}  // namespace
}  // namespace zlayer::testing
