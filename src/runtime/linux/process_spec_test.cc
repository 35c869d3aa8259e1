#include "runtime/linux/process_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace zlayer::runtime::linux {
namespace {

using Argv = std::vector<std::string>;
using ::testing::ElementsAre;

struct MergeCase {
  std::string name;
  Argv image_entrypoint;
  Argv image_cmd;
  std::optional<Argv> entrypoint;
  std::optional<Argv> args;
  std::optional<Argv> want;  // nullopt: kInvalidArgument
};

void PrintTo(const MergeCase& c, std::ostream* os) { *os << c.name; }

class DockerArgvMerge : public ::testing::TestWithParam<MergeCase> {};

TEST_P(DockerArgvMerge, MatchesDocker) {
  const auto& c = GetParam();
  image::ImageConfig image;
  image.entrypoint = c.image_entrypoint;
  image.cmd = c.image_cmd;
  ProcessOverrides overrides;
  overrides.entrypoint = c.entrypoint;
  overrides.args = c.args;
  auto merged = merge_process(image, "example.com/app:1", overrides);
  if (!c.want) {
    ASSERT_FALSE(merged);
    EXPECT_EQ(merged.error().code, Errc::kInvalidArgument);
    EXPECT_EQ(merged.error().message,
              "image example.com/app:1 has no entrypoint or cmd and the spec gives none");
    return;
  }
  ASSERT_TRUE(merged) << merged.error().message;
  EXPECT_EQ(merged->args, *c.want);
}

// Docker's rules (daemon/create.go merge): entrypoint replaces ENTRYPOINT and, when non-empty,
// drops CMD; args replace CMD only; `--entrypoint ""` clears ENTRYPOINT but keeps CMD.
INSTANTIATE_TEST_SUITE_P(
    Table, DockerArgvMerge,
    ::testing::Values(
        MergeCase{"image_only", {"/ep", "-x"}, {"c1", "c2"}, {}, {}, Argv{"/ep", "-x", "c1", "c2"}},
        MergeCase{
            "args_replace_cmd", {"/ep"}, {"c1"}, {}, Argv{"a1", "a2"}, Argv{"/ep", "a1", "a2"}},
        MergeCase{"entrypoint_drops_cmd", {"/ep"}, {"c1"}, Argv{"/x"}, {}, Argv{"/x"}},
        MergeCase{"entrypoint_and_args", {"/ep"}, {"c1"}, Argv{"/x"}, Argv{"a"}, Argv{"/x", "a"}},
        MergeCase{"empty_entrypoint_keeps_cmd", {"/ep"}, {"c1"}, Argv{}, {}, Argv{"c1"}},
        MergeCase{"empty_entrypoint_with_args", {"/ep"}, {"c1"}, Argv{}, Argv{"a"}, Argv{"a"}},
        MergeCase{"empty_args_clear_cmd", {"/ep"}, {"c1"}, {}, Argv{}, Argv{"/ep"}},
        MergeCase{"cmd_only_image", {}, {"c1"}, {}, {}, Argv{"c1"}},
        MergeCase{"cmd_only_image_args", {}, {"c1"}, {}, Argv{"a"}, Argv{"a"}},
        MergeCase{"entrypoint_only_image_args", {"/ep"}, {}, {}, Argv{"a"}, Argv{"/ep", "a"}},
        MergeCase{"nothing_at_all", {}, {}, {}, {}, std::nullopt},
        MergeCase{"empty_overrides_on_empty_image", {}, {}, Argv{}, Argv{}, std::nullopt},
        MergeCase{"empty_entrypoint_empty_cmd", {"/ep"}, {}, Argv{}, {}, std::nullopt},
        MergeCase{"spec_only",
                  {},
                  {},
                  Argv{"/bin/sh"},
                  Argv{"-c", "true"},
                  Argv{"/bin/sh", "-c", "true"}}),
    [](const auto& test_info) { return test_info.param.name; });

image::ImageConfig image_with_cmd() {
  image::ImageConfig image;
  image.cmd = {"sh"};
  return image;
}

TEST(MergeProcessEnv, ImageOrderThenNewKeysSpecWins) {
  auto image = image_with_cmd();
  image.env = {"PATH=/img/bin", "A=1", "B=2"};
  ProcessOverrides overrides;
  overrides.env = {{"B", "3"}, {"C", "4"}, {"A", "5"}, {"D", "x=y"}};
  auto merged = merge_process(image, "img", overrides);
  ASSERT_TRUE(merged) << merged.error().message;
  EXPECT_THAT(merged->env, ElementsAre("PATH=/img/bin", "A=5", "B=3", "C=4", "D=x=y"));
}

TEST(MergeProcessEnv, DefaultPathWhenImageHasNone) {
  auto image = image_with_cmd();
  image.env = {"A=1"};
  auto merged = merge_process(image, "img", {});
  ASSERT_TRUE(merged);
  EXPECT_THAT(
      merged->env,
      ElementsAre("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1"));
}

TEST(MergeProcessEnv, SpecPathOverridesDefault) {
  ProcessOverrides overrides;
  overrides.env = {{"PATH", "/opt/bin"}};
  auto merged = merge_process(image_with_cmd(), "img", overrides);
  ASSERT_TRUE(merged);
  EXPECT_THAT(merged->env, ElementsAre("PATH=/opt/bin"));
}

TEST(MergeProcessEnv, HostnameAndTermLikeDocker) {
  auto image = image_with_cmd();
  image.env = {"HOSTNAME=from-image", "X=1"};
  ProcessOverrides overrides;
  overrides.hostname = "web-rep-1";
  overrides.tty = true;
  auto merged = merge_process(image, "img", overrides);
  ASSERT_TRUE(merged);
  // Docker's daemon env comes first; the image may override it in place.
  EXPECT_THAT(merged->env,
              ElementsAre("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                          "HOSTNAME=from-image", "TERM=xterm", "X=1"));
  EXPECT_TRUE(merged->terminal);
}

TEST(MergeProcessEnv, ImageEntryWithoutValueRemovesKey) {
  auto image = image_with_cmd();
  image.env = {"A=1", "B=2", "A"};
  auto merged = merge_process(image, "img", {});
  ASSERT_TRUE(merged);
  EXPECT_THAT(merged->env, ElementsAre(::testing::StartsWith("PATH="), "B=2"));
}

TEST(MergeProcessEnv, BadSpecKeyIsRejected) {
  for (const char* key : {"", "A=B"}) {
    ProcessOverrides overrides;
    overrides.env = {{key, "v"}};
    auto merged = merge_process(image_with_cmd(), "img", overrides);
    ASSERT_FALSE(merged) << key;
    EXPECT_EQ(merged.error().code, Errc::kInvalidArgument);
  }
}

TEST(MergeProcess, WorkingDirAndUser) {
  auto image = image_with_cmd();
  auto merged = merge_process(image, "img", {});
  ASSERT_TRUE(merged);
  EXPECT_EQ(merged->cwd, "/");
  EXPECT_EQ(merged->user, "");

  image.working_dir = "/srv";
  image.user = "app";
  merged = merge_process(image, "img", {});
  ASSERT_TRUE(merged);
  EXPECT_EQ(merged->cwd, "/srv");
  EXPECT_EQ(merged->user, "app");

  ProcessOverrides overrides;
  overrides.working_dir = "/data";
  overrides.user = "1000:1000";
  merged = merge_process(image, "img", overrides);
  ASSERT_TRUE(merged);
  EXPECT_EQ(merged->cwd, "/data");
  EXPECT_EQ(merged->user, "1000:1000");

  overrides.user = "";
  merged = merge_process(image, "img", overrides);
  ASSERT_TRUE(merged);
  EXPECT_EQ(merged->user, "app");  // empty override = unset, as Docker

  overrides.working_dir = "relative/dir";
  merged = merge_process(image, "img", overrides);
  ASSERT_FALSE(merged);
  EXPECT_EQ(merged.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(merged.error().message, ::testing::HasSubstr("relative/dir"));
}

TEST(OciProcess, HomeDefaultUserCapsRlimits) {
  ProcessSpec process{{"/bin/sh"}, {"PATH=/bin"}, "/", "app", false};
  ResolvedUser user{1000, 1000, {2000, 2001}, "/home/app", "app"};
  auto json =
      oci_process(process, user, {"CAP_CHOWN", "CAP_KILL"}, {{"RLIMIT_NOFILE", 1024, 2048}}, true);
  EXPECT_EQ(json["args"], nlohmann::json({"/bin/sh"}));
  EXPECT_EQ(json["env"], nlohmann::json({"PATH=/bin", "HOME=/home/app"}));
  EXPECT_EQ(json["cwd"], "/");
  EXPECT_EQ(json["user"]["uid"], 1000);
  EXPECT_EQ(json["user"]["gid"], 1000);
  EXPECT_EQ(json["user"]["additionalGids"], nlohmann::json({2000, 2001}));
  EXPECT_EQ(json["capabilities"]["effective"], nlohmann::json({"CAP_CHOWN", "CAP_KILL"}));
  EXPECT_EQ(json["capabilities"]["bounding"], nlohmann::json({"CAP_CHOWN", "CAP_KILL"}));
  EXPECT_TRUE(json["capabilities"]["ambient"].empty());
  EXPECT_EQ(json["rlimits"][0]["type"], "RLIMIT_NOFILE");
  EXPECT_EQ(json["rlimits"][0]["hard"], 2048);
  EXPECT_EQ(json["noNewPrivileges"], true);
  EXPECT_EQ(json["terminal"], false);

  // An explicit HOME wins; an empty one is replaced in place.
  process.env = {"HOME=/custom"};
  EXPECT_EQ(oci_process(process, user, {}, {}, false)["env"], nlohmann::json({"HOME=/custom"}));
  process.env = {"HOME=", "A=1"};
  EXPECT_EQ(oci_process(process, user, {}, {}, false)["env"],
            nlohmann::json({"HOME=/home/app", "A=1"}));
}

}  // namespace
}  // namespace zlayer::runtime::linux
