#include "runtime/linux/cni.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <optional>

#include "core/fs.h"
#include "core/subprocess.h"
#include "runtime/linux/netns.h"

namespace zlayer::runtime::linux {
namespace {

constexpr std::string_view kCniVersion = "1.0.0";
constexpr std::string_view kInterfaceName = "eth0";
constexpr const char* kPluginTypes[] = {"bridge", "host-local", "portmap", "firewall"};

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// CNI spec: network names and container ids are [A-Za-z0-9][A-Za-z0-9_.-]*.
Status validate_cni_name(std::string_view field, std::string_view value) {
  bool ok = !value.empty() && value.size() <= 253 && is_alnum(value.front());
  for (char c : value) ok = ok && (is_alnum(c) || c == '_' || c == '.' || c == '-');
  if (!ok) {
    return errorf(Errc::kInvalidArgument,
                  "{} \"{}\": expected letters, digits, '_', '.', '-' starting with a letter or "
                  "digit (CNI spec)",
                  field, value);
  }
  return {};
}

Status validate_interface_name(std::string_view value) {
  bool ok = !value.empty() && value.size() <= 15 && value != "." && value != "..";
  for (char c : value) ok = ok && c > ' ' && c != '/' && c != ':' && c != 0x7f;
  if (!ok) {
    return errorf(Errc::kInvalidArgument,
                  "bridge_name \"{}\": expected a Linux interface name of 1..15 bytes without "
                  "'/', ':' or spaces",
                  value);
  }
  return {};
}

// IPv4 CIDR with the host bits clear and room for a gateway plus one container (prefix ≤ 30).
Status validate_subnet(std::string_view subnet) {
  const auto slash = subnet.find('/');
  const auto bad = [&](std::string_view why) {
    return errorf(Errc::kInvalidArgument, "subnet \"{}\": {}", subnet, why);
  };
  if (slash == std::string_view::npos) return bad("expected an IPv4 CIDR such as 10.89.0.0/16");
  const std::string address(subnet.substr(0, slash));
  const std::string prefix_text(subnet.substr(slash + 1));
  in_addr parsed{};
  if (::inet_pton(AF_INET, address.c_str(), &parsed) != 1) {
    return bad("expected an IPv4 address before '/'");
  }
  int prefix = -1;
  if (!prefix_text.empty() && prefix_text.size() <= 2 &&
      prefix_text.find_first_not_of("0123456789") == std::string::npos) {
    prefix = std::atoi(prefix_text.c_str());
  }
  if (prefix < 1 || prefix > 30) {
    return bad("expected a prefix length of 1..30 (a gateway and at least one container)");
  }
  const std::uint32_t host = ntohl(parsed.s_addr);
  const std::uint32_t mask = ~std::uint32_t{0} << (32 - prefix);
  if ((host & ~mask) != 0) return bad("host bits are set; expected the network address");
  return {};
}

Status validate_ports(const std::vector<PortMapping>& ports) {
  for (const auto& port : ports) {
    if (port.host_port == 0 || port.container_port == 0) {
      return errorf(Errc::kInvalidArgument, "port mapping {}:{}: ports must be 1..65535",
                    port.host_port, port.container_port);
    }
    if (port.protocol != "tcp" && port.protocol != "udp" && port.protocol != "sctp") {
      return errorf(Errc::kInvalidArgument,
                    "port mapping {}:{}: protocol \"{}\", expected tcp, udp or sctp",
                    port.host_port, port.container_port, port.protocol);
    }
    if (!port.host_ip.empty()) {
      unsigned char buffer[sizeof(in6_addr)];
      if (::inet_pton(AF_INET, port.host_ip.c_str(), buffer) != 1 &&
          ::inet_pton(AF_INET6, port.host_ip.c_str(), buffer) != 1) {
        return errorf(Errc::kInvalidArgument, "port mapping {}:{}: host_ip \"{}\" is not an IP",
                      port.host_port, port.container_port, port.host_ip);
      }
    }
  }
  return {};
}

// CNI conventions: the runtimeConfig.portMappings shape.
nlohmann::json ports_to_json(const std::vector<PortMapping>& ports) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& port : ports) {
    nlohmann::json entry = {{"hostPort", port.host_port},
                            {"containerPort", port.container_port},
                            {"protocol", port.protocol}};
    if (!port.host_ip.empty()) entry["hostIP"] = port.host_ip;
    list.push_back(std::move(entry));
  }
  return list;
}

std::vector<PortMapping> ports_from_json(const nlohmann::json& list) {
  std::vector<PortMapping> ports;
  if (!list.is_array()) return ports;
  for (const auto& entry : list) {
    PortMapping port;
    port.host_port = entry.value("hostPort", std::uint16_t{0});
    port.container_port = entry.value("containerPort", std::uint16_t{0});
    port.protocol = entry.value("protocol", std::string("tcp"));
    port.host_ip = entry.value("hostIP", std::string());
    ports.push_back(std::move(port));
  }
  return ports;
}

// CNI spec "Error" codes → our codes.
Errc errc_from_cni_code(int code) {
  switch (code) {
    case 1:  // incompatible CNI version
    case 2:  // unsupported field in network configuration
      return Errc::kUnsupported;
    case 3:  // container unknown or does not exist
      return Errc::kNotFound;
    case 4:  // invalid necessary environment variables
    case 6:  // failed to decode content
    case 7:  // invalid network config
      return Errc::kInvalidArgument;
    case 11:  // try again later
      return Errc::kUnavailable;
    default:
      return Errc::kInternal;
  }
}

std::string plugin_path_env() {
  std::string path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "/usr/bin:/bin";
  // Plugins run iptables, which Debian installs in /usr/sbin (not on every user's PATH).
  for (const char* dir : {"/usr/sbin", "/sbin"}) {
    if ((":" + path + ":").find(":" + std::string(dir) + ":") == std::string::npos) {
      path += ":";
      path += dir;
    }
  }
  return path;
}

struct Invocation {
  std::string_view command;  // ADD | DEL | CHECK
  std::string_view container_id;
  std::string netns;  // may be empty for DEL
  const nlohmann::json* prev_result = nullptr;
  const std::vector<PortMapping>* ports = nullptr;
};

// Execs one plugin of the list per CNI spec "Protocol": parameters in the environment, the
// plugin's configuration (with name, cniVersion, prevResult and runtimeConfig injected as
// libcni does) on stdin, a result or an error object on stdout.
Result<nlohmann::json> invoke_plugin(const NetworkConfig& config, const nlohmann::json& plugin,
                                     const Invocation& call) {
  const std::string type = plugin.at("type").get<std::string>();
  nlohmann::json conf = plugin;
  conf["name"] = config.network_name;
  conf["cniVersion"] = kCniVersion;
  if (call.prev_result != nullptr && !call.prev_result->is_null()) {
    conf["prevResult"] = *call.prev_result;
  }
  const auto capabilities = plugin.find("capabilities");
  if (capabilities != plugin.end() && capabilities->value("portMappings", false) &&
      call.ports != nullptr) {
    conf["runtimeConfig"]["portMappings"] = ports_to_json(*call.ports);
  }
  conf.erase("capabilities");

  SubprocessOptions options;
  options.input = conf.dump();
  options.timeout = config.plugin_timeout;
  options.env = std::map<std::string, std::string>{
      {"CNI_COMMAND", std::string(call.command)},
      {"CNI_CONTAINERID", std::string(call.container_id)},
      {"CNI_NETNS", call.netns},
      {"CNI_IFNAME", std::string(kInterfaceName)},
      {"CNI_ARGS", ""},
      {"CNI_PATH", config.cni_bin_dir.string()},
      {"PATH", plugin_path_env()},
  };
  const std::string binary = (config.cni_bin_dir / type).string();
  const std::string what =
      fmt::format("CNI plugin {} {} for container {}", type, call.command, call.container_id);
  auto ran = run_subprocess({binary}, options);
  if (!ran) return unexpected(std::move(ran).error().wrap(what));
  if (ran->exit_code != 0) {
    const auto error = nlohmann::json::parse(ran->out, nullptr, false);
    if (error.is_object() && error.contains("msg")) {
      const int code = error.value("code", 0);
      std::string message = error.value("msg", std::string());
      const std::string details = error.value("details", std::string());
      if (!details.empty()) message += " (" + details + ")";
      return make_error(errc_from_cni_code(code),
                        fmt::format("{}: {} [CNI error code {}]", what, message, code));
    }
    std::string text = !ran->err.empty() ? ran->err : ran->out;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return errorf(Errc::kInternal, "{}: exited with {}: {}", what, ran->exit_code, text);
  }
  if (call.command != "ADD") return nlohmann::json();
  auto result = nlohmann::json::parse(ran->out, nullptr, false);
  if (!result.is_object()) {
    return errorf(Errc::kInternal, "{}: expected a JSON result on stdout, got \"{}\"", what,
                  ran->out.substr(0, 200));
  }
  return result;
}

struct CacheEntry {
  std::string netns;
  std::vector<PortMapping> ports;
  nlohmann::json result;  // null while the ADD has not finished
};

std::filesystem::path cache_file(const NetworkConfig& config, std::string_view container_id) {
  return config.cache_dir / (std::string(container_id) + ".json");
}

// Errors: kNotFound when there is no entry.
Result<CacheEntry> read_cache(const NetworkConfig& config, std::string_view container_id) {
  const auto path = cache_file(config, container_id);
  ZLAYER_TRY(text, read_file(path));
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (!json.is_object()) {
    return errorf(Errc::kInternal, "CNI result cache {}: not a JSON object", path.string());
  }
  CacheEntry entry;
  entry.netns = json.value("netns", std::string());
  entry.ports = ports_from_json(json.value("portMappings", nlohmann::json::array()));
  entry.result = json.value("result", nlohmann::json());
  return entry;
}

Status write_cache(const NetworkConfig& config, std::string_view container_id,
                   const CacheEntry& entry) {
  const nlohmann::json json = {{"containerId", container_id},
                               {"network", config.network_name},
                               {"ifName", kInterfaceName},
                               {"netns", entry.netns},
                               {"portMappings", ports_to_json(entry.ports)},
                               {"result", entry.result}};
  return atomic_write_file(cache_file(config, container_id), json.dump(2) + "\n", 0600);
}

Status remove_cache(const NetworkConfig& config, std::string_view container_id) {
  const auto path = cache_file(config, container_id);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return sys_error("removing CNI result cache " + path.string(), errno);
  }
  return {};
}

Attachment attachment_from(std::string_view container_id, const CacheEntry& entry) {
  Attachment attachment;
  attachment.container_id = std::string(container_id);
  attachment.netns_path = entry.netns;
  attachment.interface_name = std::string(kInterfaceName);
  attachment.port_mappings = entry.ports;
  attachment.result = entry.result;
  // The container's interface is the one with a sandbox (CNI spec "Success": interfaces[]).
  std::optional<std::size_t> index;
  const auto& interfaces = entry.result.value("interfaces", nlohmann::json::array());
  for (std::size_t i = 0; i < interfaces.size(); ++i) {
    if (interfaces[i].value("name", std::string()) == kInterfaceName &&
        !interfaces[i].value("sandbox", std::string()).empty()) {
      index = i;
      attachment.mac = interfaces[i].value("mac", std::string());
    }
  }
  for (const auto& ip : entry.result.value("ips", nlohmann::json::array())) {
    if (index && ip.contains("interface") &&
        ip.value("interface", -1) != static_cast<int>(*index)) {
      continue;
    }
    attachment.addresses.push_back(
        {ip.value("address", std::string()), ip.value("gateway", std::string())});
  }
  return attachment;
}

// The bridge plugin (1.1.1) finds the ipMasq rules to remove through the addresses on the
// container's eth0; when the namespace is already gone it finds none and leaves a POSTROUTING
// rule and its chain behind for good. We remove them as its TeardownIPMasq would, from the cached
// result: chain "CNI-" + the first 24 hex digits of sha512(network name + container id), rule
// "-s <ip> -j <chain> -m comment --comment 'name: "<net>" id: "<id>"'" (plugins pkg/utils).
Status remove_leftover_masquerade(const NetworkConfig& config, std::string_view container_id,
                                  const Attachment& attachment) {
  const std::string key = config.network_name + std::string(container_id);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (EVP_Digest(key.data(), key.size(), digest, &digest_size, EVP_sha512(), nullptr) != 1) {
    return errorf(Errc::kInternal, "sha512 for the masquerade chain of container {}", container_id);
  }
  std::string chain = "CNI-";
  for (unsigned int i = 0; i < 12; ++i) chain += fmt::format("{:02x}", digest[i]);
  const std::string comment =
      fmt::format("name: \"{}\" id: \"{}\"", config.network_name, container_id);
  const std::string what =
      fmt::format("removing masquerade chain {} of container {}", chain, container_id);
  for (const char* iptables : {"iptables", "ip6tables"}) {
    SubprocessOptions options;
    options.env = std::map<std::string, std::string>{{"PATH", plugin_path_env()}};
    options.timeout = config.plugin_timeout;
    auto listed = run_subprocess({iptables, "-w", "-t", "nat", "-S", chain}, options);
    if (!listed || listed->exit_code != 0) continue;  // no such chain: nothing was left behind
    const bool v6 = std::string_view(iptables) == "ip6tables";
    for (const auto& address : attachment.addresses) {
      const std::string ip = address.address.substr(0, address.address.find('/'));
      if ((ip.find(':') != std::string::npos) != v6) continue;
      // Not there is fine: the plugin may have removed the rule and not the chain.
      (void)run_subprocess({iptables, "-w", "-t", "nat", "-D", "POSTROUTING", "-s", ip, "-j", chain,
                            "-m", "comment", "--comment", comment},
                           options);
    }
    for (const char* flag : {"-F", "-X"}) {
      auto ran = run_subprocess({iptables, "-w", "-t", "nat", flag, chain}, options);
      if (!ran) return unexpected(std::move(ran).error().wrap(what));
      if (ran->exit_code != 0) {
        return errorf(Errc::kInternal, "{}: {} {} failed: {}", what, iptables, flag, ran->err);
      }
    }
  }
  return {};
}

}  // namespace

std::string Attachment::ipv4() const {
  for (const auto& address : addresses) {
    const std::string ip = address.address.substr(0, address.address.find('/'));
    in_addr parsed{};
    if (::inet_pton(AF_INET, ip.c_str(), &parsed) == 1) return ip;
  }
  return {};
}

NetworkConfig NetworkConfig::defaults(const Paths& paths) {
  NetworkConfig config;
  config.ipam_data_dir = paths.runtime_dir / "cni" / "ipam";
  config.cache_dir = paths.runtime_dir / "cni" / "results";
  return config;
}

Result<CniNetwork> CniNetwork::create(NetworkConfig config) {
  ZLAYER_CHECK(validate_cni_name("network_name", config.network_name));
  ZLAYER_CHECK(validate_interface_name(config.bridge_name));
  ZLAYER_CHECK(validate_subnet(config.subnet));
  if (config.ipam_data_dir.empty() || config.cache_dir.empty()) {
    return errorf(Errc::kInvalidArgument,
                  "network {}: ipam_data_dir and cache_dir must be set (NetworkConfig::defaults)",
                  config.network_name);
  }
  for (const char* type : kPluginTypes) {
    const auto binary = config.cni_bin_dir / type;
    if (::access(binary.c_str(), X_OK) != 0) {
      return errorf(Errc::kNotFound,
                    "CNI plugin {} not found or not executable (Debian package "
                    "containernetworking-plugins installs them in /usr/lib/cni)",
                    binary.string());
    }
  }
  ZLAYER_CHECK(make_dirs(config.ipam_data_dir, 0700));
  ZLAYER_CHECK(make_dirs(config.cache_dir, 0700));

  nlohmann::json conflist = {
      {"cniVersion", kCniVersion},
      {"name", config.network_name},
      {"plugins",
       {{{"type", "bridge"},
         {"bridge", config.bridge_name},
         {"isGateway", true},
         {"ipMasq", true},
         {"hairpinMode", true},
         {"ipam",
          {{"type", "host-local"},
           {"ranges", {{{{"subnet", config.subnet}}}}},
           {"routes", {{{"dst", "0.0.0.0/0"}}}},
           {"dataDir", config.ipam_data_dir.string()}}}},
        {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}, {"snat", true}},
        // Hosts with Docker set the FORWARD policy to DROP; firewall accepts forwarded traffic
        // from the container and replies to it (docs/design.md §8).
        {{"type", "firewall"}}}}};
  return CniNetwork(std::move(config), std::move(conflist));
}

Result<Attachment> CniNetwork::attach(std::string_view container_id,
                                      const std::filesystem::path& netns_path,
                                      const std::vector<PortMapping>& ports) {
  ZLAYER_CHECK(validate_cni_name("container id", container_id));
  ZLAYER_CHECK(validate_ports(ports));
  if (!is_netns(netns_path)) {
    return errorf(Errc::kNotFound, "attaching container {}: {} is not a network namespace",
                  container_id, netns_path.string());
  }
  ZLAYER_TRY(lock, FileLock::acquire(config_.cache_dir / ".lock"));
  auto cached = read_cache(config_, container_id);
  if (cached && !cached->result.is_null()) {
    return errorf(Errc::kAlreadyExists, "container {} is already attached to network {}",
                  container_id, config_.network_name);
  }
  const auto& plugins = conflist_.at("plugins");
  if (cached) {
    // An ADD that never finished (the agent died mid-chain): undo it before starting over, or
    // bridge would find eth0 already there.
    for (auto it = plugins.rbegin(); it != plugins.rend(); ++it) {
      (void)invoke_plugin(config_, *it,
                          {"DEL", container_id, netns_path.string(), nullptr, &cached->ports});
    }
  }
  // Recorded before the first plugin runs, so a crash mid-ADD still leaves detach the ports.
  CacheEntry entry{netns_path.string(), ports, nlohmann::json()};
  ZLAYER_CHECK(write_cache(config_, container_id, entry));

  nlohmann::json previous;
  for (const auto& plugin : plugins) {
    auto added =
        invoke_plugin(config_, plugin, {"ADD", container_id, entry.netns, &previous, &ports});
    if (!added) {
      Error error = std::move(added).error();
      // libcni leaves the cleanup to its caller; we are that caller: DEL the whole chain.
      Status undone;
      for (auto it = plugins.rbegin(); it != plugins.rend(); ++it) {
        auto deleted =
            invoke_plugin(config_, *it, {"DEL", container_id, entry.netns, nullptr, &ports});
        if (!deleted && undone) undone = unexpected(std::move(deleted).error());
      }
      if (undone) {
        (void)remove_cache(config_, container_id);
      } else {
        error.message += "; cleaning up with DEL also failed: " + undone.error().message;
      }
      return unexpected(std::move(error).wrap(
          fmt::format("attaching container {} to network {}", container_id, config_.network_name)));
    }
    previous = std::move(*added);
  }
  entry.result = std::move(previous);
  ZLAYER_CHECK(write_cache(config_, container_id, entry));
  return attachment_from(container_id, entry);
}

Status CniNetwork::detach(std::string_view container_id, const std::filesystem::path& netns_path) {
  ZLAYER_CHECK(validate_cni_name("container id", container_id));
  ZLAYER_TRY(lock, FileLock::acquire(config_.cache_dir / ".lock"));
  CacheEntry entry;
  auto cached = read_cache(config_, container_id);
  if (cached) {
    entry = std::move(*cached);
  } else if (cached.error().code != Errc::kNotFound) {
    return unexpected(std::move(cached).error());
  }
  // bridge's DEL fails on a path that is not a namespace but treats an empty CNI_NETNS as "the
  // namespace is gone": release the address only.
  const std::string netns = is_netns(netns_path) ? netns_path.string() : std::string();
  const auto& plugins = conflist_.at("plugins");
  Status status;
  for (auto it = plugins.rbegin(); it != plugins.rend(); ++it) {
    auto deleted =
        invoke_plugin(config_, *it, {"DEL", container_id, netns, &entry.result, &entry.ports});
    if (!deleted && status) {
      status = unexpected(std::move(deleted).error().wrap(fmt::format(
          "detaching container {} from network {}", container_id, config_.network_name)));
    }
  }
  if (status && netns.empty() && !entry.result.is_null()) {
    status =
        remove_leftover_masquerade(config_, container_id, attachment_from(container_id, entry));
  }
  if (!status) return status;
  return remove_cache(config_, container_id);
}

Status CniNetwork::check(std::string_view container_id) {
  ZLAYER_CHECK(validate_cni_name("container id", container_id));
  ZLAYER_TRY(lock, FileLock::acquire(config_.cache_dir / ".lock"));
  auto cached = read_cache(config_, container_id);
  if (!cached || cached->result.is_null()) {
    return errorf(Errc::kNotFound, "container {} is not attached to network {}", container_id,
                  config_.network_name);
  }
  for (const auto& plugin : conflist_.at("plugins")) {
    auto checked = invoke_plugin(
        config_, plugin, {"CHECK", container_id, cached->netns, &cached->result, &cached->ports});
    if (!checked) {
      return unexpected(std::move(checked).error().wrap(
          fmt::format("checking container {} on network {}", container_id, config_.network_name)));
    }
  }
  return {};
}

Result<Attachment> CniNetwork::attachment(std::string_view container_id) const {
  ZLAYER_CHECK(validate_cni_name("container id", container_id));
  auto cached = read_cache(config_, container_id);
  if (!cached || cached->result.is_null()) {
    return errorf(Errc::kNotFound, "container {} is not attached to network {}", container_id,
                  config_.network_name);
  }
  return attachment_from(container_id, *cached);
}

}  // namespace zlayer::runtime::linux
