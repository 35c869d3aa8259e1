#include "image/registry_auth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>

#include "core/fs.h"
#include "support/scoped_env.h"
#include "support/temp_dir.h"

namespace zlayer::image {
namespace {

using namespace std::chrono_literals;

void write_script(const std::filesystem::path& path, const std::string& text) {
  ASSERT_TRUE(atomic_write_file(path, text));
  ASSERT_EQ(::chmod(path.c_str(), 0755), 0);
}

TEST(WwwAuthenticate, BearerWithQuotedParams) {
  auto parsed = parse_www_authenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
      R"(scope="repository:library/busybox:pull")");
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0].scheme, "bearer");
  EXPECT_EQ((*parsed)[0].param("realm"), "https://auth.docker.io/token");
  EXPECT_EQ((*parsed)[0].param("service"), "registry.docker.io");
  EXPECT_EQ((*parsed)[0].param("SCOPE"), "repository:library/busybox:pull");
}

TEST(WwwAuthenticate, QuotedValuesKeepCommasAndEscapes) {
  auto parsed = parse_www_authenticate(
      R"(Bearer realm="https://a/token" , scope="repository:x/y:pull,push" ,)"
      R"( error="insufficient_scope", note="say \"hi\", ok")");
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0].param("scope"), "repository:x/y:pull,push");
  EXPECT_EQ((*parsed)[0].param("error"), "insufficient_scope");
  EXPECT_EQ((*parsed)[0].param("note"), R"(say "hi", ok)");
}

TEST(WwwAuthenticate, SeveralChallengesAndToken68) {
  auto parsed = parse_www_authenticate(
      R"(Basic realm="Registry Realm", BEARER realm=https://t/token,service=reg, Negotiate abc+/9==)");
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 3u);
  EXPECT_EQ((*parsed)[0].scheme, "basic");
  EXPECT_EQ((*parsed)[0].param("realm"), "Registry Realm");
  EXPECT_EQ((*parsed)[1].scheme, "bearer");
  EXPECT_EQ((*parsed)[1].param("realm"), "https://t/token");  // unquoted value with ':' and '/'
  EXPECT_EQ((*parsed)[1].param("service"), "reg");
  EXPECT_EQ((*parsed)[2].scheme, "negotiate");
  EXPECT_EQ((*parsed)[2].token68, "abc+/9==");
  EXPECT_TRUE((*parsed)[2].params.empty());
}

TEST(WwwAuthenticate, SchemeWithoutParams) {
  auto parsed = parse_www_authenticate("Basic");
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0].scheme, "basic");
}

TEST(WwwAuthenticate, RejectsMalformed) {
  EXPECT_EQ(parse_www_authenticate("").error().code, Errc::kInvalidArgument);
  EXPECT_EQ(parse_www_authenticate(R"(Bearer realm="unterminated)").error().code,
            Errc::kInvalidArgument);
  EXPECT_EQ(parse_www_authenticate(R"(realm="x")").error().code, Errc::kInvalidArgument);
  auto bad = parse_www_authenticate(R"(Bearer ="x")");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("WWW-Authenticate"), std::string::npos);
}

TEST(Base64, RoundTripsAllLengths) {
  for (std::string text : {"", "a", "ab", "abc", "abcd", "user:pa:ss", "\xff\x00\x10"}) {
    auto decoded = base64_decode(base64_encode(text));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, text);
  }
  EXPECT_EQ(base64_encode("user:pass"), "dXNlcjpwYXNz");
  EXPECT_EQ(basic_authorization("user", "pass"), "Basic dXNlcjpwYXNz");
  EXPECT_FALSE(base64_decode("not base64!"));
}

TEST(DockerConfig, ParsesAuthsHelpersAndStore) {
  auto config = parse_docker_config(R"({
      "auths": {
        "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldDp3aXRoOmNvbG9ucw=="},
        "127.0.0.1:5000": {"username": "local", "password": "pw"},
        "https://ghcr.io": {"auth": "", "identitytoken": "refresh-me"}
      },
      "credHelpers": {"gcr.io": "gcloud"},
      "credsStore": "desktop"
    })",
                                    "/x/config.json");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->auths.at("https://index.docker.io/v1/").username, "hub");
  // The password keeps its colons: only the first one separates.
  EXPECT_EQ(config->auths.at("https://index.docker.io/v1/").password, "secret:with:colons");
  EXPECT_EQ(config->auths.at("127.0.0.1:5000").username, "local");
  EXPECT_EQ(config->auths.at("https://ghcr.io").identity_token, "refresh-me");
  EXPECT_EQ(config->cred_helpers.at("gcr.io"), "gcloud");
  EXPECT_EQ(config->creds_store, "desktop");
}

TEST(DockerConfig, RejectsBadAuthWithFileAndKey) {
  auto bad_base64 = parse_docker_config(R"({"auths": {"r.io": {"auth": "@@@"}}})", "/c.json");
  ASSERT_FALSE(bad_base64);
  EXPECT_EQ(bad_base64.error().code, Errc::kInvalidArgument);
  EXPECT_NE(bad_base64.error().message.find("/c.json"), std::string::npos);
  EXPECT_NE(bad_base64.error().message.find("r.io"), std::string::npos);

  auto no_colon = parse_docker_config(
      R"({"auths": {"r.io": {"auth": ")" + base64_encode("nocolon") + R"("}}})", "/c.json");
  ASSERT_FALSE(no_colon);
  EXPECT_NE(no_colon.error().message.find("username:password"), std::string::npos);

  EXPECT_FALSE(parse_docker_config("[1,2]", "/c.json"));
  EXPECT_FALSE(parse_docker_config("{not json", "/c.json"));
  EXPECT_FALSE(parse_docker_config(R"({"credHelpers": {"a": 1}})", "/c.json"));
}

TEST(DockerConfig, MissingFileIsEmpty) {
  testing::TempDir dir;
  auto config = load_docker_config(dir.path() / "nope" / "config.json");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->auths.empty());
  EXPECT_TRUE(config->creds_store.empty());
}

TEST(DockerConfig, RegistryKeyForms) {
  EXPECT_EQ(registry_key_host("https://index.docker.io/v1/"), "docker.io");
  EXPECT_EQ(registry_key_host("index.docker.io"), "docker.io");
  EXPECT_EQ(registry_key_host("registry-1.docker.io"), "docker.io");
  EXPECT_EQ(registry_key_host("docker.io"), "docker.io");
  EXPECT_EQ(registry_key_host("https://ghcr.io/v2/"), "ghcr.io");
  EXPECT_EQ(registry_key_host("http://127.0.0.1:5000"), "127.0.0.1:5000");
  EXPECT_EQ(credential_server_url("docker.io"), "https://index.docker.io/v1/");
  EXPECT_EQ(credential_server_url("127.0.0.1:5000"), "127.0.0.1:5000");
}

TEST(DockerConfig, ResolvesAuthsByAnyKeyForm) {
  for (std::string key :
       {"https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"}) {
    DockerConfig config;
    config.path = "/c.json";
    config.auths[key] = {"u", "p", ""};
    auto creds = resolve_credentials(config, "docker.io");
    ASSERT_TRUE(creds) << key;
    EXPECT_EQ(creds->username, "u") << key;
    EXPECT_EQ(creds->password, "p") << key;
    EXPECT_EQ(creds->source, "/c.json");
  }
  DockerConfig config;
  config.auths["https://ghcr.io"] = {"g", "h", ""};
  config.auths["ghcr.io.evil"] = {"x", "y", ""};
  EXPECT_EQ(resolve_credentials(config, "ghcr.io")->username, "g");
  EXPECT_TRUE(resolve_credentials(config, "quay.io")->anonymous());
  // The exact key wins over a URL form of the same host.
  config.auths["ghcr.io"] = {"exact", "e", ""};
  EXPECT_EQ(resolve_credentials(config, "ghcr.io")->username, "exact");
}

class CredentialHelperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(make_dirs(bin_.path()));
    // Answers for "reg.test" with the server URL it read echoed into the username, says "not
    // found" for "absent.test", an identity token for "token.test", garbage for "junk.test".
    write_script(bin_.path() / "docker-credential-zltest", R"(#!/bin/sh
[ "$1" = get ] || { echo "bad verb $1" >&2; exit 2; }
read -r server
case "$server" in
  reg.test) printf '{"ServerURL":"%s","Username":"user-%s","Secret":"s3cret"}\n' "$server" "$server" ;;
  https://index.docker.io/v1/) printf '{"Username":"hubuser","Secret":"hubpw"}' ;;
  token.test) printf '{"Username":"<token>","Secret":"refresh-token"}' ;;
  junk.test) echo '<html>oops</html>' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
)");
    write_script(bin_.path() / "docker-credential-broken",
                 "#!/bin/sh\necho 'dbus error' >&2\nexit 3\n");
  }

  testing::TempDir bin_;
  testing::ScopedPathPrefix path_{bin_.path()};
};

TEST_F(CredentialHelperTest, ReadsUsernameAndSecretForServerUrlOnStdin) {
  auto creds = run_credential_helper("zltest", "reg.test");
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_EQ(creds->username, "user-reg.test");
  EXPECT_EQ(creds->password, "s3cret");
  EXPECT_EQ(creds->source, "docker-credential-zltest");
}

TEST_F(CredentialHelperTest, TokenUsernameMeansIdentityToken) {
  auto creds = run_credential_helper("zltest", "token.test");
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_TRUE(creds->username.empty());
  EXPECT_EQ(creds->identity_token, "refresh-token");
}

TEST_F(CredentialHelperTest, NotFoundMeansAnonymous) {
  auto creds = run_credential_helper("zltest", "absent.test");
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_TRUE(creds->anonymous());
}

TEST_F(CredentialHelperTest, FailuresNameTheHelper) {
  auto junk = run_credential_helper("zltest", "junk.test");
  ASSERT_FALSE(junk);
  EXPECT_EQ(junk.error().code, Errc::kFailedPrecondition);
  EXPECT_NE(junk.error().message.find("docker-credential-zltest"), std::string::npos);

  auto broken = run_credential_helper("broken", "reg.test");
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("dbus error"), std::string::npos);

  auto missing = run_credential_helper("zl-no-such-helper", "reg.test");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kFailedPrecondition);
  EXPECT_NE(missing.error().message.find("docker-credential-zl-no-such-helper"), std::string::npos);
}

TEST_F(CredentialHelperTest, CredHelpersThenCredsStoreThenAuths) {
  DockerConfig config;
  config.path = "/c.json";
  config.auths["reg.test"] = {"file-user", "file-pw", ""};
  config.auths["other.test"] = {"other-user", "other-pw", ""};
  // auths only.
  EXPECT_EQ(resolve_credentials(config, "reg.test")->username, "file-user");
  // credsStore overrides auths, as Docker's native store does; "not found" → anonymous.
  config.creds_store = "zltest";
  EXPECT_EQ(resolve_credentials(config, "reg.test")->username, "user-reg.test");
  EXPECT_TRUE(resolve_credentials(config, "other.test")->anonymous());
  // docker.io goes to the helper as Docker's server URL.
  EXPECT_EQ(resolve_credentials(config, "docker.io")->username, "hubuser");
  // credHelpers wins over credsStore for its registry only.
  config.cred_helpers["reg.test"] = "broken";
  EXPECT_FALSE(resolve_credentials(config, "reg.test"));
  EXPECT_EQ(resolve_credentials(config, "docker.io")->username, "hubuser");
}

TEST(TokenResponse, TokenOrAccessTokenAndExpiry) {
  auto a =
      parse_token_response(R"({"token":"t1","expires_in":300,"issued_at":"2024-01-01T00:00:00Z"})");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->token, "t1");
  EXPECT_EQ(a->expires_in, 300s);
  auto b = parse_token_response(R"({"access_token":"t2"})");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->token, "t2");
  EXPECT_EQ(b->expires_in, 60s);  // spec default
  auto c = parse_token_response(R"({"token":"t3","expires_in":5})");
  EXPECT_EQ(c->expires_in, 60s);  // spec minimum
  auto html = parse_token_response("<html><body>502 Bad Gateway</body></html>");
  ASSERT_FALSE(html);
  EXPECT_NE(html.error().message.find("502 Bad Gateway"), std::string::npos);
  EXPECT_FALSE(parse_token_response(R"({"expires_in":60})"));
}

TEST(TokenCache, ExpiresAndInvalidatesOnlyTheSameValue) {
  TokenCache cache;
  auto now = TokenCache::Clock::now();
  EXPECT_FALSE(cache.get("r", "s", now));
  cache.put("r", "s", "Bearer a", now + 60s);
  EXPECT_EQ(cache.get("r", "s", now), "Bearer a");
  EXPECT_FALSE(cache.get("r", "other", now));
  EXPECT_FALSE(cache.get("other", "s", now));
  // Within 5 s of expiry the token is treated as gone.
  EXPECT_FALSE(cache.get("r", "s", now + 56s));
  // A stale invalidate (another thread already refreshed) keeps the new value.
  cache.put("r", "s", "Bearer b", now + 60s);
  cache.invalidate("r", "s", "Bearer a");
  EXPECT_EQ(cache.get("r", "s", now), "Bearer b");
  cache.invalidate("r", "s", "Bearer b");
  EXPECT_FALSE(cache.get("r", "s", now));
}

}  // namespace
}  // namespace zlayer::image
