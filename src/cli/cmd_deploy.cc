// `deploy [--dry-run] FILE`: load and validate a deployment spec; with --dry-run print the plan
// (or every problem) and stop. The running deploy (ServiceManager, supervision) plugs in at
// run_deploy() below.
#include <cstdio>

#include "cli/commands.h"
#include "core/fs.h"
#include "spec/parse.h"
#include "spec/plan.h"

namespace zlayer::cli {
namespace {

struct DeployArgs {
  std::string file;
  bool dry_run = false;
};

// Every problem, compiler style ("demo.yaml:12: services.api.resources.memory: …"), so editors
// can jump to them.
void print_diagnostics(const std::string& file, const std::vector<spec::Diagnostic>& list,
                       const char* kind) {
  for (const auto& d : list) {
    if (d.line > 0) {
      std::fprintf(stderr, "%s:%d: %s: %s\n", file.c_str(), d.line, kind, d.str().c_str());
    } else {
      std::fprintf(stderr, "%s: %s: %s\n", file.c_str(), kind, d.str().c_str());
    }
  }
}

std::string endpoints_text(const spec::ServiceSpec& service) {
  std::string out;
  for (const auto& e : service.endpoints) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {} :{}", e.name, spec::to_string(e.protocol), e.port);
    if (e.effective_target_port() != e.port) out += fmt::format("->{}", e.effective_target_port());
    if (e.expose == spec::ExposeType::kPublic) out += " public";
  }
  return out.empty() ? "-" : out;
}

void print_plan(const spec::DeploymentPlan& plan) {
  std::printf("deployment %s: %zu service%s, start order:\n", plan.deployment.c_str(),
              plan.services.size(), plan.services.size() == 1 ? "" : "s");
  std::printf("  %-3s %-20s %-8s %-9s %-10s %s\n", "#", "SERVICE", "RTYPE", "REPLICAS", "BACKEND",
              "ENDPOINTS");
  int index = 0;
  for (const auto& s : plan.services) {
    std::string replicas = s.spec->rtype == spec::ResourceType::kService
                               ? std::to_string(s.replicas)
                               : std::string("-");
    std::printf("  %-3d %-20s %-8s %-9s %-10s %s\n", ++index, s.name.c_str(),
                std::string(spec::to_string(s.spec->rtype)).c_str(), replicas.c_str(),
                std::string(spec::to_string(s.backend)).c_str(), endpoints_text(*s.spec).c_str());
  }
  for (const auto& s : plan.services) {
    std::printf("  %s: backend %s (%s; the pulled image decides)\n", s.name.c_str(),
                std::string(spec::to_string(s.backend)).c_str(), s.backend_reason.c_str());
    if (s.spec->rtype == spec::ResourceType::kJob) {
      std::printf("  %s: job — validated; jobs are not run by deploy yet\n", s.name.c_str());
    } else if (s.spec->rtype == spec::ResourceType::kCron) {
      std::printf("  %s: cron \"%s\" — validated; cron jobs are not run by deploy yet\n",
                  s.name.c_str(), s.spec->schedule.value_or("").c_str());
    }
    for (const auto& d : s.spec->depends) {
      std::printf("  %s: waits for %s to be %s (timeout %s, then %s)\n", s.name.c_str(),
                  d.service.c_str(), std::string(spec::to_string(d.condition)).c_str(),
                  spec::format_duration(d.timeout).c_str(),
                  std::string(spec::to_string(d.on_timeout)).c_str());
    }
  }
}

// Loads FILE and reports every problem and warning; the spec only when it is valid.
std::optional<spec::DeploymentSpec> load_checked(const std::string& file) {
  auto text = read_file(file);
  if (!text) {
    std::fprintf(stderr, "zlayer-agent: %s\n", text.error().message.c_str());
    return std::nullopt;
  }
  spec::SpecReport report = spec::check_spec(*text);
  print_diagnostics(file, report.warnings, "warning");
  if (!report.ok()) {
    print_diagnostics(file, report.errors, "error");
    std::fprintf(stderr,
                 "zlayer-agent: %s: invalid deployment spec (%zu problem%s); nothing started\n",
                 file.c_str(), report.errors.size(), report.errors.size() == 1 ? "" : "s");
    return std::nullopt;
  }
  return std::move(report.spec);
}

int run_deploy(const DeployArgs& args) {
  auto spec = load_checked(args.file);
  if (!spec) return 1;
  auto plan = spec::plan_deployment(*spec);
  if (!plan) {
    std::fprintf(stderr, "zlayer-agent: %s\n", plan.error().message.c_str());
    return 1;
  }
  if (args.dry_run) {
    print_plan(*plan);
    return 0;
  }
  // TODO(issue 5): the ServiceManager brings the plan up here (foreground, like compose up).
  std::fprintf(stderr, "zlayer-agent: deploy without --dry-run is not available yet\n");
  return 1;
}

}  // namespace

void register_deploy_commands(CLI::App& app, Commands& commands) {
  auto* cmd =
      app.add_subcommand("deploy", "Deploy a spec file (--dry-run: validate and print the plan)");
  auto args = std::make_shared<DeployArgs>();
  cmd->add_flag("--dry-run", args->dry_run, "validate and print the plan; start nothing");
  cmd->add_option("FILE", args->file, "deployment spec (YAML)")->required();
  cmd->callback([=, &commands] { commands.selected = [=] { return run_deploy(*args); }; });
}

}  // namespace zlayer::cli
