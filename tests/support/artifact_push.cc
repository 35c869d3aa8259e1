#include "support/artifact_push.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "support/image_builder.h"

namespace zlayer::testing {
namespace {

struct Answer {
  long status = 0;
  std::string body;
  std::string location;
};

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<Answer*>(user)->body.append(data, size * n);
  return size * n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  std::string_view line(data, size * n);
  constexpr std::string_view kLocation = "location:";
  if (line.size() > kLocation.size()) {
    std::string head(line.substr(0, kLocation.size()));
    for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (head == kLocation) {
      std::string value(line.substr(kLocation.size()));
      while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
      while (!value.empty() && value.front() == ' ') value.erase(value.begin());
      static_cast<Answer*>(user)->location = value;
    }
  }
  return size * n;
}

Result<Answer> request(const std::string& method, const std::string& url, std::string_view body,
                       const std::string& content_type) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return errorf(Errc::kInternal, "curl_easy_init failed");
  Answer answer;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &answer);
  CURLcode rc = curl_easy_perform(curl.get());
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    return errorf(Errc::kInternal, "{} {}: {}", method, url, curl_easy_strerror(rc));
  }
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &answer.status);
  return answer;
}

std::pair<std::string, std::string> split_name(std::string_view name) {
  auto colon = name.rfind(':');
  if (colon == std::string_view::npos) return {std::string(name), ""};
  return {std::string(name.substr(0, colon)), std::string(name.substr(colon + 1))};
}

Status put_manifest(const RegistryFixture& registry, std::string_view name,
                    const std::string& media_type, const std::string& body) {
  auto [repo, tag] = split_name(name);
  if (tag.empty()) return errorf(Errc::kInvalidArgument, "{}: needs a tag", name);
  ZLAYER_TRY(answer, request("PUT", fmt::format("{}/v2/{}/manifests/{}", registry.url(), repo, tag),
                             body, media_type));
  if (answer.status != 201) {
    return errorf(Errc::kInternal, "pushing manifest {}: HTTP {}: {}", name, answer.status,
                  answer.body);
  }
  return {};
}

}  // namespace

Status push_blob(const RegistryFixture& registry, std::string_view repo, std::string_view bytes) {
  const std::string digest = sha256_digest(bytes);
  ZLAYER_TRY(started, request("POST", fmt::format("{}/v2/{}/blobs/uploads/", registry.url(), repo),
                              "", "application/octet-stream"));
  if (started.status != 202 || started.location.empty()) {
    return errorf(Errc::kInternal, "starting an upload to {}: HTTP {}: {}", repo, started.status,
                  started.body);
  }
  std::string location = started.location;
  if (location.rfind("http", 0) != 0) location = registry.url() + location;
  location +=
      (location.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + digest;
  ZLAYER_TRY(done, request("PUT", location, bytes, "application/octet-stream"));
  if (done.status != 201) {
    return errorf(Errc::kInternal, "uploading blob {} to {}: HTTP {}: {}", digest, repo,
                  done.status, done.body);
  }
  return {};
}

Result<PushedArtifact> push_artifact(const RegistryFixture& registry, std::string_view name,
                                     const ArtifactManifest& artifact) {
  auto [repo, tag] = split_name(name);
  ZLAYER_CHECK(push_blob(registry, repo, artifact.config));
  nlohmann::json manifest{{"schemaVersion", 2},
                          {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                          {"config",
                           {{"mediaType", artifact.config_media_type},
                            {"digest", sha256_digest(artifact.config)},
                            {"size", artifact.config.size()}}},
                          {"layers", nlohmann::json::array()}};
  if (!artifact.artifact_type.empty()) manifest["artifactType"] = artifact.artifact_type;
  PushedArtifact pushed;
  for (const auto& layer : artifact.layers) {
    ZLAYER_CHECK(push_blob(registry, repo, layer.bytes));
    pushed.layer_digests.push_back(sha256_digest(layer.bytes));
    manifest["layers"].push_back({{"mediaType", layer.media_type},
                                  {"digest", pushed.layer_digests.back()},
                                  {"size", layer.bytes.size()}});
  }
  pushed.manifest = manifest.dump();
  pushed.digest = sha256_digest(pushed.manifest);
  pushed.size = static_cast<std::int64_t>(pushed.manifest.size());
  ZLAYER_CHECK(
      put_manifest(registry, name, "application/vnd.oci.image.manifest.v1+json", pushed.manifest));
  return pushed;
}

Result<std::string> push_index(const RegistryFixture& registry, std::string_view name,
                               const std::vector<IndexEntry>& entries) {
  nlohmann::json index{{"schemaVersion", 2},
                       {"mediaType", "application/vnd.oci.image.index.v1+json"},
                       {"manifests", nlohmann::json::array()}};
  for (const auto& e : entries) {
    index["manifests"].push_back({{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                  {"digest", e.manifest.digest},
                                  {"size", e.manifest.size},
                                  {"platform", {{"os", e.os}, {"architecture", e.architecture}}}});
  }
  std::string body = index.dump();
  ZLAYER_CHECK(put_manifest(registry, name, "application/vnd.oci.image.index.v1+json", body));
  return sha256_digest(body);
}

}  // namespace zlayer::testing
