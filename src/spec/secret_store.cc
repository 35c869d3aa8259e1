#include "spec/secret_store.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <regex>
#include <system_error>
#include <tuple>

#include "core/container_id.h"
#include "core/fs.h"

namespace zlayer::spec {
namespace {

// Layout: secrets/global/NAME, secrets/deployments/D/values/NAME,
// secrets/deployments/D/services/S/NAME. Names cannot contain '/', so no path escapes.
constexpr std::string_view kGlobal = "global";
constexpr std::string_view kDeployments = "deployments";

Status validate_deployment(std::string_view deployment) {
  static const std::regex kName(R"(^[A-Za-z0-9][A-Za-z0-9-]{0,62}$)");
  if (!std::regex_match(deployment.begin(), deployment.end(), kName)) {
    return errorf(Errc::kInvalidArgument,
                  "\"{}\" is not a deployment name (letters, digits and '-')", deployment);
  }
  return {};
}

Result<std::vector<std::string>> file_names(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return names;
  if (ec) return sys_error(fmt::format("listing {}", dir.string()), ec.value());
  for (const auto& entry : it) {
    std::string name = entry.path().filename().string();
    // Temp files of a write in progress (atomic_write_file) are not secrets.
    if (entry.is_regular_file() && SecretStore::validate_name(name)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

std::string SecretScope::str() const {
  if (deployment.empty()) return "global scope";
  if (service.empty()) return fmt::format("deployment {}", deployment);
  return fmt::format("service {}/{}", deployment, service);
}

SecretStore::SecretStore(std::filesystem::path root_dir) : dir_(std::move(root_dir) / "secrets") {}

Status SecretStore::validate_name(std::string_view name) {
  static const std::regex kName(R"(^[A-Za-z][A-Za-z0-9_-]*$)");
  if (name.size() > 253 || !std::regex_match(name.begin(), name.end(), kName)) {
    return errorf(Errc::kInvalidArgument,
                  "\"{}\" is not a secret name (a letter, then letters, digits, '-' or '_')", name);
  }
  return {};
}

Result<std::filesystem::path> SecretStore::scope_dir(const SecretScope& scope) const {
  if (scope.deployment.empty()) {
    if (!scope.service.empty()) {
      return errorf(Errc::kInvalidArgument, "a service scope (\"{}\") needs a deployment",
                    scope.service);
    }
    return dir_ / kGlobal;
  }
  ZLAYER_CHECK(validate_deployment(scope.deployment));
  auto deployment = dir_ / kDeployments / scope.deployment;
  if (scope.service.empty()) return deployment / "values";
  ZLAYER_CHECK(ContainerId::validate_service_name(scope.service));
  return deployment / "services" / scope.service;
}

Status SecretStore::set(const SecretScope& scope, std::string_view name, std::string_view value) {
  ZLAYER_CHECK(validate_name(name));
  ZLAYER_TRY(dir, scope_dir(scope));
  ZLAYER_CHECK(make_dirs(dir, 0700));
  // make_dirs does not tighten directories that already exist; the top must stay private.
  std::error_code ec;
  std::filesystem::permissions(dir_, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  return atomic_write_file(dir / std::string(name), value, 0600).map_error([&](Error e) {
    return e.wrap(fmt::format("storing secret \"{}\"", name));
  });
}

Result<std::string> SecretStore::get(const SecretScope& scope, std::string_view name) const {
  ZLAYER_CHECK(validate_name(name));
  ZLAYER_TRY(dir, scope_dir(scope));
  auto value = read_file(dir / std::string(name));
  if (!value && value.error().code == Errc::kNotFound) {
    return errorf(Errc::kNotFound, "secret \"{}\" not found in {}", name, scope.str());
  }
  if (!value) return unexpected(value.error().wrap(fmt::format("reading secret \"{}\"", name)));
  return value;
}

Status SecretStore::remove(const SecretScope& scope, std::string_view name) {
  ZLAYER_CHECK(validate_name(name));
  ZLAYER_TRY(dir, scope_dir(scope));
  auto path = dir / std::string(name);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) {
      return errorf(Errc::kNotFound, "secret \"{}\" not found in {}", name, scope.str());
    }
    return sys_error(fmt::format("removing secret \"{}\"", name), errno);
  }
  return {};
}

Result<std::vector<SecretEntry>> SecretStore::list(const SecretScope* only) const {
  std::vector<SecretScope> scopes;
  if (only) {
    scopes.push_back(*only);
  } else {
    scopes.push_back(SecretScope{});
    std::error_code ec;
    for (const auto& deployment : std::filesystem::directory_iterator(dir_ / kDeployments, ec)) {
      std::string name = deployment.path().filename().string();
      scopes.push_back(SecretScope{name, {}});
      std::error_code inner;
      for (const auto& service :
           std::filesystem::directory_iterator(deployment.path() / "services", inner)) {
        scopes.push_back(SecretScope{name, service.path().filename().string()});
      }
    }
    std::sort(scopes.begin(), scopes.end(), [](const SecretScope& a, const SecretScope& b) {
      return std::tie(a.deployment, a.service) < std::tie(b.deployment, b.service);
    });
  }
  std::vector<SecretEntry> entries;
  for (const auto& scope : scopes) {
    ZLAYER_TRY(dir, scope_dir(scope));
    ZLAYER_TRY(names, file_names(dir));
    for (auto& name : names) entries.push_back(SecretEntry{scope, std::move(name)});
  }
  return entries;
}

}  // namespace zlayer::spec
