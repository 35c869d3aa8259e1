// Container name resolution: full id, name, unique prefix, ambiguity and absence.
#include "cli/container_cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace zlayer::cli {
namespace {

using ::testing::HasSubstr;

const std::vector<ContainerId> kKnown = {
    {"web", 1}, {"web", 2}, {"worker", 1}, {"db", 1}, {"db-rep-1x", 1}};

TEST(ResolveContainerId, FullIdNameAndUniquePrefix) {
  EXPECT_EQ(resolve_container_id("web-rep-2", kKnown).value(), (ContainerId{"web", 2}));
  EXPECT_EQ(resolve_container_id("worker", kKnown).value(), (ContainerId{"worker", 1}));
  EXPECT_EQ(resolve_container_id("worker-r", kKnown).value(), (ContainerId{"worker", 1}));
  EXPECT_EQ(resolve_container_id("web-rep-1", kKnown).value(), (ContainerId{"web", 1}));
  // A full id wins over being a prefix of another id.
  EXPECT_EQ(resolve_container_id("db-rep-1", kKnown).value(), (ContainerId{"db", 1}));
}

TEST(ResolveContainerId, AmbiguousNamesAndPrefixesListTheCandidates) {
  auto name = resolve_container_id("web", kKnown);
  ASSERT_FALSE(name);
  EXPECT_EQ(name.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(name.error().message, HasSubstr("web-rep-1, web-rep-2"));
  auto prefix = resolve_container_id("web-rep-", kKnown);
  ASSERT_FALSE(prefix);
  EXPECT_THAT(prefix.error().message, HasSubstr("a prefix of several containers"));
}

// A name never matches as the prefix of a longer name: after `rm db`, a second `rm -f db` must
// not remove "dbbackup" (Docker prefix-matches random hex ids only).
TEST(ResolveContainerId, AShortNameIsNeverAPrefixOfALongerName) {
  const std::vector<ContainerId> known = {{"dbbackup", 1}};
  auto db = resolve_container_id("db", known);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code, Errc::kNotFound);
  EXPECT_FALSE(resolve_container_id("wo", kKnown));
}

TEST(ResolveContainerId, UnknownIsNotFound) {
  auto missing = resolve_container_id("nope", kKnown);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_EQ(missing.error().message, "no such container: nope");
  EXPECT_FALSE(resolve_container_id("", kKnown));
}

}  // namespace
}  // namespace zlayer::cli
