// Value rules, warnings, cross-field validation and start order (spec-schema.md §3.1–3.12, plus
// the stricter rules docs/spec.md lists: cycles, host-port clashes, DNS-label service names).
#include <algorithm>
#include <regex>
#include <set>

#include "core/container_id.h"
#include "core/quantity.h"
#include "image/reference.h"
#include "spec/cron.h"
#include "spec/parse.h"
#include "spec/validate_internal.h"

namespace zlayer::spec {
namespace {

class Checker {
 public:
  Checker(std::vector<Diagnostic>& errors, std::vector<Diagnostic>& warnings)
      : errors_(errors), warnings_(warnings) {}

  void error(const std::string& path, std::string message) {
    errors_.push_back(Diagnostic{path, std::move(message), 0});
  }
  void warn(const std::string& path, std::string message) {
    warnings_.push_back(Diagnostic{path, std::move(message), 0});
  }
  void cluster_only(const std::string& path) {
    warn(path, "only meaningful in a cluster; kept but ignored by the single-node agent");
  }

  void quantity(const std::string& path, const std::optional<std::string>& text) {
    if (!text) return;
    if (!parse_byte_quantity(*text, ByteQuantityForm{.allow_byte_suffix = false})) {
      error(path, fmt::format("\"{}\" is not a quantity like 512Mi", *text));
    }
  }

  void port(const std::string& path, std::uint16_t value) {
    if (value == 0) error(path, "0 is not a port (1-65535)");
  }

  void container_path(const std::string& path, const std::string& value) {
    if (value.empty() || value.front() != '/') {
      error(path, fmt::format("\"{}\" is not an absolute path", value));
    } else if (value.find("/../") != std::string::npos || value.ends_with("/..")) {
      error(path, fmt::format("\"{}\" must not contain \"..\"", value));
    }
  }

  void resources(const std::string& p, const ResourcesSpec& r) {
    if (r.cpu && !(*r.cpu > 0))
      error(p + ".cpu", fmt::format("{} is not a CPU amount > 0", *r.cpu));
    quantity(p + ".memory", r.memory);
    quantity(p + ".memory_reservation", r.memory_reservation);
    if (r.memory_swap && *r.memory_swap != "-1") quantity(p + ".memory_swap", r.memory_swap);
    if (r.memory_swappiness && *r.memory_swappiness > 100) {
      error(p + ".memory_swappiness",
            fmt::format("{} is out of range 0-100", *r.memory_swappiness));
    }
    if (r.blkio_weight && (*r.blkio_weight < 10 || *r.blkio_weight > 1000)) {
      error(p + ".blkio_weight", fmt::format("{} is out of range 10-1000", *r.blkio_weight));
    }
    if (r.cpuset && !std::regex_match(*r.cpuset, std::regex(R"(^\d+(-\d+)?(,\d+(-\d+)?)*$)"))) {
      error(p + ".cpuset", fmt::format("\"{}\" is not a CPU list like 0-1,3", *r.cpuset));
    }
    if (r.gpu) warn(p + ".gpu", "GPUs are not supported by this agent; kept but ignored");
  }

  void image(const std::string& p, const ImageSpec& i) {
    if (i.name.empty()) {
      error(p + ".name", "the image name is empty");
    } else if (!image::Reference::parse(i.name)) {
      error(p + ".name", fmt::format("\"{}\" is not an image reference like nginx:alpine", i.name));
    }
    if (i.source_policy == SourcePolicy::kS3First) {
      cluster_only(p + ".source_policy");
    }
  }

  void env(const std::string& p, const std::map<std::string, std::string>& vars) {
    static const std::regex kSecretName(R"(^[A-Za-z][A-Za-z0-9_-]*$)");
    for (const auto& [key, value] : vars) {
      std::string path = p + "." + key;
      if (key.empty() || key.find('=') != std::string::npos) {
        error(path, "an environment variable name must be non-empty and contain no '='");
      }
      if (value.starts_with("$E:") && value.size() == 3) {
        error(path, "\"$E:\" needs a variable name, like $E:DATABASE_URL");
      }
      if (!value.starts_with("$S:")) continue;
      // $S:name[/field], $S:@service/name[/field]; $S::env/… and $S:project:env/… parse too.
      std::string ref = value.substr(3);
      if (ref.starts_with("@")) {
        auto slash = ref.find('/');
        std::string service = ref.substr(1, slash == std::string::npos ? 0 : slash - 1);
        std::string name = slash == std::string::npos ? "" : ref.substr(slash + 1);
        name = name.substr(0, name.find('/'));
        if (!std::regex_match(service, kSecretName) || !std::regex_match(name, kSecretName)) {
          error(path, fmt::format("\"{}\" is not a secret reference like $S:@service/name", value));
        }
      } else if (ref.find(':') == std::string::npos) {
        std::string name = ref.substr(0, ref.find('/'));
        if (!std::regex_match(name, kSecretName)) {
          error(path, fmt::format("\"{}\" is not a secret reference like $S:name or "
                                  "$S:name/field (names start with a letter; letters, digits, "
                                  "'-', '_')",
                                  value));
        }
      }
    }
  }

  void health(const std::string& p, const HealthSpec& h) {
    if (const auto* http = std::get_if<HttpCheck>(&h.check)) {
      if (!http->url.starts_with("http://") && !http->url.starts_with("https://")) {
        error(p + ".check.url", fmt::format("\"{}\" is not an http:// or https:// URL", http->url));
      }
    } else if (const auto* command = std::get_if<CommandCheck>(&h.check)) {
      if (command->command.empty()) error(p + ".check.command", "the command is empty");
    }
    if (h.retries == 0) error(p + ".retries", "must be at least 1");
    if (h.interval && h.interval->count() == 0) error(p + ".interval", "must be more than 0s");
    if (h.timeout && h.timeout->count() == 0) error(p + ".timeout", "must be more than 0s");
  }

  void endpoints(const std::string& p, const std::vector<EndpointSpec>& list) {
    std::set<std::string> names;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const auto& e = list[i];
      std::string path = fmt::format("{}[{}]", p, i);
      if (e.name.empty()) error(path + ".name", "the endpoint name is empty");
      if (!names.insert(e.name).second) {
        error(path + ".name", fmt::format("duplicate endpoint name \"{}\"", e.name));
      }
      port(path + ".port", e.port);
      if (e.target_port) port(path + ".target_port", *e.target_port);
      if (e.tunnel && e.tunnel->enabled) cluster_only(path + ".tunnel");
    }
  }

  void service(const std::string& name, const ServiceSpec& s) {
    std::string p = "services." + name;
    if (!ContainerId::validate_service_name(name)) {
      error(p,
            "a service name must be a DNS label: lower-case letters, digits and '-', 1-63 "
            "characters, starting and ending with a letter or digit");
    }
    if (s.rtype == ResourceType::kCron) {
      if (!s.schedule) {
        error(p, "rtype cron needs a schedule");
      } else if (auto ok = validate_cron_schedule(*s.schedule); !ok) {
        error(p + ".schedule",
              fmt::format("\"{}\" is not a cron schedule: {}", *s.schedule, ok.error().message));
      }
    } else if (s.schedule) {
      error(p + ".schedule",
            fmt::format("only allowed with rtype cron (rtype is {})", to_string(s.rtype)));
    }
    image(p + ".image", s.image);
    resources(p + ".resources", s.resources);
    env(p + ".env", s.env);
    if (s.command.workdir) container_path(p + ".command.workdir", *s.command.workdir);
    if (s.network != NetworkSpec{}) cluster_only(p + ".network");
    endpoints(p + ".endpoints", s.endpoints);
    if (s.scale.initial_replicas() > kMaxReplicasPerService) {
      error(p + ".scale", fmt::format("{} replicas is more than the {} one service may have on "
                                      "a node",
                                      s.scale.initial_replicas(), kMaxReplicasPerService));
    }
    if (s.scale.mode == ScaleMode::kAdaptive) {
      if (s.scale.min > s.scale.max) {
        error(p + ".scale", fmt::format("min {} is greater than max {}", s.scale.min, s.scale.max));
      }
      if (s.scale.max == 0) error(p + ".scale.max", "must be at least 1");
      if (s.scale.targets != ScaleTargets{}) {
        warn(p + ".scale.targets",
             "autoscaling targets are not acted on yet; the service runs min replicas");
      }
    }
    if (s.replica_groups) {
      static const std::regex kRole(R"(^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$)");
      std::set<std::string> roles;
      for (std::size_t i = 0; i < s.replica_groups->size(); ++i) {
        const auto& g = (*s.replica_groups)[i];
        std::string path = fmt::format("{}.replica_groups[{}]", p, i);
        if (!std::regex_match(g.role, kRole)) {
          error(path + ".role", fmt::format("\"{}\" is not a role name (a DNS label of 1-30 "
                                            "characters starting with a letter)",
                                            g.role));
        }
        if (!roles.insert(g.role).second) {
          error(path + ".role", fmt::format("duplicate replica group role \"{}\"", g.role));
        }
        if (g.count == 0) error(path + ".count", "must be at least 1");
        if (g.image) image(path + ".image", *g.image);
        if (g.resources) resources(path + ".resources", *g.resources);
        env(path + ".env", g.env);
        if (g.affinity != Affinity{}) cluster_only(path + ".affinity");
      }
      if (s.scale != ScaleSpec{}) {
        warn(p + ".scale", "ignored: replica_groups set the replica count");
      }
    }
    health(p + ".health", s.health);
    std::set<std::string> step_ids;
    static const std::set<std::string> kActions{"init.wait_tcp", "init.wait_http", "init.run",
                                                "init.s3_push", "init.s3_pull"};
    for (std::size_t i = 0; i < s.init.steps.size(); ++i) {
      const auto& step = s.init.steps[i];
      std::string path = fmt::format("{}.init.steps[{}]", p, i);
      if (step.id.empty()) error(path + ".id", "the step id is empty");
      if (!step_ids.insert(step.id).second) {
        error(path + ".id", fmt::format("duplicate init step id \"{}\"", step.id));
      }
      if (!kActions.contains(step.uses)) {
        error(path + ".uses", fmt::format("unknown init action \"{}\" (init.wait_tcp, "
                                          "init.wait_http, init.run, init.s3_push or "
                                          "init.s3_pull)",
                                          step.uses));
      } else if (step.uses.starts_with("init.s3_")) {
        warn(path + ".uses", "S3 init actions are not supported by this agent");
      }
      if (!step.with.is_object()) error(path + ".with", "expected a map of parameters");
    }
    if (s.isolation) warn(p + ".isolation", "Windows only; kept but ignored on Linux");
    for (std::size_t i = 0; i < s.devices.size(); ++i) {
      container_path(fmt::format("{}.devices[{}].path", p, i), s.devices[i].path);
    }
    for (std::size_t i = 0; i < s.storage.size(); ++i)
      storage(fmt::format("{}.storage[{}]", p, i), s.storage[i]);
    for (std::size_t i = 0; i < s.port_mappings.size(); ++i) {
      port(fmt::format("{}.port_mappings[{}].container_port", p, i),
           s.port_mappings[i].container_port);
    }
    if (s.node_mode != NodeMode::kShared) cluster_only(p + ".node_mode");
    if (s.node_selector) cluster_only(p + ".node_selector");
    if (s.affinity) cluster_only(p + ".affinity");
    if (s.platform && s.platform->os != PlatformOs::kLinux) {
      warn(p + ".platform", fmt::format("platform os {} is not this agent's (linux); kept but "
                                        "ignored",
                                        to_string(s.platform->os)));
    }
    if (s.wasm) wasm(p, s);
    for (std::size_t i = 0; i < s.extra_hosts.size(); ++i) {
      auto colon = s.extra_hosts[i].find(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == s.extra_hosts[i].size()) {
        error(fmt::format("{}.extra_hosts[{}]", p, i),
              fmt::format("\"{}\" is not host:ip", s.extra_hosts[i]));
      }
    }
    if (s.restart_policy) {
      if (s.restart_policy->max_attempts &&
          s.restart_policy->kind != RestartPolicyKind::kOnFailure) {
        error(p + ".restart_policy.max_attempts", "only allowed with kind on_failure");
      }
    }
    for (const auto& [limit, value] : s.ulimits) {
      if (value.soft && value.hard && *value.hard >= 0 &&
          (*value.soft < 0 || *value.soft > *value.hard)) {
        error(p + ".ulimits." + limit,
              fmt::format("soft {} is above hard {}", *value.soft, *value.hard));
      }
    }
    if (s.cgroup_parent && !s.cgroup_parent->empty() &&
        s.cgroup_parent->find("..") != std::string::npos) {
      error(p + ".cgroup_parent", "must not contain \"..\"");
    }
    if (s.overlay) cluster_only(p + ".overlay");
  }

  void storage(const std::string& p, const StorageSpec& entry) {
    static const std::regex kVolume(R"(^[A-Za-z0-9][A-Za-z0-9_.-]*$)");
    std::visit(
        [&](const auto& s) {
          using T = std::decay_t<decltype(s)>;
          container_path(p + ".target", s.target);
          if constexpr (std::is_same_v<T, BindStorage>) {
            if (s.source.empty() || s.source.front() != '/') {
              error(p + ".source", fmt::format("\"{}\" is not an absolute host path", s.source));
            }
          } else if constexpr (std::is_same_v<T, NamedStorage>) {
            if (!std::regex_match(s.name, kVolume)) {
              error(
                  p + ".name",
                  fmt::format("\"{}\" is not a volume name ([A-Za-z0-9][A-Za-z0-9_.-]*)", s.name));
            }
            quantity(p + ".size", s.size);
            if (s.tier != StorageTier::kLocal) cluster_only(p + ".tier");
          } else if constexpr (std::is_same_v<T, AnonymousStorage>) {
            if (s.tier != StorageTier::kLocal) cluster_only(p + ".tier");
          } else if constexpr (std::is_same_v<T, TmpfsStorage>) {
            quantity(p + ".size", s.size);
            if (s.mode && *s.mode > 07777)
              error(p + ".mode",
                    fmt::format("{:o} is not a permission mode (at most 7777 octal)", *s.mode));
          } else {
            cluster_only(p);
          }
        },
        entry);
  }

  void wasm(const std::string& p, const ServiceSpec& s) {
    const WasmConfig& w = *s.wasm;
    // Our extension: `wasm` on a standard service whose image is a WASM artifact.
    if (s.service_type == ServiceType::kJob) {
      error(p + ".wasm",
            "only allowed for wasm_* service types and standard services (WASM images)");
    }
    quantity(p + ".wasm.max_memory", w.max_memory);
    if (w.min_instances > w.max_instances) {
      error(p + ".wasm", fmt::format("min_instances {} is greater than max_instances {}",
                                     w.min_instances, w.max_instances));
    }
    for (std::size_t i = 0; i < w.preopens.size(); ++i) {
      std::string path = fmt::format("{}.wasm.preopens[{}]", p, i);
      if (w.preopens[i].source.empty()) error(path + ".source", "is empty");
      if (w.preopens[i].target.empty()) error(path + ".target", "is empty");
    }
    if (s.service_type == ServiceType::kWasmHttp && !s.endpoints.empty() &&
        std::none_of(s.endpoints.begin(), s.endpoints.end(), [](const EndpointSpec& e) {
          return e.protocol == EndpointProtocol::kHttp || e.protocol == EndpointProtocol::kHttps;
        })) {
      error(p + ".endpoints", "a wasm_http service needs at least one http or https endpoint");
    }
    if (!w.capabilities || s.service_type == ServiceType::kStandard) return;
    const WasmCapabilities& c = *w.capabilities;
    WasmCapabilities allowed = default_wasm_capabilities(s.service_type);
    auto check = [&](const char* name, const std::optional<bool>& asked,
                     const std::optional<bool>& may) {
      if (asked.value_or(false) && !may.value_or(false)) {
        error(p + ".wasm.capabilities." + name,
              fmt::format("not available to service type {} (capabilities may only be restricted)",
                          to_string(s.service_type)));
      }
    };
    check("config", c.config, allowed.config);
    check("keyvalue", c.keyvalue, allowed.keyvalue);
    check("logging", c.logging, allowed.logging);
    check("secrets", c.secrets, allowed.secrets);
    check("metrics", c.metrics, allowed.metrics);
    check("http_client", c.http_client, allowed.http_client);
    check("cli", c.cli, allowed.cli);
    check("filesystem", c.filesystem, allowed.filesystem);
    check("sockets", c.sockets, allowed.sockets);
  }

 private:
  std::vector<Diagnostic>& errors_;
  std::vector<Diagnostic>& warnings_;
};

// Finds one dependency cycle reachable from `start` (names, first repeated at the end).
bool find_cycle(const DeploymentSpec& spec, const std::string& name,
                std::vector<std::string>& stack, std::set<std::string>& done,
                std::vector<std::string>& cycle) {
  if (auto it = std::find(stack.begin(), stack.end(), name); it != stack.end()) {
    cycle.assign(it, stack.end());
    cycle.push_back(name);
    return true;
  }
  if (done.contains(name)) return false;
  auto service = spec.services.find(name);
  if (service == spec.services.end()) return false;
  stack.push_back(name);
  for (const auto& dependency : service->second.depends) {
    if (find_cycle(spec, dependency.service, stack, done, cycle)) return true;
  }
  stack.pop_back();
  done.insert(name);
  return false;
}

std::string join_cycle(const std::vector<std::string>& cycle) {
  std::string out;
  for (const auto& name : cycle) out += (out.empty() ? "" : " -> ") + name;
  return out;
}

}  // namespace

WasmCapabilities default_wasm_capabilities(ServiceType type) {
  WasmCapabilities c;
  auto set = [](std::initializer_list<std::optional<bool>*> on, WasmCapabilities& out) {
    for (auto* field : {&out.config, &out.keyvalue, &out.logging, &out.secrets, &out.metrics,
                        &out.http_client, &out.cli, &out.filesystem, &out.sockets}) {
      *field = false;
    }
    for (auto* field : on) *field = true;
  };
  switch (type) {
    case ServiceType::kWasmHttp:
    case ServiceType::kWasmRouter:
      set({&c.config, &c.keyvalue, &c.logging, &c.http_client}, c);
      break;
    case ServiceType::kWasmPlugin:
      set({&c.config, &c.keyvalue, &c.logging, &c.secrets, &c.metrics, &c.http_client, &c.cli,
           &c.filesystem},
          c);
      break;
    case ServiceType::kWasmTransformer:
      set({&c.logging, &c.cli}, c);
      break;
    case ServiceType::kWasmAuthenticator:
      set({&c.config, &c.logging, &c.secrets, &c.http_client}, c);
      break;
    case ServiceType::kWasmRateLimiter:
      set({&c.config, &c.keyvalue, &c.logging, &c.metrics, &c.cli}, c);
      break;
    case ServiceType::kWasmMiddleware:
      set({&c.config, &c.logging, &c.http_client}, c);
      break;
    case ServiceType::kStandard:
    case ServiceType::kJob:
      // Upstream: None. A standard service with a WASM image (our extension) gets the
      // WasmCapabilities defaults: config, keyvalue, logging, metrics.
      set({&c.config, &c.keyvalue, &c.logging, &c.metrics}, c);
      break;
  }
  return c;
}

namespace detail {

void check_values(const DeploymentSpec& spec, std::vector<Diagnostic>& errors,
                  std::vector<Diagnostic>& warnings) {
  Checker check(errors, warnings);
  if (spec.version != "v1") {
    check.error("version", fmt::format("expected \"v1\", got \"{}\"", spec.version));
  }
  static const std::regex kDeployment(R"(^[A-Za-z0-9][A-Za-z0-9-]{2,62}$)");
  if (!std::regex_match(spec.deployment, kDeployment)) {
    check.error("deployment",
                fmt::format("\"{}\" is not a deployment name (3-63 characters: letters, digits "
                            "and '-', starting with a letter or digit)",
                            spec.deployment));
  }
  for (const auto& [name, service] : spec.services) check.service(name, service);
  for (const auto& [name, external] : spec.externals) {
    std::string p = "externals." + name;
    if (external.backends.empty()) check.error(p + ".backends", "needs at least one host:port");
    check.endpoints(p + ".endpoints", external.endpoints);
    check.warn(p, "external services are not proxied by this agent yet; kept but ignored");
  }
  for (const auto& [name, tunnel] : spec.tunnels) {
    std::string p = "tunnels." + name;
    check.port(p + ".local_port", tunnel.local_port);
    check.port(p + ".remote_port", tunnel.remote_port);
    check.cluster_only(p);
  }
  if (spec.api != ApiSpec{}) {
    check.warn("api", "the upstream API server is not part of this agent; kept but ignored");
  }
}

}  // namespace detail

std::vector<Diagnostic> validate_spec(const DeploymentSpec& spec) {
  std::vector<Diagnostic> problems;
  auto add = [&](std::string path, std::string message) {
    problems.push_back(Diagnostic{std::move(path), std::move(message), 0});
  };
  // Unknown dependencies.
  for (const auto& [name, service] : spec.services) {
    for (std::size_t i = 0; i < service.depends.size(); ++i) {
      const auto& dependency = service.depends[i].service;
      std::string path = fmt::format("services.{}.depends[{}].service", name, i);
      if (dependency == name) {
        add(path, fmt::format("service \"{}\" depends on itself", name));
      } else if (!spec.services.contains(dependency)) {
        add(path, fmt::format("unknown service \"{}\"", dependency));
      }
    }
  }
  // Cycles, each reported once (at its smallest name).
  std::set<std::string> reported;
  for (const auto& [name, service] : spec.services) {
    std::vector<std::string> stack;
    std::set<std::string> done;
    std::vector<std::string> cycle;
    if (!find_cycle(spec, name, stack, done, cycle) || cycle.size() <= 2) continue;
    // Rotate so the cycle starts at its smallest name: one message per cycle.
    cycle.pop_back();
    std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
    cycle.push_back(cycle.front());
    std::string text = join_cycle(cycle);
    if (!reported.insert(text).second) continue;
    add(fmt::format("services.{}.depends", cycle.front()),
        fmt::format("dependency cycle {}", text));
  }
  // Host ports: one endpoint per port and transport across the deployment (the agent publishes
  // every endpoint on the host).
  std::map<std::pair<std::uint16_t, bool>, std::string> ports;
  for (const auto& [name, service] : spec.services) {
    for (std::size_t i = 0; i < service.endpoints.size(); ++i) {
      const auto& endpoint = service.endpoints[i];
      if (endpoint.port == 0) continue;
      bool udp = endpoint.protocol == EndpointProtocol::kUdp;
      std::string here = fmt::format("services.{}.endpoints[{}]", name, i);
      auto [it, inserted] = ports.emplace(std::pair{endpoint.port, udp},
                                          fmt::format("{} (\"{}\")", here, endpoint.name));
      if (!inserted) {
        add(here + ".port", fmt::format("port {}/{} is already published by {}", endpoint.port,
                                        udp ? "udp" : "tcp", it->second));
      }
    }
  }
  return problems;
}

Result<std::vector<std::string>> start_order(const DeploymentSpec& spec) {
  for (const auto& problem : validate_spec(spec)) {
    if (problem.message.starts_with("dependency cycle") ||
        problem.message.starts_with("unknown service") ||
        problem.message.find("depends on itself") != std::string::npos) {
      return make_error(Errc::kInvalidArgument, problem.str());
    }
  }
  std::vector<std::string> order;
  std::set<std::string> placed;
  while (order.size() < spec.services.size()) {
    // Services are visited by name, so the order is deterministic.
    for (const auto& [name, service] : spec.services) {
      if (placed.contains(name)) continue;
      bool ready = std::all_of(service.depends.begin(), service.depends.end(),
                               [&](const DependsSpec& d) { return placed.contains(d.service); });
      if (!ready) continue;
      order.push_back(name);
      placed.insert(name);
      break;
    }
  }
  return order;
}

}  // namespace zlayer::spec
