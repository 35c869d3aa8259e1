// `secret set|ls|rm`: the agent's secret store (spec/secret_store.h), which `$S:` env references
// read at deploy time. Values go in on stdin and never come out on the command line.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/paths.h"
#include "spec/secret_store.h"

namespace zlayer::cli {
namespace {

using spec::SecretScope;
using spec::SecretStore;

struct ScopeArgs {
  std::string deployment;
  std::string service;
  [[nodiscard]] SecretScope scope() const { return SecretScope{deployment, service}; }
};

void add_scope_options(CLI::App* cmd, ScopeArgs& args) {
  cmd->add_option("--deployment", args.deployment, "deployment scope (default: global)");
  cmd->add_option("--service", args.service, "service scope (needs --deployment)");
}

int set_secret(const ScopeArgs& args, const std::string& name) {
  if (::isatty(STDIN_FILENO)) {
    std::fprintf(stderr, "reading the value of %s from stdin; end with Ctrl-D\n", name.c_str());
  }
  std::string value((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  // `echo value | secret set NAME` should store "value": one trailing newline is dropped.
  if (!value.empty() && value.back() == '\n') value.pop_back();
  SecretStore store(Paths::from_env().root_dir);
  if (auto ok = store.set(args.scope(), name, value); !ok) return fail(ok.error());
  return 0;
}

int list_secrets(const ScopeArgs& args, const std::string& format) {
  SecretStore store(Paths::from_env().root_dir);
  SecretScope scope = args.scope();
  bool filtered = !args.deployment.empty() || !args.service.empty();
  auto entries = store.list(filtered ? &scope : nullptr);
  if (!entries) return fail(entries.error());
  if (format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : *entries) {
      out.push_back(
          {{"name", e.name},
           {"deployment", e.scope.deployment.empty() ? nlohmann::json(nullptr)
                                                     : nlohmann::json(e.scope.deployment)},
           {"service",
            e.scope.service.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.scope.service)}});
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  std::printf("%-24s %-20s %s\n", "DEPLOYMENT", "SERVICE", "NAME");
  for (const auto& e : *entries) {
    std::printf("%-24s %-20s %s\n", e.scope.deployment.empty() ? "-" : e.scope.deployment.c_str(),
                e.scope.service.empty() ? "-" : e.scope.service.c_str(), e.name.c_str());
  }
  return 0;
}

int remove_secrets(const ScopeArgs& args, const std::vector<std::string>& names) {
  SecretStore store(Paths::from_env().root_dir);
  int status = 0;
  for (const auto& name : names) {
    if (auto ok = store.remove(args.scope(), name); !ok) {
      status = fail(ok.error());
    } else {
      std::printf("%s\n", name.c_str());
    }
  }
  return status;
}

}  // namespace

void register_secret_commands(CLI::App& app, Commands& commands) {
  auto* secret = app.add_subcommand("secret", "Manage secrets read by $S: env references");
  secret->require_subcommand(1);
  {
    auto* cmd =
        secret->add_subcommand("set", "Create or replace a secret; the value is read from stdin");
    auto args = std::make_shared<ScopeArgs>();
    auto name = std::make_shared<std::string>();
    add_scope_options(cmd, *args);
    cmd->add_option("NAME", *name, "secret name")->required();
    cmd->callback([=, &commands] { commands.selected = [=] { return set_secret(*args, *name); }; });
  }
  {
    auto* cmd = secret->add_subcommand("ls", "List secret names (never values)");
    auto args = std::make_shared<ScopeArgs>();
    auto format = std::make_shared<std::string>();
    add_scope_options(cmd, *args);
    cmd->add_option("--format", *format, "json: one JSON array")
        ->check(CLI::IsMember({"", "json"}));
    cmd->callback(
        [=, &commands] { commands.selected = [=] { return list_secrets(*args, *format); }; });
  }
  {
    auto* cmd = secret->add_subcommand("rm", "Remove secrets");
    auto args = std::make_shared<ScopeArgs>();
    auto names = std::make_shared<std::vector<std::string>>();
    add_scope_options(cmd, *args);
    cmd->add_option("NAME", *names, "secret names")->required();
    cmd->callback(
        [=, &commands] { commands.selected = [=] { return remove_secrets(*args, *names); }; });
  }
}

}  // namespace zlayer::cli
