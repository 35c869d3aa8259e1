#include "support/image_builder.h"

#include <fcntl.h>
#include <fmt/ranges.h>
#include <openssl/evp.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <set>

#include "core/fs.h"
#include "core/subprocess.h"

namespace zlayer::testing {
namespace {

using nlohmann::json;

constexpr std::string_view kCreated = "2024-01-01T00:00:00Z";
constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";
constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";

std::string layer_media_type(TarCompression compression) {
  switch (compression) {
    case TarCompression::kGzip:
      return "application/vnd.oci.image.layer.v1.tar+gzip";
    case TarCompression::kZstd:
      return "application/vnd.oci.image.layer.v1.tar+zstd";
    case TarCompression::kNone:
      break;
  }
  return "application/vnd.oci.image.layer.v1.tar";
}

std::string hex_of(std::string_view digest) {
  return std::string(digest.substr(digest.find(':') + 1));
}

// Writes a blob under blobs/sha256/ unless present. No fsync: test data, and layouts of tens of
// megabytes would spend most of their time there.
Result<std::string> write_blob(const std::filesystem::path& dir, std::string_view bytes) {
  std::string digest = sha256_digest(bytes);
  auto path = dir / "blobs" / "sha256" / hex_of(digest);
  if (::access(path.c_str(), F_OK) == 0) return digest;
  auto temp = path;
  temp += ".tmp";
  UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return sys_error(fmt::format("creating {}", temp.string()), errno);
  std::string_view rest = bytes;
  while (!rest.empty()) {
    ssize_t n = ::write(fd.get(), rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error(fmt::format("writing {}", temp.string()), errno);
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  fd.reset();
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return sys_error(fmt::format("renaming {}", temp.string()), errno);
  }
  return digest;
}

json descriptor(std::string_view media_type, std::string_view digest, std::int64_t size) {
  return json{{"mediaType", media_type}, {"digest", digest}, {"size", size}};
}

json platform_json(const OciImage& image) {
  json p{{"os", image.os()}, {"architecture", image.architecture()}};
  if (!image.variant().empty()) p["variant"] = image.variant();
  return p;
}

std::string platform_string(const OciImage& image) {
  std::string s = image.os() + "/" + image.architecture();
  if (!image.variant().empty()) s += "/" + image.variant();
  return s;
}

json config_json(const OciImage& image, const std::vector<std::string>& diff_ids) {
  const OciImageConfig& c = image.config();
  json runtime = json::object();
  if (!c.user.empty()) runtime["User"] = c.user;
  if (!c.env.empty()) runtime["Env"] = c.env;
  if (!c.entrypoint.empty()) runtime["Entrypoint"] = c.entrypoint;
  if (!c.cmd.empty()) runtime["Cmd"] = c.cmd;
  if (!c.working_dir.empty()) runtime["WorkingDir"] = c.working_dir;
  if (!c.labels.empty()) runtime["Labels"] = c.labels;
  if (!c.stop_signal.empty()) runtime["StopSignal"] = c.stop_signal;
  if (!c.volumes.empty()) {
    runtime["Volumes"] = json::object();
    for (const auto& v : c.volumes) runtime["Volumes"][v] = json::object();
  }
  if (!c.exposed_ports.empty()) {
    runtime["ExposedPorts"] = json::object();
    for (const auto& p : c.exposed_ports) runtime["ExposedPorts"][p] = json::object();
  }
  json history = json::array();
  for (std::size_t i = 0; i < diff_ids.size(); ++i) {
    history.push_back({{"created", kCreated},
                       {"created_by", fmt::format("zlayer test support: layer {}", i + 1)}});
  }
  json config{{"created", kCreated},
              {"architecture", image.architecture()},
              {"os", image.os()},
              {"config", runtime},
              {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}},
              {"history", history}};
  if (!image.variant().empty()) config["variant"] = image.variant();
  return config;
}

Result<WrittenManifest> write_image(const std::filesystem::path& dir, const OciImage& image) {
  WrittenManifest written;
  written.platform = platform_string(image);
  json layers = json::array();
  for (const auto& layer : image.layers()) {
    written.diff_ids.push_back(sha256_digest(layer.tar));
    std::string stored = compress(layer.tar, layer.compression);
    ZLAYER_TRY(digest, write_blob(dir, stored));
    auto size = static_cast<std::int64_t>(stored.size());
    layers.push_back(descriptor(layer_media_type(layer.compression), digest, size));
    written.layer_digests.push_back(digest);
    written.layer_sizes.push_back(size);
  }
  std::string config = config_json(image, written.diff_ids).dump();
  ZLAYER_TRY(config_digest, write_blob(dir, config));
  written.config_digest = config_digest;
  json manifest{
      {"schemaVersion", 2},
      {"mediaType", kOciManifest},
      {"config", descriptor(kOciConfig, config_digest, static_cast<std::int64_t>(config.size()))},
      {"layers", layers}};
  if (!image.annotations().empty()) manifest["annotations"] = image.annotations();
  std::string body = manifest.dump();
  ZLAYER_TRY(manifest_digest, write_blob(dir, body));
  written.digest = manifest_digest;
  written.size = static_cast<std::int64_t>(body.size());
  return written;
}

Result<WrittenImage> write_entry(const std::filesystem::path& dir, const OciImage& image) {
  ZLAYER_TRY(manifest, write_image(dir, image));
  WrittenImage written{std::string(kOciManifest), manifest.digest, manifest.size, {manifest}};
  return written;
}

Result<WrittenImage> write_entry(const std::filesystem::path& dir, const OciImageIndex& index) {
  if (index.images().empty()) {
    return make_error(Errc::kInvalidArgument, "write_layout: an image index needs an image");
  }
  WrittenImage written;
  written.media_type = kOciIndex;
  json manifests = json::array();
  for (const auto& image : index.images()) {
    ZLAYER_TRY(manifest, write_image(dir, image));
    json d = descriptor(kOciManifest, manifest.digest, manifest.size);
    d["platform"] = platform_json(image);
    manifests.push_back(d);
    written.manifests.push_back(std::move(manifest));
  }
  std::string body =
      json{{"schemaVersion", 2}, {"mediaType", kOciIndex}, {"manifests", manifests}}.dump();
  ZLAYER_TRY(digest, write_blob(dir, body));
  written.digest = digest;
  written.size = static_cast<std::int64_t>(body.size());
  return written;
}

// The entries of an existing index.json, or none.
Result<json> existing_entries(const std::filesystem::path& dir) {
  auto text = read_file(dir / "index.json");
  if (!text) {
    if (text.error().code == Errc::kNotFound) return json::array();
    return unexpected(text.error());
  }
  json index = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!index.is_object() || !index.contains("manifests") || !index["manifests"].is_array()) {
    return errorf(Errc::kInvalidArgument, "{}: not an OCI index (no manifests array)",
                  (dir / "index.json").string());
  }
  return index["manifests"];
}

Result<std::string> tool_output(const std::vector<std::string>& argv) {
  auto result = run_subprocess(argv, {.timeout = std::chrono::minutes(5)});
  if (!result) return unexpected(result.error().wrap(fmt::format("running {}", argv[0])));
  if (result->exit_code != 0) {
    return errorf(Errc::kInternal, "`{}` exited with {}: {}", fmt::join(argv, " "),
                  result->exit_code, result->err);
  }
  return std::move(result->out);
}

}  // namespace

OciImage& OciImage::add_layer(std::string tar, TarCompression compression) {
  layers_.push_back({std::move(tar), compression});
  return *this;
}
OciImage& OciImage::config(OciImageConfig config) {
  config_ = std::move(config);
  return *this;
}
OciImage& OciImage::platform(std::string os, std::string architecture, std::string variant) {
  os_ = std::move(os);
  architecture_ = std::move(architecture);
  variant_ = std::move(variant);
  return *this;
}
OciImage& OciImage::annotation(std::string key, std::string value) {
  annotations_[std::move(key)] = std::move(value);
  return *this;
}

OciImageIndex& OciImageIndex::add(OciImage image) {
  images_.push_back(std::move(image));
  return *this;
}

std::string sha256_digest(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  std::string out = "sha256:";
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

Result<std::map<std::string, WrittenImage>> write_layout(const std::filesystem::path& dir,
                                                         const std::vector<LayoutTag>& tags) {
  ZLAYER_CHECK(make_dirs(dir / "blobs" / "sha256"));
  ZLAYER_TRY(old_entries, existing_entries(dir));
  std::set<std::string> new_tags;
  for (const auto& t : tags) new_tags.insert(t.tag);

  json entries = json::array();
  for (const auto& entry : old_entries) {
    std::string tag;
    if (entry.contains("annotations") && entry["annotations"].contains(kRefNameAnnotation)) {
      tag = entry["annotations"][std::string(kRefNameAnnotation)].get<std::string>();
    }
    if (tag.empty() || new_tags.count(tag) == 0) entries.push_back(entry);
  }

  std::map<std::string, WrittenImage> written;
  for (const auto& t : tags) {
    ZLAYER_TRY(image, std::visit([&](const auto& img) { return write_entry(dir, img); }, t.image));
    json d = descriptor(image.media_type, image.digest, image.size);
    if (!t.tag.empty()) d["annotations"] = {{kRefNameAnnotation, t.tag}};
    entries.push_back(d);
    written[t.tag] = std::move(image);
  }
  ZLAYER_CHECK(atomic_write_file(dir / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  json index{{"schemaVersion", 2}, {"mediaType", kOciIndex}, {"manifests", entries}};
  ZLAYER_CHECK(atomic_write_file(dir / "index.json", index.dump()));
  return written;
}

Result<std::string> busybox_rootfs_tar() {
  auto busybox = read_file("/bin/busybox");
  if (!busybox) {
    return unexpected(busybox.error().wrap("reading /bin/busybox (install busybox-static)"));
  }
  TarBuilder tar;
  tar.dir("bin").file("bin/busybox", *busybox, {.mode = 0755});
  for (const char* applet :
       {"sh",    "ls",   "echo",  "cat",    "true", "false", "sleep", "env",      "id",
        "mkdir", "rm",   "touch", "printf", "grep", "head",  "pwd",   "hostname", "kill",
        "wc",    "test", "ps",    "wget",   "nc",   "stat",  "uname"}) {
    tar.symlink(fmt::format("bin/{}", applet), "busybox");
  }
  tar.dir("etc")
      .file("etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
      .file("etc/group", "root:x:0:\nnogroup:x:65534:\n")
      .dir("dev")
      .dir("proc")
      .dir("sys")
      .dir("tmp", {.mode = 01777})
      .dir("root", {.mode = 0700})
      .dir("var");
  return tar.tar();
}

Result<OciImage> busybox_image() {
  ZLAYER_TRY(tar, busybox_rootfs_tar());
  struct utsname uts {};
  ::uname(&uts);
  std::string machine = uts.machine;
  std::string arch = machine, variant;
  if (machine == "x86_64") arch = "amd64";
  if (machine == "aarch64") arch = "arm64", variant = "v8";
  if (machine == "i686" || machine == "i386") arch = "386";
  OciImage image;
  image.add_layer(std::move(tar), TarCompression::kGzip)
      .platform("linux", arch, variant)
      .config({.cmd = {"/bin/sh"},
               .env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}});
  return image;
}

std::string dummy_layer_tar(std::string_view content) {
  return TarBuilder().file("dummy.txt", content).tar();
}

Status push(const std::filesystem::path& layout_dir, std::string_view tag,
            const RegistryEndpoint& endpoint, std::string_view name, PushFormat format) {
  std::vector<std::string> argv = {"skopeo", "copy", "--quiet"};
  if (format == PushFormat::kAll) argv.push_back("--all");
  if (format == PushFormat::kDockerV2s2) argv.insert(argv.end(), {"--format", "v2s2"});
  if (endpoint.cert_dir.empty()) {
    argv.push_back("--dest-tls-verify=false");
  } else {
    argv.insert(argv.end(), {"--dest-tls-verify=true", "--dest-cert-dir", endpoint.cert_dir});
  }
  if (!endpoint.username.empty()) {
    argv.insert(argv.end(), {"--dest-creds", endpoint.username + ":" + endpoint.password});
  }
  argv.push_back(fmt::format("oci:{}:{}", layout_dir.string(), tag));
  argv.push_back(fmt::format("docker://{}/{}", endpoint.host_port, name));
  auto out = tool_output(argv);
  if (!out)
    return unexpected(out.error().wrap(fmt::format("pushing {}:{}", layout_dir.string(), tag)));
  return {};
}

Status push(const std::filesystem::path& layout_dir, std::string_view tag,
            const RegistryFixture& registry, std::string_view name, PushFormat format) {
  return push(layout_dir, tag, registry.endpoint(), name, format);
}

Result<std::string> inspect_raw(const RegistryEndpoint& endpoint, std::string_view name) {
  std::vector<std::string> argv = {"skopeo", "inspect", "--raw"};
  if (endpoint.cert_dir.empty()) {
    argv.push_back("--tls-verify=false");
  } else {
    argv.insert(argv.end(), {"--tls-verify=true", "--cert-dir", endpoint.cert_dir});
  }
  if (!endpoint.username.empty()) {
    argv.insert(argv.end(), {"--creds", endpoint.username + ":" + endpoint.password});
  }
  argv.push_back(fmt::format("docker://{}/{}", endpoint.host_port, name));
  return tool_output(argv);
}

}  // namespace zlayer::testing
