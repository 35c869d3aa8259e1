#include "support/registry_fixture.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/ranges.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "core/fs.h"
#include "core/subprocess.h"

extern char** environ;

namespace zlayer::testing {
namespace {

constexpr const char* kRegistryBinary = "/usr/bin/docker-registry";
constexpr int kPortAttempts = 8;
constexpr auto kReadyTimeout = std::chrono::seconds(30);
constexpr auto kStopGrace = std::chrono::seconds(5);
constexpr auto kPollInterval = std::chrono::milliseconds(20);

// Runs a one-shot tool and turns a non-zero exit into an error quoting its stderr.
Result<std::string> run_tool(const std::vector<std::string>& argv) {
  auto result = run_subprocess(argv, {.timeout = std::chrono::seconds(60)});
  if (!result) return unexpected(result.error().wrap(fmt::format("running {}", argv[0])));
  if (result->exit_code != 0) {
    return errorf(Errc::kInternal, "{} exited with {}: {}", fmt::join(argv, " "), result->exit_code,
                  result->err);
  }
  return std::move(result->out);
}

// A port the kernel considered free a moment ago. Another process may take it before the
// registry binds it; launch() notices and start() retries with a new one.
Result<int> pick_free_port() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return sys_error("socket", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return sys_error("bind 127.0.0.1:0", errno);
  }
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return sys_error("getsockname", errno);
  }
  return static_cast<int>(ntohs(addr.sin_port));
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string tail_of(const std::filesystem::path& file, std::size_t max_bytes = 2000) {
  auto text = read_file(file);
  if (!text) return "(no log: " + text.error().message + ")";
  if (text->size() > max_bytes) return "…" + text->substr(text->size() - max_bytes);
  return *text;
}

size_t discard_body(char*, size_t size, size_t nmemb, void*) { return size * nmemb; }

// True once `url`/v2/ answers with any HTTP status (401 counts: the server is up).
bool answers(const std::string& url, const std::filesystem::path& ca_cert) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return false;
  std::string v2 = url + "/v2/";
  curl_easy_setopt(curl, CURLOPT_URL, v2.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 2000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  if (!ca_cert.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_cert.c_str());
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  }
  curl_easy_cleanup(curl);
  return status > 0;
}

}  // namespace

Result<std::unique_ptr<RegistryFixture>> RegistryFixture::start(RegistryFlavor flavor) {
  if (::access(kRegistryBinary, X_OK) != 0) {
    return errorf(Errc::kNotFound, "{} not found: install Debian's docker-registry",
                  kRegistryBinary);
  }
  std::unique_ptr<RegistryFixture> fixture(new RegistryFixture(flavor));
  if (fixture->dir_.path().empty()) {
    return make_error(Errc::kInternal, "registry fixture: could not create its temp dir");
  }
  ZLAYER_CHECK(make_dirs(fixture->dir_.path() / "storage"));
  if (fixture->tls()) ZLAYER_CHECK(fixture->make_tls_material());

  Error last{Errc::kUnavailable, "no attempt made"};
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    ZLAYER_TRY(port, pick_free_port());
    auto launched = fixture->launch(port);
    if (launched) return fixture;
    last = launched.error();
    if (last.code != Errc::kAlreadyExists) break;
  }
  return unexpected(std::move(last));
}

Status RegistryFixture::make_tls_material() {
  const auto& d = dir_.path();
  ca_cert_ = d / "ca.crt";
  // EC P-256 keys: generated in milliseconds, and both Go's TLS and OpenSSL accept them.
  ZLAYER_CHECK(run_tool({"openssl",
                         "req",
                         "-x509",
                         "-newkey",
                         "ec",
                         "-pkeyopt",
                         "ec_paramgen_curve:prime256v1",
                         "-nodes",
                         "-keyout",
                         d / "ca.key",
                         "-out",
                         ca_cert_,
                         "-days",
                         "2",
                         "-subj",
                         "/CN=zlayer test CA",
                         "-addext",
                         "basicConstraints=critical,CA:TRUE",
                         "-addext",
                         "keyUsage=critical,keyCertSign,cRLSign"}));
  ZLAYER_CHECK(run_tool({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", d / "server.key",
                         "-out", d / "server.csr", "-subj", "/CN=127.0.0.1"}));
  ZLAYER_CHECK(atomic_write_file(d / "server.ext",
                                 "basicConstraints=CA:FALSE\n"
                                 "keyUsage=critical,digitalSignature,keyEncipherment\n"
                                 "extendedKeyUsage=serverAuth\n"
                                 "subjectAltName=IP:127.0.0.1,DNS:localhost\n"));
  ZLAYER_CHECK(run_tool({"openssl", "x509", "-req", "-in", d / "server.csr", "-CA", ca_cert_,
                         "-CAkey", d / "ca.key", "-CAcreateserial", "-out", d / "server.crt",
                         "-days", "2", "-extfile", d / "server.ext"}));
  username_ = "zlayer";
  password_ = "s3cret-pass";
  ZLAYER_TRY(htpasswd, run_tool({"htpasswd", "-Bbn", username_, password_}));
  return atomic_write_file(d / "htpasswd", htpasswd);
}

Status RegistryFixture::write_config(int port) const {
  const auto& d = dir_.path();
  std::string config = fmt::format(
      "version: 0.1\n"
      "log:\n"
      "  level: info\n"
      "  accesslog:\n"
      "    disabled: false\n"
      "storage:\n"
      "  filesystem:\n"
      "    rootdirectory: {}\n"
      "  delete:\n"
      "    enabled: true\n"
      "http:\n"
      "  addr: 127.0.0.1:{}\n"
      "  secret: zlayer-test-secret\n",
      (d / "storage").string(), port);
  if (tls()) {
    config += fmt::format(
        "  tls:\n"
        "    certificate: {}\n"
        "    key: {}\n"
        "auth:\n"
        "  htpasswd:\n"
        "    realm: zlayer-test\n"
        "    path: {}\n",
        (d / "server.crt").string(), (d / "server.key").string(), (d / "htpasswd").string());
  }
  return atomic_write_file(d / "config.yml", config);
}

Status RegistryFixture::launch(int port) {
  ZLAYER_CHECK(write_config(port));
  auto log = log_path();
  UniqueFd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!log_fd.valid()) return sys_error(fmt::format("opening {}", log.string()), errno);
  UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_fd.valid()) return sys_error("opening /dev/null", errno);

  // Everything the child needs is prepared before fork: after it only async-signal-safe calls.
  std::string config = (dir_.path() / "config.yml").string();
  std::vector<char*> argv = {const_cast<char*>(kRegistryBinary), const_cast<char*>("serve"),
                             config.data(), nullptr};
  pid_t parent = ::getpid();
  pid_t child = ::fork();
  if (child < 0) return sys_error("fork", errno);
  if (child == 0) {
    // If the test process dies without running the destructor, the registry dies with it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(null_fd.get(), 0);
    ::dup2(log_fd.get(), 1);
    ::dup2(log_fd.get(), 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
    ::execve(kRegistryBinary, argv.data(), environ);
    ::_exit(127);
  }
  pid_ = child;
  port_ = port;
  host_port_ = fmt::format("127.0.0.1:{}", port);

  auto deadline = std::chrono::steady_clock::now() + kReadyTimeout;
  while (true) {
    int status = 0;
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      std::string log_text = tail_of(log);
      if (log_text.find("address already in use") != std::string::npos) {
        return errorf(Errc::kAlreadyExists, "port {} was taken before the registry bound it", port);
      }
      return errorf(Errc::kUnavailable, "docker-registry on {} exited (status {:#x}); log: {}",
                    host_port_, status, log_text);
    }
    if (answers(url(), ca_cert_)) break;
    if (std::chrono::steady_clock::now() > deadline) {
      std::string log_text = tail_of(log);
      stop();
      return errorf(Errc::kUnavailable,
                    "docker-registry on {} did not answer GET /v2/ within {} s; log: {}",
                    host_port_, kReadyTimeout.count(), log_text);
    }
    std::this_thread::sleep_for(kPollInterval);
  }

  if (tls()) {
    certs_dir_ = dir_.path() / "certs.d";
    ZLAYER_CHECK(make_dirs(certs_dir_ / host_port_));
    ZLAYER_TRY(ca, read_file(ca_cert_));
    ZLAYER_CHECK(atomic_write_file(certs_dir_ / host_port_ / "ca.crt", ca));
  }
  return {};
}

RegistryFixture::~RegistryFixture() { stop(); }

void RegistryFixture::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + kStopGrace;
  int status = 0;
  while (true) {
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_ || (done < 0 && errno == ECHILD)) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  pid_ = -1;
}

std::string RegistryFixture::url() const {
  return fmt::format("{}://{}", tls() ? "https" : "http", host_port_);
}

RegistryEndpoint RegistryFixture::endpoint() const {
  RegistryEndpoint e;
  e.host_port = host_port_;
  if (tls()) e.cert_dir = certs_dir_ / host_port_;
  e.username = username_;
  e.password = password_;
  return e;
}

Status RegistryFixture::write_docker_config(const std::filesystem::path& dir) const {
  if (username_.empty()) {
    return errorf(Errc::kFailedPrecondition,
                  "registry {} is plain http without auth: no credentials to write", host_port_);
  }
  ZLAYER_CHECK(make_dirs(dir));
  std::string json = fmt::format(R"({{"auths":{{"{}":{{"auth":"{}"}}}}}})", host_port_,
                                 base64(username_ + ":" + password_));
  return atomic_write_file(dir / "config.json", json + "\n", 0600);
}

}  // namespace zlayer::testing
