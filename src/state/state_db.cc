#include "state/state_db.h"

#include <mutex>

#include <sqlite3.h>

#include "core/fs.h"

namespace zlayer::state {
namespace {

// Version 1: the tables every issue shares (docs/design.md §4 documents each column).
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS images (
  name            TEXT PRIMARY KEY,      -- normalised reference without digest: registry/repo:tag
  manifest_digest TEXT NOT NULL,         -- digest of the platform manifest that was unpacked
  index_digest    TEXT,                  -- digest of the index/list it was chosen from, if any
  config_digest   TEXT NOT NULL,
  platform        TEXT NOT NULL,         -- os/arch[/variant]
  size            INTEGER NOT NULL,      -- compressed bytes of config + layers
  kind            TEXT NOT NULL,         -- 'oci' or 'wasm'
  pulled_at       INTEGER NOT NULL       -- unix seconds
);
CREATE TABLE IF NOT EXISTS containers (
  id              TEXT PRIMARY KEY,      -- {service}-rep-{n} or a generated name for `run`
  deployment      TEXT NOT NULL,
  service         TEXT NOT NULL,
  replica         INTEGER NOT NULL,      -- 1-based
  backend         TEXT NOT NULL,         -- linux | wasm | docker
  image           TEXT NOT NULL,
  bundle          TEXT,
  monitor_pid     INTEGER,
  pid             INTEGER,
  status          TEXT NOT NULL,         -- created|running|paused|exited|failed
  exit_code       INTEGER,
  exit_signal     INTEGER,
  oom_killed      INTEGER,
  failed_reason   TEXT,
  created_at      INTEGER NOT NULL,
  started_at      INTEGER,
  finished_at     INTEGER
);
CREATE TABLE IF NOT EXISTS deployments (
  name            TEXT PRIMARY KEY,
  spec            TEXT NOT NULL,         -- the spec as last applied (YAML)
  desired         TEXT NOT NULL,         -- up | down
  owner_pid       INTEGER,
  updated_at      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS services (
  deployment      TEXT NOT NULL,
  name            TEXT NOT NULL,
  desired_replicas INTEGER NOT NULL,
  restart_count   INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (deployment, name)
);
CREATE TABLE IF NOT EXISTS job_runs (
  id              TEXT PRIMARY KEY,
  deployment      TEXT NOT NULL,
  service         TEXT NOT NULL,
  status          TEXT NOT NULL,         -- pending|running|succeeded|failed
  exit_code       INTEGER,
  log_path        TEXT,
  started_at      INTEGER,
  finished_at     INTEGER
);
CREATE TABLE IF NOT EXISTS cron_state (
  deployment      TEXT NOT NULL,
  service         TEXT NOT NULL,
  last_run        INTEGER,
  next_run        INTEGER,
  PRIMARY KEY (deployment, service)
);
)sql";

// Version 2: supervisor state per replica (docs/design.md §4, "Supervision"). A replica keeps its
// row across restarts (its container is removed and recreated), so restart counts and the last
// exit status survive; the `containers` row is the backend's and lives as long as the container.
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE IF NOT EXISTS replicas (
  deployment      TEXT NOT NULL,
  service         TEXT NOT NULL,
  replica         INTEGER NOT NULL,      -- 1-based
  container_id    TEXT NOT NULL,         -- {service}-rep-{n}
  backend         TEXT NOT NULL,         -- linux | wasm | docker
  desired         TEXT NOT NULL,         -- running | stopped (written before any signal)
  state           TEXT NOT NULL,         -- pending|creating|initializing|running|crash_loop_backoff|stopping|stopped|failed|isolated
  health          TEXT NOT NULL,         -- unknown|starting|healthy|unhealthy
  restart_count   INTEGER NOT NULL DEFAULT 0,
  last_exit_code  INTEGER,
  last_exit_signal INTEGER,
  last_oom_killed INTEGER,
  reason          TEXT,                  -- why the last state change happened
  address         TEXT,                  -- the replica's IP when it has its own network
  updated_at      INTEGER NOT NULL,
  PRIMARY KEY (deployment, service, replica)
);
)sql";

}  // namespace

struct StateDb::Impl {
  sqlite3* db = nullptr;
  std::filesystem::path path;
  // The connection is opened NOMUTEX; this serialises every use of it (a statement's whole
  // prepare/step/finalize, and a transaction from BEGIN to COMMIT), so one StateDb may be shared
  // by threads. Recursive: a transaction's body runs statements on the same thread.
  std::recursive_mutex mutex;
  ~Impl() {
    if (db != nullptr) sqlite3_close_v2(db);
  }
  tl::unexpected<Error> error(std::string_view what) const {
    int code = sqlite3_errcode(db);
    Errc errc = (code == SQLITE_BUSY || code == SQLITE_LOCKED) ? Errc::kUnavailable
                : code == SQLITE_FULL                          ? Errc::kResourceExhausted
                                                               : Errc::kInternal;
    return make_error(errc, fmt::format("{} ({}): {}", what, path.string(), sqlite3_errmsg(db)));
  }
};

StateDb::StateDb(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StateDb::StateDb(StateDb&&) noexcept = default;
StateDb& StateDb::operator=(StateDb&&) noexcept = default;
StateDb::~StateDb() = default;

Result<StateDb> StateDb::open(const std::filesystem::path& path) {
  if (path.has_parent_path()) ZLAYER_CHECK(make_dirs(path.parent_path(), 0700));
  // Switching to WAL and creating the schema take locks that SQLite's busy handler does not wait
  // for, so two processes opening a new database at once would see "database is locked". A file
  // lock around set-up serialises them; it is released before any ordinary work.
  auto setup_lock = FileLock::acquire(path.string() + ".lock");
  if (!setup_lock) return unexpected(setup_lock.error());
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  int rc =
      sqlite3_open_v2(path.c_str(), &impl->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return impl->error("opening state database");
  sqlite3_busy_timeout(impl->db, 5000);
  // Closing the last connection would checkpoint the WAL and delete it (fsyncs), and the next
  // process would sync a fresh WAL header: most of a short CLI process's I/O (`run` of a WASM
  // module). The WAL stays instead and is checkpointed by the auto-checkpoint, kept small
  // (wal_autocheckpoint below) because each new connection scans the WAL it finds; committed
  // transactions are as durable as before (synchronous=NORMAL in WAL mode).
  int persist_wal = 1;
  sqlite3_file_control(impl->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist_wal);
  sqlite3_db_config(impl->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  StateDb db(std::move(impl));
  ZLAYER_CHECK(db.exec("PRAGMA journal_mode=WAL"));
  ZLAYER_CHECK(db.exec("PRAGMA synchronous=NORMAL"));
  ZLAYER_CHECK(db.exec("PRAGMA wal_autocheckpoint=32"));
  ZLAYER_CHECK(db.exec("PRAGMA foreign_keys=ON"));
  ZLAYER_TRY(version_rows, db.query("PRAGMA user_version"));
  std::int64_t version = version_rows.empty() ? 0 : as_int(version_rows[0][0]);
  if (version > kSchemaVersion) {
    return errorf(Errc::kFailedPrecondition,
                  "{} has schema version {}, newer than this zlayer-agent understands ({})",
                  path.string(), version, kSchemaVersion);
  }
  // Each step runs in its own transaction, so a crash leaves the previous version intact.
  const std::string_view steps[] = {kSchemaV1, kSchemaV2};
  for (std::int64_t next = version + 1; next <= kSchemaVersion; ++next) {
    ZLAYER_CHECK(db.transaction([&]() -> Status {
      const std::string sql(steps[next - 1]);
      if (sqlite3_exec(db.impl_->db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
        return db.impl_->error(fmt::format("migrating schema to version {}", next));
      }
      ZLAYER_CHECK(db.exec(fmt::format("PRAGMA user_version={}", next)));
      return {};
    }));
  }
  return db;
}

namespace {

Status bind_all(sqlite3_stmt* stmt, const std::vector<Value>& params) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    int index = static_cast<int>(i + 1);
    int rc = std::visit(
        [&](const auto& v) -> int {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>) {
            return sqlite3_bind_null(stmt, index);
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            return sqlite3_bind_int64(stmt, index, v);
          } else {
            return sqlite3_bind_text(stmt, index, v.data(), static_cast<int>(v.size()),
                                     SQLITE_TRANSIENT);
          }
        },
        params[i]);
    if (rc != SQLITE_OK) return errorf(Errc::kInternal, "binding parameter {}", index);
  }
  return {};
}

}  // namespace

Result<std::vector<Row>> StateDb::query(std::string_view sql, const std::vector<Value>& params) {
  std::lock_guard lock(impl_->mutex);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(impl_->db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK) {
    return impl_->error(fmt::format("preparing \"{}\"", sql));
  }
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> guard(stmt, sqlite3_finalize);
  ZLAYER_CHECK(bind_all(stmt, params));
  std::vector<Row> rows;
  for (;;) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return impl_->error(fmt::format("running \"{}\"", sql));
    Row row;
    int columns = sqlite3_column_count(stmt);
    for (int c = 0; c < columns; ++c) {
      switch (sqlite3_column_type(stmt, c)) {
        case SQLITE_NULL:
          row.emplace_back(nullptr);
          break;
        case SQLITE_INTEGER:
          row.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(stmt, c)));
          break;
        default: {
          const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
          row.emplace_back(std::string(text ? text : "",
                                       static_cast<std::size_t>(sqlite3_column_bytes(stmt, c))));
        }
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

Result<std::int64_t> StateDb::exec(std::string_view sql, const std::vector<Value>& params) {
  std::lock_guard lock(impl_->mutex);  // sqlite3_changes() belongs to this statement
  ZLAYER_CHECK(query(sql, params));
  return static_cast<std::int64_t>(sqlite3_changes(impl_->db));
}

Status StateDb::transaction(const std::function<Status()>& body) {
  std::lock_guard lock(impl_->mutex);
  ZLAYER_CHECK(exec("BEGIN IMMEDIATE"));
  auto result = body();
  if (!result) {
    (void)exec("ROLLBACK");
    return result;
  }
  if (auto ok = exec("COMMIT"); !ok) {
    (void)exec("ROLLBACK");
    return unexpected(ok.error());
  }
  return {};
}

std::string as_string(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  return {};
}

std::int64_t as_int(const Value& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (const auto* s = std::get_if<std::string>(&v)) return std::strtoll(s->c_str(), nullptr, 10);
  return 0;
}

}  // namespace zlayer::state
