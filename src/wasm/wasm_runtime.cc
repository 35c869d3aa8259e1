#include "wasm/wasm_runtime.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/fs.h"
#include "core/subprocess.h"
#include "image/wasm_artifact.h"
#include "runtime/logs/log_store.h"
#include "wasm/wasi/wasi.h"

namespace zlayer::wasm {
namespace fs = std::filesystem;
using runtime::ContainerState;
using runtime::ExitStatus;
using state::Value;
using Phase = ContainerState::Phase;

namespace {

constexpr std::string_view kAgentExited = "agent exited";

std::int64_t unix_now() { return static_cast<std::int64_t>(::time(nullptr)); }

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// This process as owner.json records it.
struct Owner {
  pid_t pid = 0;
  std::uint64_t start_time = 0;
};

const Owner& self_owner() {
  static const Owner owner{::getpid(), process_start_time(::getpid()).value_or(0)};
  return owner;
}

std::optional<Owner> read_owner(const fs::path& dir) {
  auto text = read_file(dir / "owner.json");
  if (!text) return std::nullopt;
  auto json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  return Owner{json.value("pid", 0), json.value("start_time", std::uint64_t{0})};
}

Status write_owner(const fs::path& path, std::string_view text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return sys_error(fmt::format("creating {}", path.string()), errno);
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return sys_error(fmt::format("writing {}", path.string()), errno);
  }
  return {};
}

bool owner_alive(const Owner& owner) {
  if (owner.pid <= 0) return false;
  auto start = process_start_time(owner.pid);
  return start && *start == owner.start_time;
}

// argv[0]: the module file's name, or the artifact repository's last component.
std::string module_name(std::string_view ref, bool local) {
  if (local) return fs::path(ref).filename().string();
  auto parsed = image::Reference::parse(ref);
  std::string repo = parsed ? parsed->repository : std::string(ref);
  auto slash = repo.rfind('/');
  return slash == std::string::npos ? repo : repo.substr(slash + 1);
}

// What the instance is told about its end, as the log-store reader and state.db need it.
ContainerState exited_state(ExitStatus exit) {
  ContainerState s;
  s.phase = Phase::kExited;
  exit.finished_at = std::chrono::system_clock::now();
  s.exit = exit;
  return s;
}
ContainerState failed_state(std::string reason) {
  ContainerState s;
  s.phase = Phase::kFailed;
  s.reason = std::move(reason);
  return s;
}

}  // namespace

struct WasmRuntime::ModuleSource {
  std::optional<fs::path> file;  // a module file (local, or in an unpacked image); else by digest
  image::Digest digest;
  std::string name;  // for messages
  std::function<Result<std::string>()> fetch;
  std::string argv0;
  image::ImageConfig image;           // empty for artifacts and local files
  bool module_in_entrypoint = false;  // Docker+Wasm: entrypoint[0] is the module's path
};

struct WasmRuntime::Instance {
  ContainerId id;
  std::shared_ptr<const Module> module;
  std::shared_ptr<wasi::WasiContext> wasi;
  std::unique_ptr<::zlayer::wasm::Instance> engine;
  std::string entry;
  std::optional<std::uint64_t> memory_cap;
  std::unique_ptr<runtime::logs::LogWriter> log;
  OutputTee tee;
  std::thread thread;

  std::mutex mutex;
  std::condition_variable changed;
  ContainerState state;
  int stop_signal = 0;  // set by stop/kill before the run ends
};

WasmRuntime::WasmRuntime(runtime::WasmConfig config, image::ImageService* images, state::StateDb db)
    : config_(std::move(config)),
      images_(images),
      cache_(config_.paths.wasm_cache_dir),
      db_(std::move(db)) {}

Result<std::unique_ptr<WasmRuntime>> WasmRuntime::open(runtime::WasmConfig config,
                                                       image::ImageService* images) {
  ZLAYER_CHECK(make_dirs(config.paths.containers_dir()));
  ZLAYER_TRY(db, state::StateDb::open(config.paths.state_db()));
  std::unique_ptr<WasmRuntime> rt(new WasmRuntime(std::move(config), images, std::move(db)));
  ZLAYER_CHECK(rt->sweep_orphans());
  return rt;
}

WasmRuntime::~WasmRuntime() {
  std::vector<std::shared_ptr<Instance>> all;
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, instance] : instances_) all.push_back(instance);
  }
  for (auto& instance : all) {
    bool never_started = false;
    {
      std::lock_guard lock(instance->mutex);
      if (instance->stop_signal == 0) instance->stop_signal = SIGKILL;
      never_started = instance->state.phase == Phase::kCreated;
    }
    // Its row must not stay `created` for the next process to call failed{agent exited}.
    if (never_started) finish(*instance, exited_state(ExitStatus::killed_by(SIGKILL)));
    instance->engine->request_stop();
    instance->wasi->interrupt();
    if (instance->thread.joinable()) instance->thread.join();
  }
}

bool WasmRuntime::is_local_module(std::string_view ref) {
  return ends_with(ref, ".wasm") || ends_with(ref, ".wat") || ref.rfind('/', 0) == 0 ||
         ref.rfind("./", 0) == 0 || ref.rfind("../", 0) == 0;
}

fs::path WasmRuntime::instance_dir(const ContainerId& id) const {
  return config_.paths.containers_dir() / id.str();
}

fs::path WasmRuntime::log_path(const ContainerId& id) const {
  return instance_dir(id) / "container.log";
}

Result<std::int64_t> WasmRuntime::db_exec(std::string_view sql, const std::vector<Value>& params) {
  std::lock_guard lock(db_mutex_);
  return db_.exec(sql, params);
}

Result<std::vector<state::Row>> WasmRuntime::db_query(std::string_view sql,
                                                      const std::vector<Value>& params) {
  std::lock_guard lock(db_mutex_);
  return db_.query(sql, params);
}

std::shared_ptr<WasmRuntime::Instance> WasmRuntime::find(const ContainerId& id) {
  std::lock_guard lock(mutex_);
  auto it = instances_.find(id.str());
  return it == instances_.end() ? nullptr : it->second;
}

Status WasmRuntime::sweep_orphans() {
  ZLAYER_TRY(rows, db_query("SELECT id FROM containers WHERE backend = 'wasm' AND status IN "
                            "('created', 'running')",
                            {}));
  for (const auto& r : rows) {
    const std::string id = state::as_string(r[0]);
    auto owner = read_owner(config_.paths.containers_dir() / id);
    if (owner && owner_alive(*owner)) continue;
    ZLAYER_CHECK(db_exec(
        "UPDATE containers SET status = 'failed', failed_reason = ?2, finished_at = ?3 WHERE id = "
        "?1 AND status IN ('created', 'running')",
        {id, std::string(kAgentExited), unix_now()}));
  }
  return {};
}

Status WasmRuntime::pull_image(std::string_view ref) {
  if (images_ == nullptr) {
    return errorf(Errc::kFailedPrecondition,
                  "{}: the wasm runtime was opened without an image "
                  "store, so it can only run local .wasm/.wat files",
                  ref);
  }
  auto details = images_->inspect(ref);
  if (!details) {
    if (details.error().code != Errc::kNotFound) return unexpected(details.error());
    ZLAYER_TRY(parsed, image::Reference::parse(ref));
    image::PullOptions options;
    options.platform = image::wasm_platforms().front();
    ZLAYER_TRY(pulled, images_->pull(parsed, options));
    details = std::move(pulled.image);
  }
  if (details->record.kind != "wasm") {
    return errorf(Errc::kInvalidArgument,
                  "{} is a container image (kind {}), not a WASM artifact; run it with the linux "
                  "backend",
                  ref, details->record.kind);
  }
  return {};
}

Result<WasmRuntime::ModuleSource> WasmRuntime::module_source(
    const runtime::ContainerConfig& config) {
  const std::string& ref = config.image_ref;
  ModuleSource source;
  if (is_local_module(ref)) {
    source.file = fs::path(ref);
    source.name = ref;
    source.argv0 = module_name(ref, true);
    return source;
  }
  if (images_ == nullptr) {
    return errorf(Errc::kFailedPrecondition,
                  "{}: the wasm runtime was opened without an image store", ref);
  }
  ZLAYER_TRY(details, images_->inspect(ref));
  if (details.record.kind != "wasm") {
    return errorf(Errc::kInvalidArgument, "{} is a container image (kind {}), not a WASM artifact",
                  ref, details.record.kind);
  }
  source.name = ref;
  source.argv0 = module_name(details.record.name, false);
  if (image::is_wasm_artifact(details.manifest)) {
    ZLAYER_TRY(layer, image::wasm_module_layer(details.manifest, ref));
    source.digest = layer.digest;
    const image::ContentStore* content = &images_->content();
    source.fetch = [content, digest = layer.digest] { return content->read(digest); };
    return source;
  }
  // Docker+Wasm: the module is a file of the unpacked layers, at the entrypoint's path.
  source.image = details.config;
  source.module_in_entrypoint = true;
  const auto& entry =
      !details.config.entrypoint.empty() ? details.config.entrypoint : details.config.cmd;
  if (entry.empty()) {
    return errorf(Errc::kInvalidArgument,
                  "{}: a wasi/wasm image needs an Entrypoint naming its module file", ref);
  }
  ZLAYER_TRY(dirs, images_->layer_dirs(details));
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    fs::path candidate = *it / fs::path(entry.front()).relative_path();
    if (fs::is_regular_file(candidate)) {
      source.file = candidate;
      source.argv0 = fs::path(entry.front()).filename().string();
      return source;
    }
  }
  return errorf(Errc::kNotFound, "{}: the module {} named by its Entrypoint is not in the image",
                ref, entry.front());
}

Status WasmRuntime::create_container(const ContainerId& id,
                                     const runtime::ContainerConfig& config) {
  ZLAYER_CHECK(ContainerId::validate_service_name(id.service));
  const fs::path dir = instance_dir(id);
  {
    ZLAYER_TRY(existing, db_query("SELECT 1 FROM containers WHERE id = ?1", {id.str()}));
    if (!existing.empty() || find(id) || fs::exists(dir)) {
      return errorf(Errc::kAlreadyExists, "container {} already exists", id.str());
    }
  }
  ZLAYER_TRY(source, module_source(config));
  const std::uint64_t interval = config.wasm.epoch_deadline.value_or(config_.check_interval);
  ZLAYER_TRY(module, source.file ? cache_.get_file(*source.file, interval, source.name)
                                 : cache_.get(source.digest, interval, source.name, source.fetch));

  // Entry: a command's _start, else main (a reactor's _initialize runs first, at create).
  bool has_start = false, has_main = false, has_initialize = false;
  for (const auto& e : module->exports()) {
    if (e.kind != ExternKind::kFunc) continue;
    has_start |= e.name == "_start";
    has_main |= e.name == "main";
    has_initialize |= e.name == "_initialize";
  }
  if (!has_start && !has_main) {
    return errorf(Errc::kInvalidArgument,
                  "{}: the module exports neither _start (a WASI command) nor main, so there is "
                  "nothing to run",
                  source.name);
  }

  auto instance = std::make_shared<Instance>();
  instance->id = id;
  instance->module = module;
  instance->entry = has_start ? "_start" : "main";
  instance->state.phase = Phase::kCreated;

  // argv: the module's name, then the entrypoint and args (Docker's merge rules).
  std::vector<std::string> argv{source.argv0};
  std::vector<std::string> entrypoint = config.entrypoint.value_or(source.image.entrypoint);
  std::vector<std::string> args =
      config.args ? *config.args
                  : (config.entrypoint ? std::vector<std::string>{} : source.image.cmd);
  if (source.module_in_entrypoint && !config.entrypoint) {
    if (!entrypoint.empty()) {
      entrypoint.erase(entrypoint.begin());
    } else if (!args.empty() && !config.args) {
      args.erase(args.begin());
    }
  }
  argv.insert(argv.end(), entrypoint.begin(), entrypoint.end());
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> env = source.image.env;
  for (const auto& kv : config.env) {
    auto key = kv.substr(0, kv.find('=') + 1);
    std::erase_if(env, [&](const std::string& e) { return e.rfind(key, 0) == 0; });
    env.push_back(kv);
  }

  ZLAYER_CHECK(make_dirs(dir, 0700));
  auto cleanup = [&] { (void)remove_tree(dir); };
  auto built = [&]() -> Status {
    // Preopens: storage entries, then wasm.preopens (fd 3, 4, … in this order).
    wasi::WasiConfig wasi_config;
    int fresh = 0;
    for (const auto& entry : config.storage) {
      wasi::Preopen p;
      if (const auto* bind = std::get_if<runtime::BindMount>(&entry)) {
        p = {bind->source, bind->target, bind->readonly};
      } else if (const auto* named = std::get_if<runtime::NamedVolume>(&entry)) {
        p = {config_.paths.volumes_dir() / named->name, named->target, named->readonly};
        ZLAYER_CHECK(make_dirs(p.host_dir));
      } else {
        // Anonymous volumes and tmpfs: a fresh directory that goes with the instance.
        const auto* anon = std::get_if<runtime::AnonymousVolume>(&entry);
        const auto* tmpfs = std::get_if<runtime::TmpfsMount>(&entry);
        p.guest_path = anon ? anon->target : tmpfs->target;
        p.host_dir = dir / "volumes" / std::to_string(++fresh);
        ZLAYER_CHECK(make_dirs(p.host_dir));
      }
      wasi_config.preopens.push_back(std::move(p));
    }
    for (const auto& p : config.wasm.preopens) {
      wasi_config.preopens.push_back({p.source, p.target, p.readonly});
    }
    wasi_config.args = argv;
    wasi_config.env = env;
    ZLAYER_TRY(writer, runtime::logs::LogWriter::open(log_path(id), {}, SystemClock::instance()));
    instance->log = std::make_unique<runtime::logs::LogWriter>(std::move(writer));
    Instance* raw = instance.get();
    wasi_config.stdout_sink = [raw](std::string_view bytes) {
      (void)raw->log->write(runtime::logs::Stream::kStdout, bytes);
      if (raw->tee) raw->tee(false, bytes);
    };
    wasi_config.stderr_sink = [raw](std::string_view bytes) {
      (void)raw->log->write(runtime::logs::Stream::kStderr, bytes);
      if (raw->tee) raw->tee(true, bytes);
    };
    ZLAYER_TRY(context, wasi::WasiContext::create(std::move(wasi_config)));
    instance->wasi = std::move(context);

    InstanceLimits limits;
    limits.max_memory_bytes =
        config.wasm.max_memory_bytes ? config.wasm.max_memory_bytes : config.resources.memory_bytes;
    instance->memory_cap = limits.max_memory_bytes;
    if (config.wasm.max_fuel && *config.wasm.max_fuel > 0) {
      limits.max_instructions = config.wasm.max_fuel;
    }
    if (config.wasm.run_to_completion && config_.max_execution_time.count() > 0) {
      limits.max_execution_time = config_.max_execution_time;
    }
    auto engine = instantiate(module, instance->wasi->imports(), limits);
    if (!engine) return unexpected(engine.error().wrap(source.name));
    instance->engine = std::move(*engine);
    if (has_initialize && !has_start) {
      ZLAYER_TRY(init, instance->engine->run("_initialize", {}));
      if (init.kind != RunOutcome::Kind::kReturned) {
        return errorf(Errc::kFailedPrecondition, "{}: _initialize did not return: {}", source.name,
                      init.message);
      }
    }
    nlohmann::json owner{{"pid", self_owner().pid}, {"start_time", self_owner().start_time}};
    // Not fsynced: after a machine crash every owner is dead anyway, and a missing or torn file
    // reads as a dead owner — which is then true.
    ZLAYER_CHECK(write_owner(dir / "owner.json", owner.dump()));
    ZLAYER_TRY(
        inserted,
        db_exec("INSERT INTO containers (id, deployment, service, replica, backend, image, "
                "bundle, monitor_pid, status, created_at) VALUES (?1, '', ?2, ?3, 'wasm', "
                "?4, ?5, ?6, 'created', ?7)",
                {id.str(), id.service, static_cast<std::int64_t>(id.replica), config.image_ref,
                 dir.string(), static_cast<std::int64_t>(self_owner().pid), unix_now()}));
    (void)inserted;
    return {};
  }();
  if (!built) {
    cleanup();
    return built;
  }
  std::lock_guard lock(mutex_);
  instances_.emplace(id.str(), std::move(instance));
  return {};
}

Status WasmRuntime::attach(const ContainerId& id, OutputTee tee) {
  auto instance = find(id);
  if (!instance) {
    return errorf(Errc::kNotFound, "container {} was not created by this process", id.str());
  }
  std::lock_guard lock(instance->mutex);
  if (instance->state.phase != Phase::kCreated) {
    return errorf(Errc::kFailedPrecondition, "container {} has already started", id.str());
  }
  instance->tee = std::move(tee);
  return {};
}

Status WasmRuntime::start_container(const ContainerId& id) {
  auto instance = find(id);
  if (!instance) {
    ZLAYER_TRY(r, row(id));
    (void)r;
    return errorf(Errc::kFailedPrecondition,
                  "container {} belongs to another agent process; only that process can start it",
                  id.str());
  }
  {
    std::lock_guard lock(instance->mutex);
    if (!instance->state.can_start()) {
      return errorf(Errc::kFailedPrecondition, "container {} is {}, not created", id.str(),
                    instance->state.phase_name());
    }
    instance->state.phase = Phase::kRunning;
  }
  ZLAYER_CHECK(db_exec("UPDATE containers SET status = 'running', started_at = ?2 WHERE id = ?1",
                       {id.str(), unix_now()}));
  instance->thread = std::thread([this, instance] { run_instance(instance); });
  return {};
}

void WasmRuntime::run_instance(const std::shared_ptr<Instance>& instance) {
  std::vector<RawValue> args;
  for (const auto& e : instance->module->exports()) {
    if (e.name == instance->entry) args.assign(e.sig.params.size(), 0);
  }
  auto outcome = instance->engine->run(instance->entry, args);
  int stop_signal = 0;
  {
    std::lock_guard lock(instance->mutex);
    stop_signal = instance->stop_signal;
  }
  ContainerState end;
  if (!outcome) {
    end = failed_state(outcome.error().message);
  } else {
    switch (outcome->kind) {
      case RunOutcome::Kind::kReturned: {
        // A `main` that returns an i32 reports it as its exit status.
        int code = 0;
        if (instance->entry == "main" && !outcome->results.empty()) {
          code = static_cast<int>(static_cast<std::uint32_t>(outcome->results.front()));
        }
        end = exited_state(ExitStatus::exited(code));
        break;
      }
      case RunOutcome::Kind::kExited:
        end = exited_state(ExitStatus::exited(static_cast<int>(outcome->exit_code)));
        break;
      case RunOutcome::Kind::kStopped:
        end = exited_state(ExitStatus::killed_by(stop_signal != 0 ? stop_signal : SIGKILL));
        break;
      case RunOutcome::Kind::kTrapped:
        end = failed_state("trap: " + outcome->message);
        break;
      case RunOutcome::Kind::kOutOfFuel:
        end = failed_state("instruction budget (max_fuel) exhausted" +
                           (outcome->message.empty() ? "" : ": " + outcome->message));
        break;
      case RunOutcome::Kind::kTimeout:
        end = failed_state(fmt::format("max execution time of {} ms exceeded",
                                       config_.max_execution_time.count()));
        break;
    }
  }
  finish(*instance, std::move(end));
}

void WasmRuntime::finish(Instance& instance, ContainerState end) {
  // The log is closed before the state says finished: a following reader stops only once it has
  // read everything (log_store.h, container_exited).
  (void)instance.log->close();
  if (end.phase == Phase::kExited) {
    (void)db_exec(
        "UPDATE containers SET status = 'exited', exit_code = ?2, exit_signal = ?3, oom_killed = "
        "0, finished_at = ?4 WHERE id = ?1",
        {instance.id.str(), static_cast<std::int64_t>(end.exit->exit_code),
         static_cast<std::int64_t>(end.exit->signal), unix_now()});
  } else {
    (void)db_exec(
        "UPDATE containers SET status = 'failed', failed_reason = ?2, finished_at = ?3 WHERE id "
        "= ?1",
        {instance.id.str(), end.reason, unix_now()});
  }
  std::lock_guard lock(instance.mutex);
  instance.state = std::move(end);
  instance.changed.notify_all();
}

Status WasmRuntime::end_instance(const ContainerId& id, int signal,
                                 std::chrono::milliseconds wait) {
  auto instance = find(id);
  if (!instance) {
    ZLAYER_TRY(state, container_state(id));
    if (state.is_finished()) return {};
    return errorf(Errc::kFailedPrecondition,
                  "container {} runs in another agent process (pid {}); stop it there", id.str(),
                  read_owner(instance_dir(id)).value_or(Owner{}).pid);
  }
  std::unique_lock lock(instance->mutex);
  if (instance->state.is_finished()) return {};
  if (instance->stop_signal == 0) instance->stop_signal = signal;
  if (instance->state.phase == Phase::kCreated) {
    // Never started: it ends here, as a container killed before its start would.
    lock.unlock();
    finish(*instance, exited_state(ExitStatus::killed_by(signal)));
    return {};
  }
  lock.unlock();
  instance->engine->request_stop();
  instance->wasi->interrupt();
  lock.lock();
  // The module ends at its next budget check or host-call return; the bound only keeps a broken
  // host call from hanging the caller.
  if (!instance->changed.wait_for(lock, wait, [&] { return instance->state.is_finished(); })) {
    return errorf(Errc::kDeadlineExceeded, "container {} did not stop within {} ms", id.str(),
                  wait.count());
  }
  return {};
}

Status WasmRuntime::stop_container(const ContainerId& id, std::chrono::milliseconds grace) {
  return end_instance(id, SIGTERM, std::max(grace, std::chrono::milliseconds(10000)));
}

Status WasmRuntime::kill_container(const ContainerId& id, int signal) {
  ZLAYER_TRY(state, container_state(id));
  if (state.is_finished() || state.phase == Phase::kCreated) {
    return errorf(Errc::kFailedPrecondition, "container {} is not running", id.str());
  }
  return end_instance(id, signal, std::chrono::seconds(10));
}

Status WasmRuntime::pause_container(const ContainerId& id) {
  return errorf(Errc::kUnsupported,
                "container {}: the wasm backend can stop a module but cannot freeze and resume it",
                id.str());
}

Status WasmRuntime::unpause_container(const ContainerId& id) { return pause_container(id); }

Status WasmRuntime::remove_container(const ContainerId& id) {
  if (auto instance = find(id)) {
    ZLAYER_CHECK(end_instance(id, SIGKILL, std::chrono::seconds(10)));
    if (instance->thread.joinable()) instance->thread.join();
    std::lock_guard lock(mutex_);
    instances_.erase(id.str());
  } else {
    auto r = row(id);
    if (!r && r.error().code != Errc::kNotFound) return unexpected(r.error());
    if (r) {
      ZLAYER_TRY(state, container_state(id));
      if (!state.is_finished()) {
        return errorf(Errc::kFailedPrecondition,
                      "container {} runs in another agent process (pid {}); stop it there first",
                      id.str(), read_owner(instance_dir(id)).value_or(Owner{}).pid);
      }
    }
  }
  ZLAYER_CHECK(remove_tree(instance_dir(id)));
  ZLAYER_CHECK(db_exec("DELETE FROM containers WHERE id = ?1 AND backend = 'wasm'", {id.str()}));
  return {};
}

Result<state::Row> WasmRuntime::row(const ContainerId& id) {
  ZLAYER_TRY(rows, db_query("SELECT status, exit_code, exit_signal, failed_reason, finished_at "
                            "FROM containers WHERE id = ?1 AND backend = 'wasm'",
                            {id.str()}));
  if (rows.empty()) return errorf(Errc::kNotFound, "no such container: {}", id.str());
  return rows.front();
}

Result<ContainerState> WasmRuntime::container_state(const ContainerId& id) {
  if (auto instance = find(id)) {
    std::lock_guard lock(instance->mutex);
    return instance->state;
  }
  ZLAYER_TRY(r, row(id));
  const std::string status = state::as_string(r[0]);
  ContainerState s;
  if (status == "exited") {
    s.phase = Phase::kExited;
    ExitStatus exit;
    exit.exit_code = static_cast<int>(state::as_int(r[1]));
    exit.signal = static_cast<int>(state::as_int(r[2]));
    exit.finished_at = std::chrono::system_clock::from_time_t(state::as_int(r[4]));
    s.exit = exit;
  } else if (status == "failed") {
    s.phase = Phase::kFailed;
    s.reason = state::as_string(r[3]);
  } else {
    // created/running in another process: true only while that process lives.
    auto owner = read_owner(instance_dir(id));
    if (!owner || !owner_alive(*owner)) {
      (void)db_exec(
          "UPDATE containers SET status = 'failed', failed_reason = ?2, finished_at = ?3 WHERE "
          "id = ?1 AND status IN ('created', 'running')",
          {id.str(), std::string(kAgentExited), unix_now()});
      return failed_state(std::string(kAgentExited));
    }
    s.phase = status == "running" ? Phase::kRunning : Phase::kCreated;
  }
  return s;
}

Result<ExitStatus> WasmRuntime::wait_container(const ContainerId& id) {
  if (auto instance = find(id)) {
    std::unique_lock lock(instance->mutex);
    instance->changed.wait(lock, [&] { return instance->state.is_finished(); });
    if (instance->state.exit) return *instance->state.exit;
    return errorf(Errc::kFailedPrecondition, "container {} failed: {}", id.str(),
                  instance->state.reason);
  }
  for (;;) {
    ZLAYER_TRY(state, container_state(id));
    if (state.exit) return *state.exit;
    if (state.phase == Phase::kFailed) {
      return errorf(Errc::kFailedPrecondition, "container {} failed: {}", id.str(), state.reason);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Status WasmRuntime::container_logs(const ContainerId& id, const runtime::LogOptions& options,
                                   const runtime::LogCallback& callback) {
  ZLAYER_TRY(current, container_state(id));
  (void)current;
  runtime::logs::LogReadOptions read;
  read.tail = options.tail;
  read.since = options.since;
  read.until = options.until;
  read.timestamps = options.timestamps;
  read.show_stdout = options.streams != runtime::LogStreams::kStderr;
  read.show_stderr = options.streams != runtime::LogStreams::kStdout;
  read.follow = options.follow;
  // finish() closes the log before the state says finished.
  read.container_exited = [this, id] {
    auto s = container_state(id);
    return !s || s->is_finished();
  };
  auto result = runtime::logs::read_logs(log_path(id), read, [&](const runtime::logs::LogLine& l) {
    return callback(runtime::LogEntry{l.stream == runtime::logs::Stream::kStderr, l.time, l.text});
  });
  if (!result) {
    if (result.error().code == Errc::kNotFound && !options.follow) return {};
    return unexpected(result.error());
  }
  return {};
}

Result<runtime::ExecResult> WasmRuntime::exec(const ContainerId& id,
                                              const runtime::ExecOptions& /*options*/) {
  return errorf(Errc::kUnsupported,
                "exec in {}: a WebAssembly module is a single instance with no process model, so "
                "there is no way to start another command inside it",
                id.str());
}

Result<runtime::ContainerStats> WasmRuntime::container_stats(const ContainerId& id) {
  auto instance = find(id);
  if (!instance) {
    ZLAYER_TRY(r, row(id));
    (void)r;
    return errorf(Errc::kFailedPrecondition,
                  "container {}: a module's counters live in the agent process that runs it",
                  id.str());
  }
  runtime::ContainerStats stats;
  if (instance->engine) {
    InstanceStats s = instance->engine->stats();
    stats.memory_bytes = s.memory_bytes;
    stats.instructions = s.instructions;
    stats.cpu_ns = static_cast<std::uint64_t>(s.cpu_time.count());
  }
  stats.memory_limit_bytes = instance->memory_cap;
  stats.pids = 0;
  return stats;
}

Result<int> WasmRuntime::container_pid(const ContainerId& id) {
  return errorf(Errc::kUnsupported,
                "container {}: a WebAssembly module runs on a thread of the agent, not in a "
                "process of its own",
                id.str());
}

Result<std::string> WasmRuntime::container_ip(const ContainerId& id) {
  return errorf(Errc::kUnsupported,
                "container {}: WASI preview 1 modules have no sockets and no network address",
                id.str());
}

Result<std::vector<ContainerId>> WasmRuntime::list_containers() {
  ZLAYER_TRY(rows, db_query("SELECT id FROM containers WHERE backend = 'wasm' ORDER BY id", {}));
  std::vector<ContainerId> ids;
  for (const auto& r : rows) {
    if (auto parsed = ContainerId::parse(state::as_string(r[0]))) ids.push_back(*parsed);
  }
  return ids;
}

}  // namespace zlayer::wasm
