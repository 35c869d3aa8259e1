#include "image/manifest.h"

#include <fmt/ranges.h>
#include <sys/utsname.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/text.h"

namespace zlayer::image {
namespace {

using nlohmann::json;

bool is_generic_type(std::string_view ct) {
  return ct.empty() || ct.starts_with("application/json") || ct.starts_with("text/plain") ||
         ct.starts_with("application/octet-stream") || ct.starts_with("binary/octet-stream");
}

// Drops parameters: "application/json; charset=utf-8" -> "application/json".
std::string_view bare_type(std::string_view ct) {
  auto semi = ct.find(';');
  if (semi != std::string_view::npos) ct = ct.substr(0, semi);
  while (!ct.empty() && ct.back() == ' ') ct.remove_suffix(1);
  return ct;
}

Result<std::string> string_field(const json& object, const char* key, bool required,
                                 std::string_view where) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (required) return errorf(Errc::kInvalidArgument, "{}: \"{}\" is missing", where, key);
    return std::string();
  }
  if (!it->is_string()) return errorf(Errc::kInvalidArgument, "{}.{} is not a string", where, key);
  return it->get<std::string>();
}

Result<std::map<std::string, std::string>> string_map(const json& object, const char* key,
                                                      std::string_view where) {
  std::map<std::string, std::string> out;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return out;
  if (!it->is_object()) return errorf(Errc::kInvalidArgument, "{}.{} is not an object", where, key);
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) {
      return errorf(Errc::kInvalidArgument, "{}.{}[\"{}\"] is not a string", where, key, k);
    }
    out[k] = v.get<std::string>();
  }
  return out;
}

// One descriptor (image-spec descriptor.md); `where` names it in messages, e.g.
// "image index: manifests[2]".
Result<Descriptor> parse_descriptor(const json& j, const std::string& where) {
  if (!j.is_object()) return errorf(Errc::kInvalidArgument, "{} is not an object", where);
  Descriptor d;
  ZLAYER_TRY(media_type, string_field(j, "mediaType", true, where));
  d.media_type = std::move(media_type);
  ZLAYER_TRY(digest_text, string_field(j, "digest", true, where));
  auto digest = Digest::parse(digest_text);
  if (!digest) return unexpected(digest.error().wrap(where + ".digest"));
  d.digest = std::move(*digest);
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_integer() || size->get<std::int64_t>() < 0) {
    return errorf(Errc::kInvalidArgument, "{}.size: expected a non-negative integer", where);
  }
  d.size = size->get<std::int64_t>();
  ZLAYER_TRY(annotations, string_map(j, "annotations", where));
  d.annotations = std::move(annotations);
  ZLAYER_TRY(artifact_type, string_field(j, "artifactType", false, where));
  d.artifact_type = std::move(artifact_type);
  if (auto urls = j.find("urls"); urls != j.end() && !urls->is_null()) {
    if (!urls->is_array()) return errorf(Errc::kInvalidArgument, "{}.urls is not an array", where);
    for (const auto& u : *urls) {
      if (!u.is_string()) return errorf(Errc::kInvalidArgument, "{}.urls has a non-string", where);
      d.urls.push_back(u.get<std::string>());
    }
  }
  if (auto p = j.find("platform"); p != j.end() && !p->is_null()) {
    std::string pwhere = where + ".platform";
    if (!p->is_object()) return errorf(Errc::kInvalidArgument, "{} is not an object", pwhere);
    Platform platform;
    ZLAYER_TRY(os, string_field(*p, "os", true, pwhere));
    ZLAYER_TRY(architecture, string_field(*p, "architecture", true, pwhere));
    ZLAYER_TRY(variant, string_field(*p, "variant", false, pwhere));
    ZLAYER_TRY(os_version, string_field(*p, "os.version", false, pwhere));
    platform.os = std::move(os);
    platform.architecture = std::move(architecture);
    platform.variant = std::move(variant);
    platform.os_version = std::move(os_version);
    d.platform = std::move(platform);
  }
  return d;
}

std::vector<std::string> get_string_list(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

// arm64's variant defaults to v8; arm's to v7 only when nothing else is said (containerd's
// normalisation), so "linux/arm64" and "linux/arm64/v8" are the same platform.
std::string normalised_variant(const Platform& p) {
  if (p.architecture == "arm64" && p.variant.empty()) return "v8";
  return p.variant;
}

}  // namespace

Result<Platform> Platform::parse(std::string_view text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    auto slash = text.find('/', start);
    parts.emplace_back(text.substr(start, slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  bool empty_part = std::any_of(parts.begin(), parts.end(), [](auto& s) { return s.empty(); });
  if (parts.size() < 2 || parts.size() > 3 || empty_part) {
    return errorf(Errc::kInvalidArgument, "platform \"{}\" is not of the form os/arch[/variant]",
                  text);
  }
  Platform p{parts[0], parts[1], parts.size() == 3 ? parts[2] : "", ""};
  // Normalise common aliases the way containerd's platforms package does.
  if (p.architecture == "x86_64" || p.architecture == "x86-64") p.architecture = "amd64";
  if (p.architecture == "aarch64") p.architecture = "arm64";
  return p;
}

Platform Platform::host() {
  utsname u{};
  ::uname(&u);
  std::string machine = u.machine;
  Platform p{"linux", machine, "", ""};
  if (machine == "x86_64") p.architecture = "amd64";
  if (machine == "aarch64") p = {"linux", "arm64", "v8", ""};
  if (machine.starts_with("armv7")) p = {"linux", "arm", "v7", ""};
  if (machine.starts_with("armv6")) p = {"linux", "arm", "v6", ""};
  if (machine == "i686" || machine == "i386") p.architecture = "386";
  return p;
}

std::string Platform::str() const {
  return variant.empty() ? os + "/" + architecture : os + "/" + architecture + "/" + variant;
}

Result<ManifestDocument> parse_manifest(std::string_view body, std::string_view content_type) {
  std::string_view ct = bare_type(content_type);
  if (ct == media_type::kDockerSchema1 || ct == media_type::kDockerSchema1Signed) {
    return make_error(Errc::kUnsupported,
                      "Docker schema 1 manifests are not supported; re-push the image with a "
                      "current Docker or skopeo");
  }
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return errorf(Errc::kInvalidArgument,
                  "the registry returned something that is not a manifest (Content-Type \"{}\", "
                  "body starts with \"{}\")",
                  content_type, excerpt(body, 60));
  }
  if (j.value("schemaVersion", 0) == 1 || j.contains("fsLayers")) {
    return make_error(Errc::kUnsupported,
                      "Docker schema 1 manifests are not supported; re-push the image with a "
                      "current Docker or skopeo");
  }
  std::string body_type = j.value("mediaType", "");
  std::string type = !body_type.empty()     ? body_type
                     : !is_generic_type(ct) ? std::string(ct)
                                            : std::string();
  if (type.empty()) {
    // No usable type: recognise the document by its shape (OCI allows mediaType to be absent).
    if (j.contains("manifests")) {
      type = std::string(media_type::kOciIndex);
    } else if (j.contains("config") && j.contains("layers")) {
      type = std::string(media_type::kOciManifest);
    }
  }
  bool is_index = type == media_type::kOciIndex || type == media_type::kDockerManifestList;
  bool is_manifest = type == media_type::kOciManifest || type == media_type::kDockerManifest;
  if (!is_index && !is_manifest) {
    return errorf(Errc::kInvalidArgument,
                  "unsupported manifest media type \"{}\" (expected an OCI or Docker schema 2 "
                  "manifest or index)",
                  type.empty() ? std::string(content_type) : type);
  }
  if (j.value("schemaVersion", 0) != 2) {
    return errorf(Errc::kInvalidArgument, "manifest schemaVersion must be 2");
  }
  if (is_index) {
    ImageIndex index;
    index.media_type = type;
    ZLAYER_TRY(index_annotations, string_map(j, "annotations", "image index"));
    index.annotations = std::move(index_annotations);
    auto it = j.find("manifests");
    if (it == j.end() || !it->is_array()) {
      return make_error(Errc::kInvalidArgument, "image index: \"manifests\" must be an array");
    }
    for (std::size_t i = 0; i < it->size(); ++i) {
      ZLAYER_TRY(d, parse_descriptor((*it)[i], fmt::format("image index: manifests[{}]", i)));
      index.manifests.push_back(std::move(d));
    }
    return ManifestDocument(std::move(index));
  }
  ImageManifest manifest;
  manifest.media_type = type;
  ZLAYER_TRY(manifest_annotations, string_map(j, "annotations", "image manifest"));
  manifest.annotations = std::move(manifest_annotations);
  manifest.artifact_type = j.value("artifactType", "");
  auto config = j.find("config");
  if (config == j.end())
    return make_error(Errc::kInvalidArgument, "image manifest: missing \"config\"");
  ZLAYER_TRY(config_desc, parse_descriptor(*config, "image manifest: config"));
  manifest.config = std::move(config_desc);
  auto layers = j.find("layers");
  if (layers == j.end() || !layers->is_array()) {
    return make_error(Errc::kInvalidArgument, "image manifest: \"layers\" must be an array");
  }
  for (std::size_t i = 0; i < layers->size(); ++i) {
    ZLAYER_TRY(d, parse_descriptor((*layers)[i], fmt::format("image manifest: layers[{}]", i)));
    manifest.layers.push_back(std::move(d));
  }
  return ManifestDocument(std::move(manifest));
}

Result<ImageConfig> parse_image_config(std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return errorf(Errc::kInvalidArgument, "image config is not a JSON object (starts with \"{}\")",
                  excerpt(body, 60));
  }
  ImageConfig c;
  c.platform.os = j.value("os", "");
  c.platform.architecture = j.value("architecture", "");
  c.platform.variant = j.value("variant", "");
  c.created = j.value("created", "");
  if (auto cfg = j.find("config"); cfg != j.end() && cfg->is_object()) {
    c.user = cfg->value("User", "");
    c.env = get_string_list(*cfg, "Env");
    c.entrypoint = get_string_list(*cfg, "Entrypoint");
    c.cmd = get_string_list(*cfg, "Cmd");
    c.working_dir = cfg->value("WorkingDir", "");
    c.stop_signal = cfg->value("StopSignal", "");
    if (auto labels = string_map(*cfg, "Labels", "image config: config"); labels) {
      c.labels = std::move(*labels);
    } else {
      return unexpected(labels.error());
    }
    if (auto ports = cfg->find("ExposedPorts"); ports != cfg->end() && ports->is_object()) {
      for (const auto& [k, v] : ports->items()) c.exposed_ports.push_back(k);
    }
    if (auto vols = cfg->find("Volumes"); vols != cfg->end() && vols->is_object()) {
      for (const auto& [k, v] : vols->items()) c.volumes.push_back(k);
    }
  }
  if (auto rootfs = j.find("rootfs"); rootfs != j.end() && rootfs->is_object()) {
    auto ids = rootfs->find("diff_ids");
    if (ids != rootfs->end() && ids->is_array()) {
      for (std::size_t i = 0; i < ids->size(); ++i) {
        if (!(*ids)[i].is_string()) {
          return errorf(Errc::kInvalidArgument, "image config: rootfs.diff_ids[{}] is not a string",
                        i);
        }
        auto d = Digest::parse((*ids)[i].get<std::string>());
        if (!d)
          return unexpected(d.error().wrap(fmt::format("image config: rootfs.diff_ids[{}]", i)));
        c.diff_ids.push_back(*d);
      }
    }
  }
  return c;
}

Result<Descriptor> select_platform(const ImageIndex& index, const Platform& want) {
  // Score every candidate, then take the best; ties go to the lowest variant distance, never to
  // list position alone (entries equal in every respect are the same platform).
  const Descriptor* best = nullptr;
  int best_score = -1;
  std::string want_variant = normalised_variant(want);
  std::vector<std::string> offered;
  for (const auto& d : index.manifests) {
    auto ref_type = d.annotations.find("vnd.docker.reference.type");
    if (ref_type != d.annotations.end() && ref_type->second == "attestation-manifest") continue;
    if (!d.platform) continue;
    offered.push_back(d.platform->str());
    if (d.platform->os != want.os || d.platform->architecture != want.architecture) continue;
    std::string have_variant = normalised_variant(*d.platform);
    int score = -1;
    if (have_variant == want_variant) {
      score = 1000;
    } else if (want.architecture == "arm" && have_variant.size() == 2 && want_variant.size() == 2 &&
               have_variant[0] == 'v' && want_variant[0] == 'v' &&
               have_variant[1] < want_variant[1]) {
      score = 500 + (have_variant[1] - '0');  // the highest compatible variant wins
    } else if (have_variant.empty()) {
      score = 100;
    } else if (want_variant.empty()) {
      score = 50;
    }
    if (score > best_score || (score == best_score && best != nullptr && d.digest < best->digest)) {
      best = &d;
      best_score = score;
    }
  }
  if (best == nullptr) {
    std::sort(offered.begin(), offered.end());
    return errorf(
        Errc::kNotFound, "no manifest for platform {} in the image index (it offers: {})",
        want.str(),
        offered.empty() ? std::string("none") : fmt::format("{}", fmt::join(offered, ", ")));
  }
  return *best;
}

}  // namespace zlayer::image
