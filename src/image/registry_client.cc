#include "image/registry_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "core/fs.h"
#include "core/sigpipe.h"
#include "core/text.h"
#include "image/registry_auth.h"

namespace zlayer::image {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kMaxManifestBytes = 4 << 20;  // as containerd and distribution limit them
constexpr std::size_t kMaxTokenResponseBytes = 1 << 20;
constexpr std::size_t kMaxErrorBodyBytes = 64 << 10;  // enough for any error JSON; HTML is cut
constexpr int kMaxRedirects = 10;
constexpr auto kMaxBackoff = 5s;
constexpr long kBufferSize = 512 * 1024;  // fewer, larger writes into the blob writer
constexpr std::size_t kMaxIdleHandles = 16;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::optional<std::int64_t> parse_int(std::string_view text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Percent-encodes a query component (RFC 3986 unreserved characters stay).
std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

// scheme://host:port of a URL, default ports made explicit, so "same origin" is exact.
struct Origin {
  std::string scheme;
  std::string host;
  std::string port;
  bool operator==(const Origin&) const = default;
};

std::optional<Origin> origin_of(const std::string& url) {
  CURLU* handle = curl_url();
  if (handle == nullptr) return std::nullopt;
  std::optional<Origin> out;
  if (curl_url_set(handle, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    auto part = [&](CURLUPart which, unsigned flags) -> std::optional<std::string> {
      char* text = nullptr;
      if (curl_url_get(handle, which, &text, flags) != CURLUE_OK) return std::nullopt;
      std::string value = lower(text);
      curl_free(text);
      return value;
    };
    auto scheme = part(CURLUPART_SCHEME, 0);
    auto host = part(CURLUPART_HOST, 0);
    auto port = part(CURLUPART_PORT, CURLU_DEFAULT_PORT);
    if (scheme && host && port) out = Origin{*scheme, *host, *port};
  }
  curl_url_cleanup(handle);
  return out;
}

// What one HTTP exchange (one hop of a redirect chain) produced.
struct Hop {
  CURLcode code = CURLE_OK;
  std::string curl_message;
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string error_body;    // body of a non-2xx answer, cut at kMaxErrorBodyBytes
  std::string redirect_url;  // absolute Location of a 3xx
  std::optional<Error> sink_error;

  [[nodiscard]] std::string header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) return value;
    }
    return {};
  }
};

// Receives the body of a 2xx answer chunk by chunk; `first` marks the first chunk of a response
// (headers are complete by then). An error aborts the transfer and is returned as is.
using BodySink = std::function<Status(const Hop& hop, std::string_view chunk, bool first)>;

struct TlsSettings {
  std::string ca_bundle;  // concatenated *.crt of certs.d/<host>; added to the system CAs
  std::filesystem::path client_cert;
  std::filesystem::path client_key;
};

// Reads <certs_dir>/<registry>/ as Docker does (daemon/registry ReadCertsDirectory): *.crt are CA
// certificates, each *.cert needs its *.key and the reverse. A missing directory means no extras.
Result<TlsSettings> load_tls_settings(const std::filesystem::path& certs_dir,
                                      const std::string& registry) {
  TlsSettings out;
  if (certs_dir.empty()) return out;
  std::filesystem::path dir = certs_dir / registry;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    files.push_back(entry.path());
  }
  if (ec) return sys_error("listing " + dir.string(), ec.value());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    std::string ext = file.extension().string();
    if (ext == ".crt") {
      ZLAYER_TRY(text, read_file(file));
      out.ca_bundle += text;
      if (!text.empty() && text.back() != '\n') out.ca_bundle += '\n';
    } else if (ext == ".cert") {
      auto key = std::filesystem::path(file).replace_extension(".key");
      if (!std::filesystem::exists(key, ec)) {
        return errorf(Errc::kInvalidArgument,
                      "missing key {} for client certificate {} (CA certificates must use the "
                      "extension .crt)",
                      key.string(), file.string());
      }
      if (out.client_cert.empty()) {
        out.client_cert = file;
        out.client_key = key;
      }
    } else if (ext == ".key") {
      auto cert = std::filesystem::path(file).replace_extension(".cert");
      if (!std::filesystem::exists(cert, ec)) {
        return errorf(Errc::kInvalidArgument, "missing client certificate {} for key {}",
                      cert.string(), file.string());
      }
    }
  }
  return out;
}

bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool is_retryable(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
      return true;
    default:
      return false;
  }
}

bool is_tls_trust_error(CURLcode code) {
  return code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CACERT_BADFILE ||
         code == CURLE_SSL_CERTPROBLEM || code == CURLE_SSL_ISSUER_ERROR;
}

// The distribution-spec error JSON ({"errors":[{"code","message"}]}) as "CODE: message; …",
// otherwise a snippet of whatever came (an HTML page from a proxy, say).
std::string describe_error_body(const Hop& hop) {
  if (hop.error_body.empty()) return "empty body";
  auto doc = nlohmann::json::parse(hop.error_body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_discarded() && doc.is_object()) {
    auto errors = doc.find("errors");
    if (errors != doc.end() && errors->is_array() && !errors->empty()) {
      std::string out;
      for (const auto& e : *errors) {
        if (!e.is_object()) continue;
        if (!out.empty()) out += "; ";
        auto code = e.find("code");
        auto message = e.find("message");
        if (code != e.end() && code->is_string()) out += code->get<std::string>();
        if (message != e.end() && message->is_string()) {
          out += (out.empty() ? "" : ": ") + message->get<std::string>();
        }
      }
      if (!out.empty()) return excerpt(out, 300);
    }
  }
  return excerpt(hop.error_body);
}

struct TransferContext {
  CURL* curl;
  Hop* hop;
  const BodySink* sink;
  bool body_started = false;
};

std::size_t on_header(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* context = static_cast<TransferContext*>(user);
  std::string_view line(buffer, size * count);
  // Each response (a 100 Continue, each redirect hop) starts with its status line.
  if (line.rfind("HTTP/", 0) == 0) {
    context->hop->headers.clear();
    return size * count;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    context->hop->headers.emplace_back(lower(trim(line.substr(0, colon))),
                                       trim(line.substr(colon + 1)));
  }
  return size * count;
}

std::size_t on_body(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* context = static_cast<TransferContext*>(user);
  std::size_t total = size * count;
  long status = 0;
  curl_easy_getinfo(context->curl, CURLINFO_RESPONSE_CODE, &status);
  context->hop->status = status;
  if (status >= 200 && status < 300 && context->sink != nullptr && *context->sink) {
    bool first = !context->body_started;
    context->body_started = true;
    auto ok = (*context->sink)(*context->hop, std::string_view(buffer, total), first);
    if (!ok) {
      context->hop->sink_error = std::move(ok).error();
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    return total;
  }
  auto& body = context->hop->error_body;
  if (body.size() < kMaxErrorBodyBytes) {
    body.append(buffer, std::min(total, kMaxErrorBodyBytes - body.size()));
  }
  return total;
}

struct CurlSlist {
  curl_slist* list = nullptr;
  ~CurlSlist() { curl_slist_free_all(list); }
  void add(const std::string& line) { list = curl_slist_append(list, line.c_str()); }
};

}  // namespace

RegistryOptions RegistryOptions::default_options() {
  RegistryOptions options;
  if (const char* dir = std::getenv("DOCKER_CONFIG"); dir != nullptr && *dir != '\0') {
    options.docker_config = std::filesystem::path(dir) / "config.json";
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    options.docker_config = std::filesystem::path(home) / ".docker" / "config.json";
  }
  return options;
}

struct RegistryClient::Impl {
  RegistryOptions options;
  CURLSH* share = nullptr;
  std::mutex share_locks[CURL_LOCK_DATA_LAST];
  TokenCache tokens;
  std::atomic<std::int64_t> bytes_received{0};

  std::mutex handles_mutex;
  std::vector<CURL*> idle_handles;

  std::mutex credentials_mutex;
  std::optional<DockerConfig> docker_config;
  std::map<std::string, Credentials> credentials;  // by registry

  std::mutex tls_mutex;
  std::map<std::string, std::shared_ptr<const TlsSettings>> tls;  // by registry

  explicit Impl(RegistryOptions o) : options(std::move(o)) {
    global_init();
    share = curl_share_init();
    // DNS answers and TLS sessions are shared by all handles. Connections are not: libcurl does
    // not support a connection cache shared by concurrent threads; each pooled handle keeps its
    // own connections alive instead.
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, &Impl::lock);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, &Impl::unlock);
    curl_share_setopt(share, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }

  ~Impl() {
    for (CURL* curl : idle_handles) curl_easy_cleanup(curl);
    curl_share_cleanup(share);
  }

  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<Impl*>(user)->share_locks[data].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<Impl*>(user)->share_locks[data].unlock();
  }

  // A pooled easy handle for the duration of one call.
  class Lease {
   public:
    explicit Lease(Impl* impl) : impl_(impl) {
      std::lock_guard lock(impl_->handles_mutex);
      if (!impl_->idle_handles.empty()) {
        curl_ = impl_->idle_handles.back();
        impl_->idle_handles.pop_back();
      }
      if (curl_ == nullptr) curl_ = curl_easy_init();
    }
    ~Lease() {
      if (curl_ == nullptr) return;
      std::lock_guard lock(impl_->handles_mutex);
      if (impl_->idle_handles.size() < kMaxIdleHandles) {
        impl_->idle_handles.push_back(curl_);
      } else {
        curl_easy_cleanup(curl_);
      }
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    [[nodiscard]] CURL* get() const { return curl_; }

   private:
    Impl* impl_;
    CURL* curl_ = nullptr;
  };

  [[nodiscard]] bool use_https(const Reference& ref) const {
    return options.force_https_for_loopback || !is_loopback_registry(ref.registry);
  }

  Result<std::shared_ptr<const TlsSettings>> tls_for(const std::string& registry) {
    std::lock_guard lock(tls_mutex);
    if (auto it = tls.find(registry); it != tls.end()) return it->second;
    auto loaded = load_tls_settings(options.certs_dir, registry);
    if (!loaded) {
      return unexpected(std::move(loaded).error().wrap("registry " + registry + " certificates"));
    }
    auto settings = std::make_shared<const TlsSettings>(std::move(*loaded));
    tls[registry] = settings;
    return settings;
  }

  Result<Credentials> credentials_for(const std::string& registry) {
    std::lock_guard lock(credentials_mutex);
    if (auto it = credentials.find(registry); it != credentials.end()) return it->second;
    if (!docker_config) {
      auto loaded = load_docker_config(options.docker_config);
      if (!loaded) return unexpected(std::move(loaded).error());
      docker_config = std::move(*loaded);
    }
    auto creds = resolve_credentials(*docker_config, registry);
    if (!creds) return unexpected(std::move(creds).error().wrap("credentials for " + registry));
    credentials[registry] = *creds;
    return *creds;
  }

  // How a request was authenticated, for permission errors.
  std::string credentials_phrase(const std::string& registry) {
    auto creds = credentials_for(registry);
    if (!creds || creds->anonymous()) {
      return fmt::format("anonymously (no credentials for {} in {})", registry,
                         options.docker_config.empty() ? std::string("any docker config")
                                                       : options.docker_config.string());
    }
    return "with credentials from " + creds->source;
  }

  [[nodiscard]] std::chrono::milliseconds backoff(int retry) const {
    auto delay = options.initial_backoff;
    for (int i = 1; i < retry && delay < kMaxBackoff; ++i) delay *= 2;
    return std::min<std::chrono::milliseconds>(delay, kMaxBackoff);
  }

  // One HTTP exchange without following redirects (so that we decide which hop gets the
  // Authorization header: libcurl 7.88 does drop a custom Authorization header when a followed
  // redirect changes host, port or scheme, but deciding it here keeps the rule in one place and
  // independent of libcurl's version and of CURLOPT_UNRESTRICTED_AUTH).
  Hop perform(CURL* curl, const std::string& url, const std::vector<std::string>& headers,
              const std::string* post_form, const TlsSettings* tls_settings, bool client_cert,
              const BodySink* sink) {
    Hop hop;
    TransferContext context{curl, &hop, sink};
    char error_buffer[CURL_ERROR_SIZE] = {};
    CurlSlist header_list;
    for (const auto& line : headers) header_list.add(line);
    // Without this, curl sends "Expect: 100-continue" for POST bodies above 1 KiB.
    header_list.add("Expect:");

    curl_easy_reset(curl);  // keeps the handle's live connections and caches
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_SHARE, share);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, options.user_agent.c_str());
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::chrono::milliseconds(options.connect_timeout).count()));
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(options.stall_timeout.count()));
    curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, kBufferSize);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list.list);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &context);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &context);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
    if (post_form != nullptr) curl_easy_setopt(curl, CURLOPT_COPYPOSTFIELDS, post_form->c_str());
    if (tls_settings != nullptr) {
      if (!tls_settings->ca_bundle.empty()) {
        // The blob replaces the default CA file; the default CA path (/etc/ssl/certs on Debian)
        // still applies, so the registry's CA is added to the system's, as in Docker.
        curl_blob blob{const_cast<char*>(tls_settings->ca_bundle.data()),
                       tls_settings->ca_bundle.size(), CURL_BLOB_COPY};
        curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
      }
      if (client_cert && !tls_settings->client_cert.empty()) {
        curl_easy_setopt(curl, CURLOPT_SSLCERT, tls_settings->client_cert.c_str());
        curl_easy_setopt(curl, CURLOPT_SSLKEY, tls_settings->client_key.c_str());
      }
    }

    {
      // CURLOPT_NOSIGNAL (needed with threads) also stops libcurl from ignoring SIGPIPE, which
      // OpenSSL raises when a server closes a TLS connection under us.
      ScopedSigpipeBlock no_sigpipe;
      hop.code = curl_easy_perform(curl);
    }
    hop.curl_message = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(hop.code);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &hop.status);
    if (hop.code == CURLE_OK && is_redirect(hop.status)) {
      char* location = nullptr;
      curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &location);
      if (location != nullptr) hop.redirect_url = location;
    }
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
    return hop;
  }

  Error transport_error(const Reference& ref, const std::string& what, const Hop& hop,
                        int attempts) {
    if (is_tls_trust_error(hop.code)) {
      return Error{Errc::kFailedPrecondition,
                   fmt::format("registry {}: TLS certificate not trusted while fetching {} ({}); "
                               "put the registry's CA certificate in {}/{}/ca.crt",
                               ref.registry, what, hop.curl_message, options.certs_dir.string(),
                               ref.registry)};
    }
    return Error{Errc::kUnavailable,
                 fmt::format("registry {}: cannot fetch {}{}: {}", ref.registry, what,
                             attempts > 1 ? fmt::format(" after {} attempts", attempts) : "",
                             hop.curl_message)};
  }

  Error http_error(const Reference& ref, const std::string& what, const Hop& hop,
                   bool on_registry) {
    std::string detail = fmt::format("HTTP {}: {}", hop.status, describe_error_body(hop));
    switch (hop.status) {
      case 404:
        return Error{Errc::kNotFound,
                     fmt::format("{} not found in registry {} ({})", what, ref.registry, detail)};
      case 401:
      case 403:
        if (!on_registry) {
          return Error{
              Errc::kPermissionDenied,
              fmt::format("registry {}: the server it redirected {} to refused access ({})",
                          ref.registry, what, detail)};
        }
        return Error{Errc::kPermissionDenied,
                     fmt::format("registry {} denied access to {} when asked {} ({})", ref.registry,
                                 what, credentials_phrase(ref.registry), detail)};
      default:
        return Error{
            Errc::kInvalidArgument,
            fmt::format("registry {} refused the request for {} ({})", ref.registry, what, detail)};
    }
  }

  // Fetches a token from the token server named by a Bearer challenge (distribution
  // docs/spec/auth/token.md; oauth.md for identity tokens). Returns "Bearer <token>".
  Result<std::string> fetch_bearer_token(CURL* curl, const Reference& ref,
                                         const AuthChallenge& challenge, const std::string& scope,
                                         const Credentials& creds,
                                         std::chrono::seconds& expires_in) {
    std::string realm = challenge.param("realm");
    std::string service = challenge.param("service");
    auto realm_origin = origin_of(realm);
    if (realm.empty() || !realm_origin ||
        (realm_origin->scheme != "https" && realm_origin->scheme != "http")) {
      return errorf(Errc::kPermissionDenied,
                    "registry {} sent a Bearer challenge without a usable realm URL (\"{}\")",
                    ref.registry, realm);
    }
    std::string url = realm;
    std::vector<std::string> headers;
    std::optional<std::string> form;
    if (!creds.identity_token.empty()) {
      form = "grant_type=refresh_token&client_id=zlayer-agent&refresh_token=" +
             url_encode(creds.identity_token) + "&scope=" + url_encode(scope);
      if (!service.empty()) *form += "&service=" + url_encode(service);
      headers.push_back("Content-Type: application/x-www-form-urlencoded");
    } else {
      std::string query;
      if (!service.empty()) query += "service=" + url_encode(service);
      query += (query.empty() ? "" : "&") + std::string("scope=") + url_encode(scope);
      url += (url.find('?') == std::string::npos ? "?" : "&") + query;
      if (!creds.anonymous()) {
        headers.push_back("Authorization: " + basic_authorization(creds.username, creds.password));
      }
    }
    std::shared_ptr<const TlsSettings> tls_settings;
    if (realm_origin->scheme == "https") {
      // The token server is reached through the registry's TLS settings, as Docker's transport
      // does (a private registry's token server usually shares its CA).
      ZLAYER_TRY(loaded, tls_for(ref.registry));
      tls_settings = loaded;
    }
    std::string body;
    BodySink sink = [&](const Hop&, std::string_view chunk, bool) -> Status {
      if (body.size() + chunk.size() > kMaxTokenResponseBytes) {
        return errorf(Errc::kInvalidArgument, "token server {} sent more than {} bytes", realm,
                      kMaxTokenResponseBytes);
      }
      body.append(chunk);
      return {};
    };
    std::string what = "a token for " + scope + " from " + realm;
    for (int attempt = 1;; ++attempt) {
      body.clear();
      Hop hop = perform(curl, url, headers, form ? &*form : nullptr, tls_settings.get(),
                        /*client_cert=*/false, &sink);
      if (hop.sink_error) return unexpected(*hop.sink_error);
      bool retry = false;
      if (hop.code != CURLE_OK) {
        if (!is_retryable(hop.code) || attempt >= options.max_attempts) {
          return unexpected(transport_error(ref, what, hop, attempt));
        }
        retry = true;
      } else if (hop.status >= 500 || hop.status == 429) {
        if (attempt >= options.max_attempts) {
          return errorf(Errc::kUnavailable,
                        "registry {}: token server {} answered HTTP {} {} times: {}", ref.registry,
                        realm, hop.status, attempt, describe_error_body(hop));
        }
        retry = true;
      } else if (hop.status == 401 || hop.status == 403) {
        return errorf(Errc::kPermissionDenied,
                      "registry {}: token server {} refused {} {} (HTTP {}: {})", ref.registry,
                      realm, scope, credentials_phrase(ref.registry), hop.status,
                      describe_error_body(hop));
      } else if (hop.status < 200 || hop.status >= 300) {
        return errorf(Errc::kPermissionDenied,
                      "registry {}: token server {} answered HTTP {} for {} ({})", ref.registry,
                      realm, hop.status, scope, describe_error_body(hop));
      }
      if (retry) {
        std::this_thread::sleep_for(backoff(attempt));
        continue;
      }
      auto token = parse_token_response(body);
      if (!token) {
        return unexpected(
            std::move(token).error().wrap("registry " + ref.registry + ": token server " + realm));
      }
      expires_in = token->expires_in;
      return "Bearer " + token->token;
    }
  }

  // Answers a 401 challenge: works out the Authorization header for (registry, scope) and caches
  // it.
  Result<std::string> authenticate(CURL* curl, const Reference& ref, const std::string& scope,
                                   const std::string& challenge_header) {
    if (challenge_header.empty()) {
      return errorf(Errc::kPermissionDenied,
                    "registry {} answered 401 without a WWW-Authenticate challenge", ref.registry);
    }
    auto challenges = parse_www_authenticate(challenge_header);
    if (!challenges) {
      return unexpected(std::move(challenges).error().wrap("registry " + ref.registry));
    }
    const AuthChallenge* bearer = nullptr;
    const AuthChallenge* basic = nullptr;
    for (const auto& c : *challenges) {
      if (c.scheme == "bearer" && bearer == nullptr) bearer = &c;
      if (c.scheme == "basic" && basic == nullptr) basic = &c;
    }
    ZLAYER_TRY(creds, credentials_for(ref.registry));
    std::string authorization;
    auto expires = TokenCache::Clock::now();
    if (bearer != nullptr) {
      std::chrono::seconds expires_in{60};
      ZLAYER_TRY(header, fetch_bearer_token(curl, ref, *bearer, scope, creds, expires_in));
      authorization = std::move(header);
      expires += expires_in;
    } else if (basic != nullptr) {
      if (creds.anonymous()) {
        return errorf(Errc::kPermissionDenied,
                      "registry {} requires Basic credentials and none are configured for it in {} "
                      "(docker login {})",
                      ref.registry,
                      options.docker_config.empty() ? std::string("a docker config")
                                                    : options.docker_config.string(),
                      ref.registry);
      }
      if (creds.username.empty() && !creds.identity_token.empty()) {
        return errorf(Errc::kUnsupported,
                      "registry {} asks for Basic auth but the credentials from {} are an identity "
                      "token, which only works with Bearer token servers",
                      ref.registry, creds.source);
      }
      authorization = basic_authorization(creds.username, creds.password);
      expires += 24h;
    } else {
      return errorf(Errc::kUnsupported,
                    "registry {} asks for auth scheme \"{}\"; only Basic and Bearer are supported",
                    ref.registry, challenges->front().scheme);
    }
    tokens.put(ref.registry, scope, authorization, expires);
    return authorization;
  }

  struct RequestSpec {
    std::string path;                  // "/v2/<repo>/manifests/<ref>"
    std::string what;                  // "manifest <ref>" for messages
    std::vector<std::string> headers;  // sent on every hop
    // Runs before each attempt; returns headers for this attempt only (Range on a resume).
    std::function<Result<std::vector<std::string>>()> before_attempt;
    // Bytes kept so far; an attempt that made progress does not use up max_attempts.
    std::function<std::int64_t()> progress;
    BodySink sink;
  };

  // GET with auth, redirects and retries. Returns the final 2xx hop (its body went to the sink).
  Result<Hop> get(const Reference& ref, const RequestSpec& spec) {
    Lease lease(this);
    CURL* curl = lease.get();
    if (curl == nullptr) return errorf(Errc::kResourceExhausted, "curl_easy_init failed");
    const std::string base = (use_https(ref) ? "https://" : "http://") + ref.api_host();
    const auto registry_origin = origin_of(base + "/");
    if (!registry_origin) {
      return errorf(Errc::kInvalidArgument, "registry \"{}\" is not a valid host[:port]",
                    ref.registry);
    }
    const std::string scope = "repository:" + ref.repository + ":pull";
    std::shared_ptr<const TlsSettings> registry_tls;
    if (registry_origin->scheme == "https") {
      ZLAYER_TRY(loaded, tls_for(ref.registry));
      registry_tls = loaded;
    }

    int attempt = 1;
    bool reauthenticated = false;
    // Progress is measured against the furthest point any attempt reached, not against the start
    // of this attempt: a server that always drops at the same byte, without Range support, makes
    // every attempt restart from zero and must still run out of attempts.
    std::int64_t furthest = spec.progress ? spec.progress() : 0;
    while (true) {
      std::vector<std::string> headers = spec.headers;
      if (spec.before_attempt) {
        ZLAYER_TRY(extra, spec.before_attempt());
        headers.insert(headers.end(), extra.begin(), extra.end());
      }
      const std::optional<std::string> authorization = tokens.get(ref.registry, scope);
      std::string url = base + spec.path;
      Hop hop;
      bool on_registry = true;
      for (int redirects = 0;; ++redirects) {
        auto origin = origin_of(url);
        on_registry = origin && *origin == *registry_origin;
        std::vector<std::string> hop_headers = headers;
        if (authorization && on_registry) hop_headers.push_back("Authorization: " + *authorization);
        const TlsSettings* hop_tls = nullptr;
        if (origin && origin->scheme == "https") {
          // Off-registry hops (a CDN) still get the registry's extra CAs, never its client cert.
          if (!registry_tls) {
            ZLAYER_TRY(loaded, tls_for(ref.registry));
            registry_tls = loaded;
          }
          hop_tls = registry_tls.get();
        }
        hop = perform(curl, url, hop_headers, nullptr, hop_tls, on_registry, &spec.sink);
        if (hop.code != CURLE_OK || !is_redirect(hop.status)) break;
        if (redirects >= kMaxRedirects) {
          return errorf(Errc::kUnavailable, "registry {}: more than {} redirects for {}",
                        ref.registry, kMaxRedirects, spec.what);
        }
        if (hop.redirect_url.empty()) {
          return errorf(Errc::kUnavailable, "registry {}: HTTP {} without a Location for {}",
                        ref.registry, hop.status, spec.what);
        }
        url = hop.redirect_url;
      }
      if (hop.sink_error) return unexpected(*hop.sink_error);

      std::string failure;
      if (hop.code != CURLE_OK) {
        if (!is_retryable(hop.code))
          return unexpected(transport_error(ref, spec.what, hop, attempt));
        failure = hop.curl_message;
      } else if (hop.status == 401 && on_registry && !reauthenticated) {
        // First 401, or a cached token the registry no longer takes: authenticate once.
        if (authorization) tokens.invalidate(ref.registry, scope, *authorization);
        ZLAYER_CHECK(authenticate(curl, ref, scope, hop.header("www-authenticate")));
        reauthenticated = true;
        continue;
      } else if (hop.status >= 500 || hop.status == 429) {
        failure = fmt::format("HTTP {}: {}", hop.status, describe_error_body(hop));
      } else if (hop.status >= 200 && hop.status < 300) {
        return hop;
      } else {
        return unexpected(http_error(ref, spec.what, hop, on_registry));
      }

      const bool progressed = spec.progress && spec.progress() > furthest;
      if (progressed) furthest = spec.progress();
      if (!progressed) {
        if (attempt >= options.max_attempts) {
          if (hop.code != CURLE_OK)
            return unexpected(transport_error(ref, spec.what, hop, attempt));
          return errorf(Errc::kUnavailable, "registry {}: fetching {} failed {} times; last: {}",
                        ref.registry, spec.what, attempt, failure);
        }
        ++attempt;
      }
      std::this_thread::sleep_for(backoff(attempt - 1));
    }
  }
};

RegistryClient::RegistryClient(RegistryOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

RegistryClient::~RegistryClient() = default;

Result<FetchedManifest> RegistryClient::fetch_manifest(const Reference& ref) {
  if (ref.digest && ref.digest->algorithm != "sha256") {
    return errorf(Errc::kUnsupported, "manifest {}: only sha256 digests can be verified",
                  ref.str());
  }
  std::string body;
  Impl::RequestSpec spec;
  spec.path = "/v2/" + ref.repository + "/manifests/" + ref.manifest_reference();
  spec.what = "manifest " + ref.str();
  spec.headers.push_back("Accept: " + media_type::manifest_accept_header());
  spec.before_attempt = [&]() -> Result<std::vector<std::string>> {
    body.clear();
    return std::vector<std::string>{};
  };
  spec.sink = [&](const Hop& hop, std::string_view chunk, bool first) -> Status {
    if (first) {
      auto length = parse_int(hop.header("content-length"));
      if (length && *length > static_cast<std::int64_t>(kMaxManifestBytes)) {
        return errorf(Errc::kInvalidArgument,
                      "manifest {} from registry {} is {} bytes, over the {} MiB limit", ref.str(),
                      ref.registry, *length, kMaxManifestBytes >> 20);
      }
    }
    if (body.size() + chunk.size() > kMaxManifestBytes) {
      return errorf(Errc::kInvalidArgument, "manifest {} from registry {} is over the {} MiB limit",
                    ref.str(), ref.registry, kMaxManifestBytes >> 20);
    }
    body.append(chunk);
    return {};
  };
  ZLAYER_TRY(hop, impl_->get(ref, spec));
  FetchedManifest out;
  out.digest = sha256_of(body);
  out.content_type = hop.header("content-type");
  out.body = std::move(body);
  if (ref.digest && out.digest != *ref.digest) {
    return errorf(Errc::kInvalidArgument,
                  "manifest {} from registry {}: received content has digest {}, expected {}",
                  ref.str(), ref.registry, out.digest.str(), ref.digest->str());
  }
  return out;
}

Result<FetchedManifest> RegistryClient::fetch_manifest(const Reference& repo,
                                                       const Digest& digest) {
  Reference ref = repo.with_digest(digest);
  ref.tag.clear();
  return fetch_manifest(ref);
}

Status RegistryClient::fetch_blob(const Reference& repo, const Descriptor& desc, BlobWriter& out,
                                  const std::function<void(std::int64_t)>& on_bytes) {
  const std::string what = "blob " + desc.digest.str() + " of " + repo.name();
  bool accept_ranges = false;
  Impl::RequestSpec spec;
  spec.path = "/v2/" + repo.repository + "/blobs/" + desc.digest.str();
  spec.what = what;
  spec.progress = [&] { return out.written(); };
  spec.before_attempt = [&]() -> Result<std::vector<std::string>> {
    std::vector<std::string> headers;
    if (out.written() > 0) {
      if (accept_ranges && out.written() < desc.size) {
        headers.push_back(fmt::format("Range: bytes={}-", out.written()));
      } else {
        ZLAYER_CHECK(out.reset());
      }
    }
    return headers;
  };
  spec.sink = [&](const Hop& hop, std::string_view chunk, bool first) -> Status {
    if (first) {
      std::int64_t expected_length = desc.size;
      if (hop.status == 206) {
        // Content-Range: bytes <first>-<last>/<total>
        std::string range = hop.header("content-range");
        auto space = range.find(' ');
        auto dash = range.find('-');
        std::optional<std::int64_t> start;
        if (space != std::string::npos && dash != std::string::npos && dash > space) {
          start = parse_int(std::string_view(range).substr(space + 1, dash - space - 1));
        }
        if (!start || *start != out.written()) {
          return errorf(Errc::kUnavailable,
                        "registry {}: resuming {} at byte {} got Content-Range \"{}\"",
                        repo.registry, what, out.written(), range);
        }
        expected_length = desc.size - out.written();
        accept_ranges = true;
      } else {
        // A whole body: the server ignored our Range (or none was sent).
        if (out.written() > 0) ZLAYER_CHECK(out.reset());
        accept_ranges = lower(hop.header("accept-ranges")).find("bytes") != std::string::npos;
      }
      auto length = parse_int(hop.header("content-length"));
      if (length && *length != expected_length) {
        return errorf(Errc::kInvalidArgument,
                      "registry {} announced {} bytes (Content-Length) for {}, expected {} "
                      "(descriptor size {})",
                      repo.registry, *length, what, expected_length, desc.size);
      }
    }
    if (out.written() + static_cast<std::int64_t>(chunk.size()) > desc.size) {
      return errorf(Errc::kInvalidArgument,
                    "registry {} sent more than the {} bytes the descriptor gives for {}",
                    repo.registry, desc.size, what);
    }
    ZLAYER_CHECK(out.write(chunk));
    impl_->bytes_received.fetch_add(static_cast<std::int64_t>(chunk.size()),
                                    std::memory_order_relaxed);
    if (on_bytes) on_bytes(static_cast<std::int64_t>(chunk.size()));
    return {};
  };
  ZLAYER_TRY(hop, impl_->get(repo, spec));
  (void)hop;
  if (out.written() != desc.size) {
    return errorf(Errc::kInvalidArgument, "registry {} sent {} bytes for {}, expected {}",
                  repo.registry, out.written(), what, desc.size);
  }
  return {};
}

std::int64_t RegistryClient::bytes_received() const {
  return impl_->bytes_received.load(std::memory_order_relaxed);
}

}  // namespace zlayer::image
