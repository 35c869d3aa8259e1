// state.db: the durable records every zlayer-agent process shares (SQLite, WAL mode, 5 s busy
// timeout, short transactions). This header owns the connection and the schema (docs/design.md
// §4); each component keeps its own typed queries next to its code through exec()/query().
// Thread-safe: one object may be shared by threads (each statement, and each transaction as a
// whole, holds the connection; others wait). Separate processes share the file through WAL.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/error.h"

namespace zlayer::state {

// A bound parameter or a column value.
using Value = std::variant<std::nullptr_t, std::int64_t, std::string>;
using Row = std::vector<Value>;

class StateDb {
 public:
  // Opens (creating if missing) the database at `path` and migrates the schema to the current
  // version. Errors: kUnavailable when the file is locked beyond the busy timeout, kInternal with
  // SQLite's message otherwise (naming the path).
  static Result<StateDb> open(const std::filesystem::path& path);
  StateDb(StateDb&&) noexcept;
  StateDb& operator=(StateDb&&) noexcept;
  ~StateDb();

  // Runs one statement with `params` bound to ?1..?n. Returns the number of changed rows.
  Result<std::int64_t> exec(std::string_view sql, const std::vector<Value>& params = {});
  // Runs a query and returns every row.
  Result<std::vector<Row>> query(std::string_view sql, const std::vector<Value>& params = {});
  // Runs `body` inside BEGIN IMMEDIATE … COMMIT (ROLLBACK when body fails).
  Status transaction(const std::function<Status()>& body);

  static constexpr int kSchemaVersion = 2;

 private:
  struct Impl;
  explicit StateDb(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Helpers to read a column.
std::string as_string(const Value& v);
std::int64_t as_int(const Value& v);

}  // namespace zlayer::state
