// A real registry for tests: Debian's `docker-registry` (CNCF distribution 2.8) serving on
// 127.0.0.1 at a free port with its storage in a TempDir, either plain http or TLS from a test CA
// with htpasswd basic auth. The fixture owns the registry process (stopped by pid: SIGTERM, then
// SIGKILL, then waitpid) and every file it made. Not thread-safe; create, use and destroy it on
// one thread, which must outlive it (the registry gets PR_SET_PDEATHSIG so a crashed test does
// not leave it behind, and that signal follows the thread that forked).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>

#include "core/error.h"
#include "support/temp_dir.h"

namespace zlayer::testing {

enum class RegistryFlavor {
  kPlainHttp,     // http://127.0.0.1:PORT, anonymous push and pull
  kTlsBasicAuth,  // https with a test CA, basic auth (the registry allows it only over TLS)
};

// Where and how to reach a registry: what skopeo (and our registry client) needs.
struct RegistryEndpoint {
  std::string host_port;           // "127.0.0.1:40123"
  std::filesystem::path cert_dir;  // directory holding ca.crt for this host; empty = plain http
  std::string username;            // empty = anonymous
  std::string password;
};

class RegistryFixture {
 public:
  // Generates the CA and server certificate (kTlsBasicAuth, with the `openssl` CLI) and the
  // htpasswd file (`htpasswd -Bbn`), picks a free port (bind port 0, close; retried when the
  // registry then finds the port taken), starts `/usr/bin/docker-registry serve <config.yml>`
  // and waits (≤ 30 s) until `GET /v2/` answers with any HTTP status.
  // Errors: kNotFound when docker-registry/openssl/htpasswd is missing; kUnavailable when the
  // registry exits or does not answer in time (the message quotes the end of its log);
  // errno-mapped others.
  static Result<std::unique_ptr<RegistryFixture>> start(
      RegistryFlavor flavor = RegistryFlavor::kPlainHttp);

  // Stops the registry (if still running) and removes its directory.
  ~RegistryFixture();
  RegistryFixture(const RegistryFixture&) = delete;
  RegistryFixture& operator=(const RegistryFixture&) = delete;

  // SIGTERM, up to 5 s for it to exit, then SIGKILL; reaps it. Idempotent.
  void stop();

  [[nodiscard]] RegistryFlavor flavor() const { return flavor_; }
  [[nodiscard]] bool tls() const { return flavor_ == RegistryFlavor::kTlsBasicAuth; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] int port() const { return port_; }
  // "127.0.0.1:PORT": the registry part of an image reference.
  [[nodiscard]] const std::string& host_port() const { return host_port_; }
  // "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT".
  [[nodiscard]] std::string url() const;
  // The test CA certificate (PEM); empty for kPlainHttp.
  [[nodiscard]] const std::filesystem::path& ca_cert() const { return ca_cert_; }
  // A Docker certs.d-style directory: <certs_dir>/<host:port>/ca.crt (RegistryOptions::certs_dir).
  // Empty for kPlainHttp.
  [[nodiscard]] const std::filesystem::path& certs_dir() const { return certs_dir_; }
  // Credentials accepted by the kTlsBasicAuth registry; empty for kPlainHttp.
  [[nodiscard]] const std::string& username() const { return username_; }
  [[nodiscard]] const std::string& password() const { return password_; }
  // The registry's stdout+stderr, for diagnostics.
  [[nodiscard]] std::filesystem::path log_path() const { return dir_.path() / "registry.log"; }
  [[nodiscard]] RegistryEndpoint endpoint() const;

  // Writes `dir`/config.json (Docker's format: {"auths":{"<host:port>":{"auth":base64(u:p)}}})
  // with this registry's credentials, creating `dir`. Point DOCKER_CONFIG or
  // RegistryOptions::docker_config at it. Errors: kFailedPrecondition for kPlainHttp (no
  // credentials); errno-mapped write errors.
  [[nodiscard]] Status write_docker_config(const std::filesystem::path& dir) const;

 private:
  explicit RegistryFixture(RegistryFlavor flavor) : dir_("zlayer-registry-"), flavor_(flavor) {}
  Status make_tls_material();
  Status write_config(int port) const;
  // One attempt on one port. kAlreadyExists when the port turned out to be taken.
  Status launch(int port);

  TempDir dir_;
  RegistryFlavor flavor_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string host_port_;
  std::filesystem::path ca_cert_;
  std::filesystem::path certs_dir_;
  std::string username_;
  std::string password_;
};

}  // namespace zlayer::testing
