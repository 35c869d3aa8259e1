// Registry client against fake registries (cpp-httplib on 127.0.0.1, free ports): auth flows,
// Accept list, raw-bytes digests, retries, resume, redirects, TLS with a certs.d directory.
#include "image/registry_client.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "core/fs.h"
#include "core/subprocess.h"
#include "image/registry_auth.h"
#include "support/fake_http_server.h"
#include "support/scoped_env.h"
#include "support/temp_dir.h"

namespace zlayer::image {
namespace {

using namespace std::chrono_literals;

using testing::FakeServer;
using testing::SeenRequest;

std::string blob_bytes(std::size_t size, unsigned seed = 1) {
  std::string out(size, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& c : out) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return out;
}

Descriptor descriptor_for(const std::string& bytes) {
  Descriptor d;
  d.media_type = std::string(media_type::kOciLayerGzip);
  d.digest = sha256_of(bytes);
  d.size = static_cast<std::int64_t>(bytes.size());
  return d;
}

// A manifest with whitespace no serializer would produce: its digest must be over these bytes.
const std::string kOddManifest =
    "{\n   \"schemaVersion\" :2,\t\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\" ,"
    "\r\n \"config\" : {\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
    "\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\"size\":2},"
    "\"layers\":[ ]}\n\n";

class RegistryClientTest : public ::testing::Test {
 protected:
  RegistryOptions options() {
    RegistryOptions o;
    o.certs_dir = dir_.path() / "certs.d";
    o.docker_config = dir_.path() / "docker" / "config.json";  // absent unless a test writes it
    o.initial_backoff = 1ms;
    o.max_attempts = 3;
    return o;
  }

  void write_docker_config(const std::string& json) {
    ASSERT_TRUE(make_dirs(dir_.path() / "docker"));
    ASSERT_TRUE(atomic_write_file(dir_.path() / "docker" / "config.json", json));
  }

  Reference ref(const std::string& tag = "v1") const {
    return Reference{registry_.host(), "test/app", tag, std::nullopt};
  }

  // Serves kOddManifest for /v2/test/app/manifests/v1 with `content_type`.
  void serve_manifest(const std::string& content_type) {
    registry_.http().Get("/v2/test/app/manifests/v1",
                         [content_type](const httplib::Request&, httplib::Response& res) {
                           res.set_content(kOddManifest, content_type);
                         });
  }

  testing::TempDir dir_;
  FakeServer registry_;
};

TEST_F(RegistryClientTest, AnonymousManifestKeepsRawBytesAndContentType) {
  serve_manifest(std::string(media_type::kOciManifest));
  registry_.start();
  RegistryClient client(options());
  auto fetched = client.fetch_manifest(ref());
  ASSERT_TRUE(fetched) << fetched.error().message;
  EXPECT_EQ(fetched->body, kOddManifest);
  EXPECT_EQ(fetched->digest, sha256_of(kOddManifest));
  EXPECT_EQ(fetched->content_type, media_type::kOciManifest);

  auto seen = registry_.seen("/v2/test/app/manifests/");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_FALSE(seen[0].has_header("Authorization"));
  // All four types, or the registry answers 404 for OCI manifests / converts Docker v2 ones.
  std::string accept = seen[0].header("Accept");
  for (auto type : {media_type::kOciManifest, media_type::kOciIndex, media_type::kDockerManifest,
                    media_type::kDockerManifestList}) {
    EXPECT_NE(accept.find(type), std::string::npos) << type << " missing from " << accept;
  }
  EXPECT_EQ(accept, media_type::manifest_accept_header());
}

TEST_F(RegistryClientTest, WrongContentTypeIsReturnedRaw) {
  serve_manifest("text/plain; charset=utf-8");
  registry_.start();
  RegistryClient client(options());
  auto fetched = client.fetch_manifest(ref());
  ASSERT_TRUE(fetched) << fetched.error().message;
  EXPECT_EQ(fetched->content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(fetched->body, kOddManifest);
}

TEST_F(RegistryClientTest, DigestPinnedReferenceIsVerified) {
  Digest good = sha256_of(kOddManifest);
  Digest wrong = sha256_of("something else");
  registry_.http().Get(R"(/v2/test/app/manifests/(sha256:[0-9a-f]+))",
                       [](const httplib::Request&, httplib::Response& res) {
                         res.set_content(kOddManifest, std::string(media_type::kOciManifest));
                       });
  registry_.start();
  RegistryClient client(options());

  auto ok = client.fetch_manifest(ref(), good);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->digest, good);

  Reference pinned = ref();
  pinned.digest = wrong;  // tag and digest: the digest is what is asked for and checked
  auto bad = client.fetch_manifest(pinned);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
  EXPECT_NE(bad.error().message.find(good.str()), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find(wrong.str()), std::string::npos);

  auto seen = registry_.seen("/v2/test/app/manifests/");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].path, "/v2/test/app/manifests/" + good.str());
  EXPECT_EQ(seen[1].path, "/v2/test/app/manifests/" + wrong.str());
}

TEST_F(RegistryClientTest, ManifestOverFourMebibytesIsRefused) {
  registry_.http().Get("/v2/test/app/manifests/big",
                       [](const httplib::Request&, httplib::Response& res) {
                         res.set_content(std::string((4 << 20) + 1, ' '), "application/json");
                       });
  // Without Content-Length the limit applies to the bytes as they arrive.
  registry_.http().Get("/v2/test/app/manifests/chunked",
                       [](const httplib::Request&, httplib::Response& res) {
                         res.set_chunked_content_provider(
                             "application/json", [](size_t offset, httplib::DataSink& sink) {
                               if (offset > (5u << 20)) {
                                 sink.done();
                                 return true;
                               }
                               std::string chunk(64 << 10, ' ');
                               return sink.write(chunk.data(), chunk.size());
                             });
                       });
  registry_.start();
  RegistryClient client(options());
  for (const char* tag : {"big", "chunked"}) {
    auto fetched = client.fetch_manifest(ref(tag));
    ASSERT_FALSE(fetched) << tag;
    EXPECT_EQ(fetched.error().code, Errc::kInvalidArgument) << tag;
    EXPECT_NE(fetched.error().message.find("4 MiB"), std::string::npos) << fetched.error().message;
  }
}

TEST_F(RegistryClientTest, BasicAuthWithCredentialsFromDockerConfig) {
  const std::string expected = basic_authorization("alice", "pa:ss");
  registry_.http().Get(
      "/v2/test/app/manifests/v1", [&](const httplib::Request& req, httplib::Response& res) {
        if (req.get_header_value("Authorization") != expected) {
          res.status = 401;
          res.set_header("WWW-Authenticate", R"(Basic realm="fake, registry")");
          res.set_content(R"({"errors":[{"code":"UNAUTHORIZED"}]})", "application/json");
          return;
        }
        res.set_content(kOddManifest, std::string(media_type::kOciManifest));
      });
  registry_.start();

  // No credentials: a clear refusal naming the registry.
  {
    RegistryClient client(options());
    auto denied = client.fetch_manifest(ref());
    ASSERT_FALSE(denied);
    EXPECT_EQ(denied.error().code, Errc::kPermissionDenied);
    EXPECT_NE(denied.error().message.find(registry_.host()), std::string::npos);
    EXPECT_NE(denied.error().message.find("Basic"), std::string::npos) << denied.error().message;
  }

  write_docker_config(R"({"auths": {")" + registry_.host() + R"(": {"auth": ")" +
                      base64_encode("alice:pa:ss") + R"("}}})");
  RegistryClient client(options());
  auto fetched = client.fetch_manifest(ref());
  ASSERT_TRUE(fetched) << fetched.error().message;
  EXPECT_EQ(fetched->body, kOddManifest);
  // The Basic header is remembered: the next request sends it straight away.
  const int before = registry_.count("/v2/");
  ASSERT_TRUE(client.fetch_manifest(ref()));
  auto seen = registry_.seen("/v2/");
  ASSERT_EQ(static_cast<int>(seen.size()), before + 1);
  EXPECT_EQ(seen.back().header("Authorization"), expected);
}

TEST_F(RegistryClientTest, WrongBasicCredentialsArePermissionDeniedNamingTheSource) {
  registry_.http().Get("/v2/test/app/manifests/v1",
                       [](const httplib::Request&, httplib::Response& res) {
                         res.status = 401;
                         res.set_header("WWW-Authenticate", R"(Basic realm="fake")");
                       });
  registry_.start();
  write_docker_config(R"({"auths": {"http://)" + registry_.host() +
                      R"(/v2/": {"username": "bob", "password": "nope"}}})");
  RegistryClient client(options());
  auto denied = client.fetch_manifest(ref());
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, Errc::kPermissionDenied);
  EXPECT_NE(denied.error().message.find("config.json"), std::string::npos)
      << denied.error().message;
  // One anonymous try, one with the credentials, no more.
  EXPECT_EQ(registry_.count("/v2/"), 2);
}

// A registry with a token server on the same port, as distribution's token auth works.
class BearerRegistryTest : public RegistryClientTest {
 protected:
  void SetUp() override {
    registry_.http().Get("/token", [this](const httplib::Request& req, httplib::Response& res) {
      if (!token_auth_.empty() && req.get_header_value("Authorization") != token_auth_) {
        res.status = 401;
        res.set_content("<html>denied</html>", "text/html");
        return;
      }
      res.set_content(R"({"token":")" + valid_token() + R"(","expires_in":300})",
                      "application/json");
    });
    registry_.http().Post("/token", [this](const httplib::Request& req, httplib::Response& res) {
      // OAuth2 refresh-token grant (identity tokens). The body is read after pre-routing, so it
      // is kept here.
      {
        std::lock_guard lock(mutex_);
        post_body_ = req.body;
      }
      if (req.body.find("grant_type=refresh_token") == std::string::npos ||
          req.body.find("refresh_token=my-refresh") == std::string::npos) {
        res.status = 400;
        return;
      }
      res.set_content(R"({"access_token":")" + valid_token() + R"("})", "application/json");
    });
    registry_.http().Get("/v2/test/app/manifests/v1", [this](const httplib::Request& req,
                                                             httplib::Response& res) {
      if (req.get_header_value("Authorization") != "Bearer " + valid_token()) {
        res.status = 401;
        res.set_header("WWW-Authenticate",
                       R"(Bearer realm="http://)" + registry_.host() +
                           R"(/token",service="fake registry",scope="repository:test/app:pull")");
        return;
      }
      res.set_content(kOddManifest, std::string(media_type::kOciManifest));
    });
    registry_.start();
  }

  std::string valid_token() {
    std::lock_guard lock(mutex_);
    return valid_token_;
  }
  void set_valid_token(std::string token) {
    std::lock_guard lock(mutex_);
    valid_token_ = std::move(token);
  }

  std::mutex mutex_;
  std::string valid_token_ = "tok-1";
  std::string post_body_;   // last POST /token body
  std::string token_auth_;  // Authorization the token endpoint insists on ("" = any)
};

TEST_F(BearerRegistryTest, TokenFlowWithCredentialsCachedAndRenewedOnce) {
  token_auth_ = basic_authorization("carol", "secret");
  write_docker_config(R"({"auths": {")" + registry_.host() +
                      R"(": {"username": "carol", "password": "secret"}}})");
  RegistryClient client(options());

  auto first = client.fetch_manifest(ref());
  ASSERT_TRUE(first) << first.error().message;
  auto token_requests = registry_.seen("/token");
  ASSERT_EQ(token_requests.size(), 1u);
  EXPECT_EQ(token_requests[0].params.find("service")->second, "fake registry");
  EXPECT_EQ(token_requests[0].params.find("scope")->second, "repository:test/app:pull");
  EXPECT_EQ(token_requests[0].header("Authorization"), token_auth_);

  // Cached: no second visit to the token server.
  ASSERT_TRUE(client.fetch_manifest(ref()));
  EXPECT_EQ(registry_.count("/token"), 1);
  EXPECT_EQ(registry_.seen("/v2/").back().header("Authorization"), "Bearer tok-1");

  // The registry stops taking the cached token: one re-authentication, then success.
  set_valid_token("tok-2");
  auto renewed = client.fetch_manifest(ref());
  ASSERT_TRUE(renewed) << renewed.error().message;
  EXPECT_EQ(registry_.count("/token"), 2);
  EXPECT_EQ(registry_.seen("/v2/").back().header("Authorization"), "Bearer tok-2");
  EXPECT_EQ(registry_.count("/v2/"), 2 + 1 + 2);
}

TEST_F(BearerRegistryTest, AnonymousTokenSendsNoCredentials) {
  RegistryClient client(options());
  auto fetched = client.fetch_manifest(ref());
  ASSERT_TRUE(fetched) << fetched.error().message;
  auto token_requests = registry_.seen("/token");
  ASSERT_EQ(token_requests.size(), 1u);
  EXPECT_FALSE(token_requests[0].has_header("Authorization"));
}

TEST_F(BearerRegistryTest, TokenServerRefusalIsPermissionDenied) {
  token_auth_ = basic_authorization("carol", "secret");
  RegistryClient client(options());  // anonymous
  auto denied = client.fetch_manifest(ref());
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, Errc::kPermissionDenied);
  EXPECT_NE(denied.error().message.find("anonymously"), std::string::npos)
      << denied.error().message;
  EXPECT_NE(denied.error().message.find("denied"), std::string::npos);  // HTML snippet, no crash
}

TEST_F(BearerRegistryTest, TokenTheRegistryRejectsIsRetriedOnlyOnce) {
  RegistryClient client(options());
  set_valid_token("tok-1");
  // Make the registry reject every token the token server hands out.
  registry_.http().Get(
      "/v2/test/app/manifests/never", [this](const httplib::Request&, httplib::Response& res) {
        res.status = 401;
        res.set_header("WWW-Authenticate", R"(Bearer realm="http://)" + registry_.host() +
                                               R"(/token",service="fake registry")");
      });
  auto denied = client.fetch_manifest(ref("never"));
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, Errc::kPermissionDenied);
  EXPECT_NE(denied.error().message.find(registry_.host()), std::string::npos);
  EXPECT_EQ(registry_.count("/token"), 1);
  EXPECT_EQ(registry_.count("/v2/test/app/manifests/never"), 2);
}

TEST_F(BearerRegistryTest, IdentityTokenIsTradedWithRefreshTokenGrant) {
  write_docker_config(R"({"auths": {")" + registry_.host() +
                      R"(": {"identitytoken": "my-refresh"}}})");
  RegistryClient client(options());
  auto fetched = client.fetch_manifest(ref());
  ASSERT_TRUE(fetched) << fetched.error().message;
  auto token_requests = registry_.seen("/token");
  ASSERT_EQ(token_requests.size(), 1u);
  EXPECT_EQ(token_requests[0].method, "POST");
  std::lock_guard lock(mutex_);
  EXPECT_NE(post_body_.find("scope=repository%3Atest%2Fapp%3Apull"), std::string::npos)
      << post_body_;
  EXPECT_NE(post_body_.find("service=fake%20registry"), std::string::npos) << post_body_;
}

class CredentialHelperRegistryTest : public BearerRegistryTest {
 protected:
  void SetUp() override {
    BearerRegistryTest::SetUp();
    token_auth_ = basic_authorization("helper-user", "helper-secret");
    ASSERT_TRUE(make_dirs(bin_.path()));
    // Prints credentials only for this registry's server URL, read from stdin.
    std::string script =
        "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread -r server\n"
        "if [ \"$server\" = \"" +
        registry_.host() +
        "\" ]; then printf '{\"Username\":\"helper-user\",\"Secret\":"
        "\"helper-secret\"}'; else echo 'credentials not found in native "
        "keychain'; exit 1; fi\n";
    auto path = bin_.path() / "docker-credential-zltest";
    ASSERT_TRUE(atomic_write_file(path, script));
    ASSERT_EQ(::chmod(path.c_str(), 0755), 0);
  }

  testing::TempDir bin_;
  std::optional<testing::ScopedPathPrefix> path_;
};

TEST_F(CredentialHelperRegistryTest, CredHelpersEntryIsUsed) {
  path_.emplace(bin_.path());
  write_docker_config(R"({"credHelpers": {")" + registry_.host() + R"(": "zltest"}})");
  RegistryClient client(options());
  auto fetched = client.fetch_manifest(ref());
  ASSERT_TRUE(fetched) << fetched.error().message;
  EXPECT_EQ(registry_.seen("/token").at(0).header("Authorization"), token_auth_);
}

TEST_F(CredentialHelperRegistryTest, CredsStoreIsUsed) {
  path_.emplace(bin_.path());
  write_docker_config(R"({"credsStore": "zltest", "auths": {")" + registry_.host() + R"(": {}}})");
  RegistryClient client(options());
  auto fetched = client.fetch_manifest(ref());
  ASSERT_TRUE(fetched) << fetched.error().message;
  EXPECT_EQ(registry_.seen("/token").at(0).header("Authorization"), token_auth_);
}

TEST_F(CredentialHelperRegistryTest, MissingHelperIsAClearError) {
  write_docker_config(R"({"credsStore": "zl-not-installed"})");
  RegistryClient client(options());
  auto fetched = client.fetch_manifest(ref());
  ASSERT_FALSE(fetched);
  EXPECT_EQ(fetched.error().code, Errc::kFailedPrecondition);
  EXPECT_NE(fetched.error().message.find("docker-credential-zl-not-installed"), std::string::npos)
      << fetched.error().message;
}

TEST_F(RegistryClientTest, ServerErrorThenSuccessIsRetried) {
  std::atomic<int> calls{0};
  registry_.http().Get(
      "/v2/test/app/manifests/v1", [&](const httplib::Request&, httplib::Response& res) {
        int n = ++calls;
        if (n == 1) {
          res.status = 503;
          res.set_content("<html><h1>Service Unavailable</h1></html>", "text/html");
        } else if (n == 2) {
          res.status = 429;
        } else {
          res.set_content(kOddManifest, std::string(media_type::kOciManifest));
        }
      });
  registry_.start();
  RegistryClient client(options());
  auto fetched = client.fetch_manifest(ref());
  ASSERT_TRUE(fetched) << fetched.error().message;
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(fetched->body, kOddManifest);
}

TEST_F(RegistryClientTest, ServerErrorForeverIsUnavailableAfterMaxAttempts) {
  registry_.http().Get(
      "/v2/test/app/manifests/v1", [](const httplib::Request&, httplib::Response& res) {
        res.status = 500;
        res.set_content("<!DOCTYPE html><html><body>Internal oops</body></html>", "text/html");
      });
  registry_.start();
  RegistryClient client(options());
  auto fetched = client.fetch_manifest(ref());
  ASSERT_FALSE(fetched);
  EXPECT_EQ(fetched.error().code, Errc::kUnavailable);
  EXPECT_EQ(registry_.count("/v2/"), 3);
  EXPECT_NE(fetched.error().message.find("HTTP 500"), std::string::npos) << fetched.error().message;
  EXPECT_NE(fetched.error().message.find("Internal oops"), std::string::npos);
  EXPECT_NE(fetched.error().message.find(registry_.host()), std::string::npos);
}

TEST_F(RegistryClientTest, HtmlNotFoundPageIsAClearNotFound) {
  registry_.http().Get("/v2/test/app/manifests/v1",
                       [](const httplib::Request&, httplib::Response& res) {
                         res.status = 404;
                         res.set_content(
                             "<html>\n<head><title>404 Not Found</title></head>\n<body>\n<center>"
                             "<h1>404 Not Found</h1></center>\n<hr><center>nginx</center>\n",
                             "text/html");
                       });
  registry_.start();
  RegistryClient client(options());
  auto fetched = client.fetch_manifest(ref());
  ASSERT_FALSE(fetched);
  EXPECT_EQ(fetched.error().code, Errc::kNotFound);
  const std::string& message = fetched.error().message;
  EXPECT_NE(message.find(ref().str()), std::string::npos) << message;
  EXPECT_NE(message.find("registry " + registry_.host()), std::string::npos) << message;
  EXPECT_NE(message.find("HTTP 404"), std::string::npos) << message;
  EXPECT_NE(message.find("nginx"), std::string::npos) << message;
  EXPECT_EQ(registry_.count("/v2/"), 1);  // not retried
}

TEST_F(RegistryClientTest, DistributionErrorJsonIsQuotedAndOther4xxNotRetried) {
  registry_.http().Get(
      "/v2/test/app/manifests/v1", [](const httplib::Request&, httplib::Response& res) {
        res.status = 400;
        res.set_content(
            R"({"errors":[{"code":"TAG_INVALID","message":"manifest tag did not match URI"}]})",
            "application/json");
      });
  registry_.start();
  RegistryClient client(options());
  auto fetched = client.fetch_manifest(ref());
  ASSERT_FALSE(fetched);
  EXPECT_EQ(fetched.error().code, Errc::kInvalidArgument);
  EXPECT_NE(fetched.error().message.find("TAG_INVALID: manifest tag did not match URI"),
            std::string::npos)
      << fetched.error().message;
  EXPECT_EQ(registry_.count("/v2/"), 1);
}

TEST_F(RegistryClientTest, ConnectionRefusedIsUnavailable) {
  registry_.start();
  Reference gone = ref();
  registry_.stop();  // the port is closed now
  RegistryClient client(options());
  auto fetched = client.fetch_manifest(gone);
  ASSERT_FALSE(fetched);
  EXPECT_EQ(fetched.error().code, Errc::kUnavailable);
  EXPECT_NE(fetched.error().message.find(gone.registry), std::string::npos);
  EXPECT_NE(fetched.error().message.find("3 attempts"), std::string::npos)
      << fetched.error().message;
}

// --- blobs ---

class BlobTest : public RegistryClientTest {
 protected:
  std::string blob_ = blob_bytes(300 * 1024 + 7);
  Descriptor desc_ = descriptor_for(blob_);
  std::string blob_path() const { return "/v2/test/app/blobs/" + desc_.digest.str(); }
};

TEST_F(BlobTest, StreamsExactBytesAndCountsThem) {
  registry_.http().Get(blob_path(), [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(blob_, "application/octet-stream");
  });
  registry_.start();
  RegistryClient client(options());
  StringBlobWriter out;
  std::int64_t reported = 0;
  auto ok = client.fetch_blob(ref(), desc_, out, [&](std::int64_t n) { reported += n; });
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(out.data(), blob_);
  EXPECT_EQ(sha256_of(out.data()), desc_.digest);
  EXPECT_EQ(reported, desc_.size);
  EXPECT_EQ(client.bytes_received(), desc_.size);
}

TEST_F(BlobTest, ContentLengthShorterOrLongerThanDescriptorIsAnError) {
  registry_.http().Get(blob_path(), [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(blob_.substr(0, blob_.size() - 10), "application/octet-stream");
  });
  std::string longer = blob_ + "0123456789";
  Descriptor long_desc = desc_;
  long_desc.digest = sha256_of("long");  // a different path for the longer body
  registry_.http().Get("/v2/test/app/blobs/" + long_desc.digest.str(),
                       [&](const httplib::Request&, httplib::Response& res) {
                         res.set_content(longer, "application/octet-stream");
                       });
  Descriptor chunked_desc = desc_;
  chunked_desc.digest = sha256_of("chunked");
  registry_.http().Get(
      "/v2/test/app/blobs/" + chunked_desc.digest.str(),
      [&](const httplib::Request&, httplib::Response& res) {
        res.set_chunked_content_provider("application/octet-stream", [&](size_t offset,
                                                                         httplib::DataSink& sink) {
          if (offset >= longer.size()) {
            sink.done();
            return true;
          }
          return sink.write(longer.data() + offset, std::min<size_t>(8192, longer.size() - offset));
        });
      });
  registry_.start();
  RegistryClient client(options());
  for (const Descriptor* d : {&desc_, &long_desc, &chunked_desc}) {
    StringBlobWriter out;
    auto status = client.fetch_blob(ref(), *d, out);
    ASSERT_FALSE(status) << d->digest.str();
    EXPECT_EQ(status.error().code, Errc::kInvalidArgument) << status.error().message;
    EXPECT_NE(status.error().message.find(std::to_string(desc_.size)), std::string::npos)
        << status.error().message;
    EXPECT_LE(out.written(), desc_.size);
  }
  // Bad sizes are the registry's fault, not the network's: no retries.
  EXPECT_EQ(registry_.count("/v2/"), 3);
}

TEST_F(BlobTest, WrongDigestBytesReachTheWriterForItsCheck) {
  std::string other = blob_;
  other[1000] ^= 0x5a;  // same size, other content
  registry_.http().Get(blob_path(), [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(other, "application/octet-stream");
  });
  registry_.start();
  RegistryClient client(options());
  StringBlobWriter out;
  // fetch_blob checks sizes only; ContentStore::Ingest::commit() rejects the digest mismatch.
  ASSERT_TRUE(client.fetch_blob(ref(), desc_, out));
  EXPECT_EQ(out.data(), other);
  EXPECT_NE(sha256_of(out.data()), desc_.digest);
}

TEST_F(BlobTest, DroppedConnectionResumesWithRange) {
  constexpr std::size_t kDropAfter = 100000;
  std::atomic<int> calls{0};
  registry_.http().Get(blob_path(), [&](const httplib::Request&, httplib::Response& res) {
    bool drop = ++calls == 1;
    res.set_header("Accept-Ranges", "bytes");
    // httplib answers a Range request with 206 and the requested slice of this provider.
    res.set_content_provider(blob_.size(), "application/octet-stream",
                             [&, drop](size_t offset, size_t length, httplib::DataSink& sink) {
                               if (drop) {
                                 sink.write(blob_.data() + offset, kDropAfter);
                                 return false;  // closes the connection mid-body
                               }
                               return sink.write(blob_.data() + offset, length);
                             });
  });
  registry_.start();
  RegistryClient client(options());
  StringBlobWriter out;
  auto ok = client.fetch_blob(ref(), desc_, out);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(out.data(), blob_);
  auto seen = registry_.seen(blob_path());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_FALSE(seen[0].has_header("Range"));
  EXPECT_EQ(seen[1].header("Range"), "bytes=" + std::to_string(kDropAfter) + "-");
  EXPECT_EQ(client.bytes_received(), desc_.size);  // nothing fetched twice
}

TEST_F(BlobTest, DroppedConnectionWithoutRangeSupportRestarts) {
  constexpr std::size_t kDropAfter = 50000;
  std::atomic<int> calls{0};
  registry_.http().Get(blob_path(), [&](const httplib::Request&, httplib::Response& res) {
    bool drop = ++calls <= 2;
    // No Accept-Ranges, and a chunked body (httplib does not apply ranges to those).
    res.set_chunked_content_provider(
        "application/octet-stream", [&, drop](size_t offset, httplib::DataSink& sink) {
          if (drop && offset >= kDropAfter) return false;
          if (offset >= blob_.size()) {
            sink.done();
            return true;
          }
          return sink.write(blob_.data() + offset,
                            std::min<size_t>(kDropAfter, blob_.size() - offset));
        });
  });
  registry_.start();
  RegistryClient client(options());
  StringBlobWriter out;
  auto ok = client.fetch_blob(ref(), desc_, out);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(out.data(), blob_);
  auto seen = registry_.seen(blob_path());
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& r : seen) EXPECT_FALSE(r.has_header("Range"));
}

TEST_F(BlobTest, RangeIgnoredByServerResetsTheWriter) {
  constexpr std::size_t kDropAfter = 70000;
  std::atomic<int> calls{0};
  registry_.http().Get(blob_path(), [&](const httplib::Request&, httplib::Response& res) {
    bool drop = ++calls == 1;
    // Claims range support but answers 200 with the whole (chunked) body anyway.
    res.status = 200;
    res.set_header("Accept-Ranges", "bytes");
    res.set_chunked_content_provider(
        "application/octet-stream", [&, drop](size_t offset, httplib::DataSink& sink) {
          if (drop && offset >= kDropAfter) return false;
          if (offset >= blob_.size()) {
            sink.done();
            return true;
          }
          return sink.write(blob_.data() + offset,
                            std::min<size_t>(kDropAfter, blob_.size() - offset));
        });
  });
  registry_.start();
  RegistryClient client(options());
  StringBlobWriter out;
  auto ok = client.fetch_blob(ref(), desc_, out);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(out.data(), blob_);
  auto seen = registry_.seen(blob_path());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].header("Range"), "bytes=" + std::to_string(kDropAfter) + "-");
}

TEST_F(BlobTest, BlobNotFoundNamesDigestAndRegistry) {
  registry_.http().Get(blob_path(), [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content(R"({"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]})",
                    "application/json");
  });
  registry_.start();
  RegistryClient client(options());
  StringBlobWriter out;
  auto status = client.fetch_blob(ref(), desc_, out);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::kNotFound);
  EXPECT_NE(status.error().message.find(desc_.digest.str()), std::string::npos);
  EXPECT_NE(status.error().message.find(registry_.host()), std::string::npos);
  EXPECT_NE(status.error().message.find("BLOB_UNKNOWN"), std::string::npos);
  EXPECT_EQ(out.written(), 0);
}

TEST_F(BlobTest, RedirectIsFollowedWithoutLeakingAuthorization) {
  const std::string expected = basic_authorization("dave", "pw");
  FakeServer storage;  // another port: another origin
  storage.http().Get("/storage/blob", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(blob_, "application/octet-stream");
  });
  storage.start();
  auto require_auth = [expected](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") == expected) return true;
    res.status = 401;
    res.set_header("WWW-Authenticate", R"(Basic realm="r")");
    return false;
  };
  registry_.http().Get(blob_path(), [&](const httplib::Request& req, httplib::Response& res) {
    if (!require_auth(req, res)) return;
    res.set_redirect(storage.url() + "/storage/blob?sig=abc", 307);
  });
  // A same-origin redirect keeps the Authorization header.
  Descriptor local = desc_;
  local.digest = sha256_of("local redirect");
  registry_.http().Get("/v2/test/app/blobs/" + local.digest.str(),
                       [&](const httplib::Request& req, httplib::Response& res) {
                         if (!require_auth(req, res)) return;
                         res.set_redirect("/v2/internal/blob", 302);
                       });
  registry_.http().Get("/v2/internal/blob",
                       [&](const httplib::Request& req, httplib::Response& res) {
                         if (!require_auth(req, res)) return;
                         res.set_content(blob_, "application/octet-stream");
                       });
  registry_.start();
  write_docker_config(R"({"auths": {")" + registry_.host() +
                      R"(": {"username": "dave", "password": "pw"}}})");
  RegistryClient client(options());

  StringBlobWriter out;
  auto ok = client.fetch_blob(ref(), desc_, out);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(out.data(), blob_);
  auto at_storage = storage.seen("/storage/");
  ASSERT_EQ(at_storage.size(), 1u);
  EXPECT_FALSE(at_storage[0].has_header("Authorization"));
  EXPECT_EQ(at_storage[0].params.find("sig")->second, "abc");
  EXPECT_EQ(registry_.seen(blob_path()).back().header("Authorization"), expected);

  StringBlobWriter local_out;
  auto local_ok = client.fetch_blob(ref(), local, local_out);
  ASSERT_TRUE(local_ok) << local_ok.error().message;
  EXPECT_EQ(local_out.data(), blob_);
  EXPECT_EQ(registry_.seen("/v2/internal/").back().header("Authorization"), expected);
}

TEST_F(BlobTest, ConcurrentFetchesShareOneClient) {
  std::vector<std::string> blobs;
  std::vector<Descriptor> descs;
  for (unsigned i = 0; i < 6; ++i) {
    blobs.push_back(blob_bytes(100000 + i * 4099, i + 7));
    descs.push_back(descriptor_for(blobs.back()));
  }
  registry_.http().Get(R"(/v2/test/app/blobs/(sha256:[0-9a-f]+))",
                       [&](const httplib::Request& req, httplib::Response& res) {
                         for (std::size_t i = 0; i < descs.size(); ++i) {
                           if (descs[i].digest.str() == req.matches[1].str()) {
                             res.set_content(blobs[i], "application/octet-stream");
                             return;
                           }
                         }
                         res.status = 404;
                       });
  registry_.start();
  RegistryClient client(options());
  std::vector<StringBlobWriter> outs(descs.size() * 3);
  std::vector<std::string> errors(outs.size());
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = t; i < outs.size(); i += 4) {
        auto ok = client.fetch_blob(ref(), descs[i % descs.size()], outs[i]);
        if (!ok) errors[i] = ok.error().message;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::int64_t total = 0;
  for (std::size_t i = 0; i < outs.size(); ++i) {
    EXPECT_EQ(errors[i], "");
    EXPECT_EQ(sha256_of(outs[i].data()), descs[i % descs.size()].digest) << i;
    total += descs[i % descs.size()].size;
  }
  EXPECT_EQ(client.bytes_received(), total);
}

// --- TLS with a certs.d directory ---

class TlsRegistryTest : public RegistryClientTest {
 protected:
  void SetUp() override {
    pki_ = dir_.path() / "pki";
    ASSERT_TRUE(make_dirs(pki_));
    ASSERT_TRUE(atomic_write_file(pki_ / "server.ext",
                                  "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                  "extendedKeyUsage=serverAuth\n"));
    ASSERT_TRUE(atomic_write_file(pki_ / "client.ext",
                                  "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"));
    auto p = [&](const std::string& name) { return (pki_ / name).string(); };
    const std::vector<std::string> ec_key = {"-newkey", "ec", "-pkeyopt",
                                             "ec_paramgen_curve:prime256v1", "-nodes"};
    run(ec_key, {"openssl", "req", "-x509", "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days",
                 "2", "-subj", "/CN=zlayer test CA"});
    for (std::string who : {"server", "client"}) {
      run(ec_key, {"openssl", "req", "-keyout", p(who + ".key"), "-out", p(who + ".csr"), "-subj",
                   "/CN=" + who});
      run({}, {"openssl", "x509", "-req", "-in", p(who + ".csr"), "-CA", p("ca.crt"), "-CAkey",
               p("ca.key"), "-set_serial", who == "server" ? "2" : "3", "-days", "2", "-out",
               p(who + ".crt"), "-extfile", p(who + ".ext")});
    }
  }

  // Runs an openssl command (`extra` appended) and expects success.
  static void run(const std::vector<std::string>& extra, std::vector<std::string> argv) {
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto result = run_subprocess(argv);
    ASSERT_TRUE(result) << result.error().message;
    ASSERT_EQ(result->exit_code, 0) << argv[1] << ": " << result->err;
  }

  void start_tls(bool require_client_cert) {
    std::unique_ptr<httplib::Server> server;
    if (require_client_cert) {
      server = std::make_unique<httplib::SSLServer>(
          (pki_ / "server.crt").c_str(), (pki_ / "server.key").c_str(), (pki_ / "ca.crt").c_str());
    } else {
      server = std::make_unique<httplib::SSLServer>((pki_ / "server.crt").c_str(),
                                                    (pki_ / "server.key").c_str());
    }
    ASSERT_TRUE(server->is_valid());
    tls_.emplace(std::move(server));
    tls_->http().Get("/v2/test/app/manifests/v1",
                     [](const httplib::Request&, httplib::Response& res) {
                       res.set_content(kOddManifest, std::string(media_type::kOciManifest));
                     });
    tls_->start();
  }

  RegistryOptions tls_options() {
    RegistryOptions o = options();
    o.force_https_for_loopback = true;
    return o;
  }

  Reference tls_ref() const { return Reference{tls_->host(), "test/app", "v1", std::nullopt}; }

  void install(const char* from, const std::string& to) {
    auto dir = dir_.path() / "certs.d" / tls_->host();
    ASSERT_TRUE(make_dirs(dir));
    auto text = read_file(pki_ / from);
    ASSERT_TRUE(text);
    ASSERT_TRUE(atomic_write_file(dir / to, *text));
  }

  std::filesystem::path pki_;
  std::optional<FakeServer> tls_;
};

TEST_F(TlsRegistryTest, CaFromCertsDirIsTrusted) {
  start_tls(/*require_client_cert=*/false);
  install("ca.crt", "ca.crt");
  RegistryClient client(tls_options());
  auto fetched = client.fetch_manifest(tls_ref());
  ASSERT_TRUE(fetched) << fetched.error().message;
  EXPECT_EQ(fetched->body, kOddManifest);
}

TEST_F(TlsRegistryTest, UnknownCaIsACertificateErrorNamingTheRegistry) {
  start_tls(/*require_client_cert=*/false);
  RegistryClient client(tls_options());
  auto fetched = client.fetch_manifest(tls_ref());
  ASSERT_FALSE(fetched);
  EXPECT_EQ(fetched.error().code, Errc::kFailedPrecondition);
  const std::string& message = fetched.error().message;
  EXPECT_NE(message.find(tls_->host()), std::string::npos) << message;
  EXPECT_NE(message.find("certificate"), std::string::npos) << message;
  EXPECT_NE(message.find("certs.d/" + tls_->host() + "/ca.crt"), std::string::npos) << message;
  EXPECT_EQ(tls_->count("/v2/"), 0);
}

TEST_F(TlsRegistryTest, ClientCertificatePairFromCertsDir) {
  start_tls(/*require_client_cert=*/true);
  install("ca.crt", "ca.crt");
  {
    // Without a client certificate the handshake fails.
    RegistryClient client(tls_options());
    EXPECT_FALSE(client.fetch_manifest(tls_ref()));
  }
  install("client.crt", "client.cert");
  install("client.key", "client.key");
  RegistryClient client(tls_options());
  auto fetched = client.fetch_manifest(tls_ref());
  ASSERT_TRUE(fetched) << fetched.error().message;
  EXPECT_EQ(fetched->body, kOddManifest);
}

TEST_F(TlsRegistryTest, KeyWithoutCertificateIsRejected) {
  start_tls(/*require_client_cert=*/false);
  install("ca.crt", "ca.crt");
  install("client.key", "client.key");
  RegistryClient client(tls_options());
  auto fetched = client.fetch_manifest(tls_ref());
  ASSERT_FALSE(fetched);
  EXPECT_NE(fetched.error().message.find("client.cert"), std::string::npos)
      << fetched.error().message;
}

}  // namespace
}  // namespace zlayer::image
