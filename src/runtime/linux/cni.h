// Container networking through the standard CNI plugins (CNI spec 1.0.0, containernetworking
// "SPEC.md"): one bridge network per agent, built as the chain bridge → host-local IPAM → portmap →
// firewall and executed the way libcni executes a conflist. CniNetwork owns the network's
// configuration, its ADD-result cache (what DEL and CHECK need after an agent restart) and nothing
// else; the plugins own the bridge, veths, addresses and iptables rules. Thread-safe:
// attach/detach/check may be called from any thread and any number of processes (a file lock
// serialises them).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/paths.h"
#include "runtime/container_config.h"

namespace zlayer::runtime::linux {

// Every option is configuration so parallel agents (tests) never share a bridge, subnet or
// IPAM directory. The plugins run in the network namespace of the calling thread: that is the
// "host" side of the network (the bridge and the iptables rules live there).
struct NetworkConfig {
  std::string network_name = "zlayer";  // CNI network name: names iptables chains/comments and
                                        // host-local's directory <ipam_data_dir>/<name>
  std::string bridge_name = "zlayer0";  // Linux interface name, at most 15 bytes
  std::string subnet = "10.89.0.0/16";  // IPv4 CIDR, prefix 1..30; .1 of it is the gateway
  std::filesystem::path ipam_data_dir;  // host-local `dataDir`: one file per address in use
  std::filesystem::path cache_dir;      // our ADD results, one JSON file per container
  std::filesystem::path cni_bin_dir = "/usr/lib/cni";  // Debian's containernetworking-plugins
  std::chrono::milliseconds plugin_timeout{60'000};    // per plugin call; then SIGKILL

  // The agent's defaults: IPAM data and the result cache under $ZLAYER_RUNTIME_DIR/cni/, which
  // dies with the machine exactly as the network namespaces and iptables rules do (so a reboot
  // never leaves addresses marked in use), but survives agent restarts.
  static NetworkConfig defaults(const Paths& paths);
};

// One published port (CNI conventions "portMappings" capability); defined with ContainerConfig.
using runtime::PortMapping;

struct InterfaceAddress {
  std::string address;  // CIDR, e.g. "10.89.0.2/16"
  std::string gateway;  // e.g. "10.89.0.1"; empty when the plugin gave none
};

// A container's place on the network: what ADD returned.
struct Attachment {
  std::string container_id;
  std::filesystem::path netns_path;
  std::string interface_name;  // inside the container, always "eth0"
  std::string mac;             // of interface_name, empty if the plugin did not say
  std::vector<InterfaceAddress> addresses;
  std::vector<PortMapping> port_mappings;
  nlohmann::json result;  // the final CNI result (spec 1.0 "Success" object)

  // The first IPv4 address without its prefix length ("10.89.0.2"); empty when there is none.
  [[nodiscard]] std::string ipv4() const;
};

// The conflist: bridge (isGateway, ipMasq, hairpinMode) with host-local IPAM, then portmap with
// the portMappings capability and snat (which also makes 127.0.0.1:<host port> work: portmap sets
// route_localnet on the bridge and masquerades hairpin/localhost traffic), then firewall (accepts
// the container's forwarded traffic in FORWARD, for hosts whose FORWARD policy is DROP).
class CniNetwork {
 public:
  // Validates `config` (names, CIDR, plugin binaries present) and prepares the directories.
  // Touches no network state. Errors: kInvalidArgument (a bad name or subnet, naming the field),
  // kNotFound (a plugin binary missing from cni_bin_dir, naming it), errno-mapped for dirs.
  [[nodiscard]] static Result<CniNetwork> create(NetworkConfig config);

  [[nodiscard]] const NetworkConfig& config() const { return config_; }
  // The network configuration list we generate (CNI spec "Network configuration lists").
  [[nodiscard]] const nlohmann::json& conflist() const { return conflist_; }

  // CNI ADD of the whole chain for `container_id` (CNI rules: [A-Za-z0-9][A-Za-z0-9_.-]*) into
  // the network namespace pinned at `netns_path`, as interface eth0, publishing `ports`.
  // A failed ADD is undone at once by DEL of the whole chain (reverse order), as libcni's callers
  // do; the ADD error is returned (with the DEL error appended if that failed too).
  // Errors: kInvalidArgument (bad id or port mapping; plugin codes 4, 6, 7), kAlreadyExists
  // (already attached: detach first), kUnsupported (plugin codes 1, 2), kNotFound (code 3),
  // kUnavailable (code 11, e.g. try again), kDeadlineExceeded (a plugin hung), kInternal (others;
  // the message names the plugin, the command and the plugin's msg/details).
  [[nodiscard]] Result<Attachment> attach(std::string_view container_id,
                                          const std::filesystem::path& netns_path,
                                          const std::vector<PortMapping>& ports);

  // CNI DEL of the chain in reverse order, with the cached ADD result as prevResult and the
  // cached port mappings. Idempotent: an unknown container, a second detach, a failed or
  // half-finished ADD and a missing network namespace are all fine (when `netns_path` no longer
  // holds a namespace, CNI_NETNS is passed empty so the plugins release what lives outside it,
  // and we remove the ipMasq rule bridge 1.1.1 would leave behind in that case).
  // Every plugin is called even when one fails; the first error is returned and the cache is
  // kept so a later detach can retry. Call it before deleting the namespace: that is the order
  // the plugins expect. Errors: as attach.
  [[nodiscard]] Status detach(std::string_view container_id,
                              const std::filesystem::path& netns_path);

  // CNI CHECK of the chain against the cached result. Errors: kNotFound when the container is
  // not attached; plugin errors as attach (e.g. the veth or the address is gone).
  [[nodiscard]] Status check(std::string_view container_id);

  // The cached attachment of `container_id` (for an agent that restarted and wants the IP
  // back). Errors: kNotFound when it is not attached.
  [[nodiscard]] Result<Attachment> attachment(std::string_view container_id) const;

 private:
  CniNetwork(NetworkConfig config, nlohmann::json conflist)
      : config_(std::move(config)), conflist_(std::move(conflist)) {}

  NetworkConfig config_;
  nlohmann::json conflist_;
};

}  // namespace zlayer::runtime::linux
