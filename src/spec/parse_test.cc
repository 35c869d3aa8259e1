#include "spec/parse.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "core/fs.h"

namespace zlayer::spec {
namespace {

const std::filesystem::path kTestData = ZLAYER_SPEC_TESTDATA;

std::string read_text(const std::filesystem::path& path) {
  auto text = read_file(path);
  EXPECT_TRUE(text) << path;
  return text ? *text : std::string();
}

std::string joined(const std::vector<Diagnostic>& list) {
  std::string out;
  for (const auto& d : list) out += d.str() + "\n";
  return out;
}

// Every upstream example shape (spec-schema.md §3.14) and our every-field file parse, and
// survive parse → emit → parse unchanged.
TEST(SpecParse, ValidFilesRoundTrip) {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kTestData / "valid")) {
    SCOPED_TRACE(entry.path().string());
    auto report = check_spec(read_text(entry.path()));
    ASSERT_TRUE(report.ok()) << joined(report.errors);
    std::string yaml = emit_spec(*report.spec);
    auto again = check_spec(yaml);
    ASSERT_TRUE(again.ok()) << joined(again.errors) << yaml;
    EXPECT_EQ(*again.spec, *report.spec) << yaml;
    EXPECT_EQ(emit_spec(*again.spec), yaml);
    ++files;
  }
  EXPECT_EQ(files, 4);
}

TEST(SpecParse, FullServiceValues) {
  auto loaded = load_spec_file(kTestData / "valid/full-service.yaml");
  ASSERT_TRUE(loaded) << loaded.error().message;
  const DeploymentSpec& spec = loaded->spec;
  EXPECT_EQ(spec.deployment, "production-stack");
  const ServiceSpec& api = spec.services.at("api");
  EXPECT_EQ(api.image.pull_policy, PullPolicy::kAlways);
  EXPECT_EQ(api.resources.cpu, 2.0);
  EXPECT_EQ(api.resources.memory, "512Mi");
  EXPECT_EQ(api.env.at("DATABASE_URL"), "$E:DATABASE_URL");
  EXPECT_EQ(api.scale.mode, ScaleMode::kAdaptive);
  EXPECT_EQ(api.scale.min, 2u);
  EXPECT_EQ(api.scale.cooldown, std::chrono::seconds(15));
  EXPECT_EQ(api.scale.targets.rps, 800u);
  ASSERT_EQ(api.depends.size(), 1u);
  EXPECT_EQ(api.depends[0].timeout, std::chrono::seconds(300));
  EXPECT_EQ(api.health.start_grace, std::chrono::seconds(30));
  const auto& http = std::get<HttpCheck>(api.health.check);
  EXPECT_EQ(http.url, "http://localhost:3000/health");
  ASSERT_EQ(api.init.steps.size(), 1u);
  EXPECT_EQ(api.init.steps[0].with, (nlohmann::json{{"host", "database.service"}, {"port", 5432}}));
  EXPECT_EQ(api.errors.on_init_failure, InitFailureAction::kBackoff);
  EXPECT_EQ(api.initial_replicas(), 2u);
  EXPECT_EQ(spec.services.at("database").initial_replicas(), 1u);
  EXPECT_EQ(start_order(spec).value(), (std::vector<std::string>{"database", "api"}));
  EXPECT_TRUE(loaded->warnings.size() == 1) << joined(loaded->warnings);  // scale.targets
}

TEST(SpecParse, DefaultsAndLegacyForms) {
  auto loaded = parse_spec(R"(
version: v1
deployment: defaults
services:
  web:
    image: { name: web }
    host_network: true
    cap_add: [NET_ADMIN]
    resources: { cpu: 250m }
)");
  ASSERT_TRUE(loaded) << loaded.error().message;
  const ServiceSpec& web = loaded->spec.services.at("web");
  EXPECT_EQ(web.network_mode.kind, NetworkModeKind::kHost);
  EXPECT_EQ(web.capabilities, std::vector<std::string>{"NET_ADMIN"});
  EXPECT_EQ(web.resources.cpu, 0.25);
  EXPECT_EQ(web.scale, ScaleSpec{});
  EXPECT_EQ(web.scale.initial_replicas(), 1u);
  EXPECT_EQ(web.health.retries, 3u);
  EXPECT_EQ(web.image.pull_policy, PullPolicy::kIfNotPresent);
  EXPECT_TRUE(std::holds_alternative<TcpCheck>(web.health.check));
  EXPECT_EQ(loaded->spec.api, ApiSpec{});
}

TEST(SpecParse, EnvScalarsStayText) {
  auto loaded = parse_spec(R"(
version: v1
deployment: env-text
services:
  web:
    image: { name: web }
    env: { PORT: 8080, ON: true, EMPTY: "", NUL: "null", OCT: "0o17" }
)");
  ASSERT_TRUE(loaded) << loaded.error().message;
  const auto& env = loaded->spec.services.at("web").env;
  EXPECT_EQ(env.at("PORT"), "8080");
  EXPECT_EQ(env.at("ON"), "true");
  EXPECT_EQ(env.at("EMPTY"), "");
  auto again = parse_spec(emit_spec(loaded->spec));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->spec, loaded->spec);
}

TEST(SpecParse, ClusterFieldsWarnOncePerField) {
  auto report = check_spec(read_text(kTestData / "valid/everything.yaml"));
  ASSERT_TRUE(report.ok()) << joined(report.errors);
  std::string warnings = joined(report.warnings);
  EXPECT_NE(warnings.find("services.web.node_selector: only meaningful in a cluster"),
            std::string::npos)
      << warnings;
  EXPECT_NE(warnings.find("services.web.resources.gpu: GPUs are not supported"), std::string::npos);
  EXPECT_NE(warnings.find("services.web.isolation: Windows only"), std::string::npos);
  EXPECT_NE(warnings.find("tunnels.ssh: only meaningful in a cluster"), std::string::npos);
  std::set<std::string> unique;
  for (const auto& w : report.warnings) {
    EXPECT_TRUE(unique.insert(w.path).second) << w.str();
  }
}

TEST(SpecParse, FormatDuration) {
  using namespace std::chrono;
  EXPECT_EQ(format_duration(seconds(0)), "0s");
  EXPECT_EQ(format_duration(seconds(30)), "30s");
  EXPECT_EQ(format_duration(minutes(90)), "1h30m");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1.5s");
  EXPECT_EQ(format_duration(milliseconds(500)), "500ms");
  EXPECT_EQ(format_duration(microseconds(3)), "3us");
  EXPECT_EQ(format_duration(hours(1) + seconds(1)), "1h1s");
}

// One file per error class in testdata/errors; the expected messages, exactly, are beside it
// (NAME.txt). ZLAYER_UPDATE_GOLDEN=1 rewrites them (review the diff).
TEST(SpecParse, GoldenErrors) {
  bool update = std::getenv("ZLAYER_UPDATE_GOLDEN") != nullptr;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kTestData / "errors")) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().filename().string());
    auto report = check_spec(read_text(entry.path()));
    EXPECT_FALSE(report.ok());
    EXPECT_FALSE(report.spec.has_value());
    std::string actual = joined(report.errors);
    auto golden = std::filesystem::path(entry.path()).replace_extension(".txt");
    if (update) {
      ASSERT_TRUE(atomic_write_file(golden, actual, 0644));
    }
    EXPECT_EQ(actual, read_text(golden));
    ++files;
  }
  EXPECT_GE(files, 14);
}

TEST(SpecParse, ParseSpecJoinsEveryProblem) {
  auto result = parse_spec("version: v2\ndeployment: x\n", "demo.yaml");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(result.error().message,
            "demo.yaml: invalid deployment spec (2 problems):\n"
            "version: expected \"v1\", got \"v2\"\n"
            "deployment: \"x\" is not a deployment name (3-63 characters: letters, digits and "
            "'-', starting with a letter or digit)");
}

TEST(SpecParse, StartOrderNamesCycle) {
  DeploymentSpec spec;
  spec.deployment = "cycle";
  spec.services["a"].depends.push_back(DependsSpec{.service = "b"});
  spec.services["b"].depends.push_back(DependsSpec{.service = "a"});
  auto order = start_order(spec);
  ASSERT_FALSE(order);
  EXPECT_EQ(order.error().message, "services.a.depends: dependency cycle a -> b -> a");
}

}  // namespace
}  // namespace zlayer::spec
