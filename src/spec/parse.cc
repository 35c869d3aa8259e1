// YAML ⇄ DeploymentSpec. Each struct's fields are described once (`fields(visitor, struct)`) and
// walked by two visitors: FieldReader (YAML → struct, collecting every problem with its path) and
// FieldWriter (struct → YAML, leaving out fields equal to their default). Shapes that are not a
// plain map of fields (tagged unions, string-or-map forms) have their own read/write pair.
#include "spec/parse.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <type_traits>

#include "core/fs.h"
#include "core/quantity.h"
#include "core/time_format.h"
#include "spec/enum_names.h"
#include "spec/validate_internal.h"

namespace zlayer::spec {

std::string Diagnostic::str() const { return path.empty() ? message : path + ": " + message; }

namespace detail {

struct Opt {
  bool required = false;
  const char* alias = nullptr;  // a second accepted key (upstream serde alias)
};
constexpr Opt kRequired{.required = true};

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};
template <class T>
struct IsMap : std::false_type {};
template <class T>
struct IsMap<std::map<std::string, T>> : std::true_type {};
template <class E>
concept SpecEnum = std::is_enum_v<E> && requires {
  EnumNames<E>::kNames;
};

// ---- reading ----

struct Context {
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;

  // Paths whose value could not be read: value rules and cross-field checks say nothing
  // under them (the reader's error already does), so one mistake gives one message.
  std::vector<std::string> broken;
  // Line of every value read, by path, so later checks can point into the file too.
  std::map<std::string, int> lines;

  // The line of `path`, or of its nearest ancestor that has one; 0 if none.
  [[nodiscard]] int line_for(std::string path) const {
    while (!path.empty()) {
      if (auto it = lines.find(path); it != lines.end()) return it->second;
      auto cut = path.find_last_of(".[");
      if (cut == std::string::npos) break;
      path.resize(cut);
    }
    return 0;
  }

  void error(const YAML::Node& node, std::string path, std::string message) {
    broken.push_back(path);
    errors.push_back(Diagnostic{std::move(path), std::move(message), line_of(node)});
  }
  // A problem that leaves the value usable (an unknown key beside it).
  void note(const YAML::Node& node, std::string path, std::string message) {
    errors.push_back(Diagnostic{std::move(path), std::move(message), line_of(node)});
  }
  [[nodiscard]] bool under_broken(const std::string& path) const {
    return std::any_of(broken.begin(), broken.end(), [&](const std::string& b) {
      return path == b ||
             (path.size() > b.size() && path.starts_with(b) &&
              (path[b.size()] == '.' || path[b.size()] == '[')) ||
             b.empty();
    });
  }
  static int line_of(const YAML::Node& node) {
    return node.IsDefined() && node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
  }
};

std::string in_quotes(std::string_view text) { return fmt::format("\"{}\"", text); }

// What a node is, for "expected X, got Y" messages.
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return in_quotes(node.Scalar());
    default:
      return "nothing";
  }
}

bool is_null_text(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::optional<bool> bool_from(std::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

// YAML 1.2 core-schema integers: decimal with sign, 0o octal, 0x hex.
std::optional<long long> int_from(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
    base = s[1] == 'o' ? 8 : 16;
    s.remove_prefix(2);
  }
  if (s.empty()) return std::nullopt;
  unsigned long long value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  if (value > static_cast<unsigned long long>(std::numeric_limits<long long>::max())) {
    return std::nullopt;
  }
  long long signed_value = static_cast<long long>(value);
  return negative ? -signed_value : signed_value;
}

std::optional<double> float_from(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (auto i = int_from(s)) return static_cast<double>(*i);
  std::string text(s);
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

void read_value(Context& c, const YAML::Node& n, const std::string& p, std::string& out);
void read_value(Context& c, const YAML::Node& n, const std::string& p, bool& out);
void read_value(Context& c, const YAML::Node& n, const std::string& p, double& out);
void read_value(Context& c, const YAML::Node& n, const std::string& p, Duration& out);
void read_value(Context& c, const YAML::Node& n, const std::string& p, nlohmann::json& out);
void read_value(Context& c, const YAML::Node& n, const std::string& p, ScaleSpec& out);
void read_value(Context& c, const YAML::Node& n, const std::string& p, HealthCheck& out);
void read_value(Context& c, const YAML::Node& n, const std::string& p, StorageSpec& out);
void read_value(Context& c, const YAML::Node& n, const std::string& p, ErrorsSpec& out);
void read_value(Context& c, const YAML::Node& n, const std::string& p, NetworkMode& out);
void read_value(Context& c, const YAML::Node& n, const std::string& p, Affinity& out);
void read_value(Context& c, const YAML::Node& n, const std::string& p, StreamHealthCheck& out);

template <class T>
requires std::is_integral_v<T> &&
    (!std::is_same_v<T, bool>)void read_value(Context& c, const YAML::Node& n, const std::string& p,
                                              T& out) {
  auto value = n.IsScalar() ? int_from(n.Scalar()) : std::nullopt;
  using Limits = std::numeric_limits<T>;
  if (!value) {
    c.error(n, p, fmt::format("expected an integer, got {}", describe(n)));
  } else if (*value < static_cast<long long>(Limits::min()) ||
             (*value > 0 && static_cast<unsigned long long>(*value) >
                                static_cast<unsigned long long>(Limits::max()))) {
    if (std::is_same_v<T, std::uint16_t>) {
      c.error(n, p, fmt::format("{} is out of range (0-65535)", *value));
    } else {
      c.error(n, p,
              fmt::format("{} is out of range ({} to {})", *value,
                          static_cast<long long>(Limits::min()),
                          static_cast<unsigned long long>(Limits::max())));
    }
  } else {
    out = static_cast<T>(*value);
  }
}

template <SpecEnum E>
void read_value(Context& c, const YAML::Node& n, const std::string& p, E& out) {
  auto value = n.IsScalar() ? enum_from_string<E>(n.Scalar()) : std::nullopt;
  if (!value) {
    c.error(n, p, fmt::format("expected {}, got {}", enum_choices<E>(), describe(n)));
    return;
  }
  out = *value;
}

template <class T>
void read_value(Context& c, const YAML::Node& n, const std::string& p, std::optional<T>& out);
template <class T>
void read_value(Context& c, const YAML::Node& n, const std::string& p, std::vector<T>& out);
template <class T>
void read_value(Context& c, const YAML::Node& n, const std::string& p,
                std::map<std::string, T>& out);

class FieldReader;
template <class S>
concept HasFields = requires(FieldReader& r, S& s) {
  fields(r, s);
};
template <HasFields S>
void read_value(Context& c, const YAML::Node& n, const std::string& p, S& out);

// Reads the fields of one YAML map into a struct; keys nobody asked for are errors.
class FieldReader {
 public:
  static constexpr bool kReading = true;

  FieldReader(Context& c, const YAML::Node& node, std::string path)
      : c_(c), node_(node), path_(std::move(path)) {
    ok_ = node.IsMap();
    if (!ok_) c_.error(node, path_, fmt::format("expected a map, got {}", describe(node)));
  }
  [[nodiscard]] bool ok() const { return ok_; }

  template <class T>
  void operator()(const char* key, T& out, Opt opt = {}) {
    known_.insert(key);
    if (opt.alias) known_.insert(opt.alias);
    if (!ok_) return;
    YAML::Node value = node_[key];
    std::string used = key;
    if (!value.IsDefined() && opt.alias) {
      value = node_[opt.alias];
      used = opt.alias;
    }
    if (!value.IsDefined() || (value.IsNull() && !opt.required)) {
      if (opt.required) {
        c_.note(node_, path_, fmt::format("missing required field \"{}\"", key));
        c_.broken.push_back(child(key));
      }
      return;
    }
    c_.lines[child(used)] = Context::line_of(value);
    read_value(c_, value, child(used), out);
  }

  // A key read by hand (legacy or custom forms); marks it known.
  YAML::Node take(const char* key) {
    known_.insert(key);
    return ok_ ? node_[key] : YAML::Node();
  }

  // Reports every key that no field claimed.
  void finish() {
    if (!ok_) return;
    std::set<std::string> seen;
    for (const auto& entry : node_) {
      std::string key = entry.first.IsScalar() ? entry.first.Scalar() : std::string("?");
      if (!seen.insert(key).second) {
        c_.note(entry.first, child(key), "duplicate key");
        continue;
      }
      if (known_.contains(key)) continue;
      std::string message = "unknown field";
      if (auto near = nearest(key)) message += fmt::format(" (did you mean \"{}\"?)", *near);
      c_.note(entry.first, child(key), message);
    }
  }

  [[nodiscard]] std::string child(std::string_view key) const {
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  }
  Context& context() { return c_; }
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] const YAML::Node& node() const { return node_; }

 private:
  // A known key within edit distance 2, for the "did you mean" hint.
  [[nodiscard]] std::optional<std::string> nearest(const std::string& key) const {
    std::optional<std::string> best;
    std::size_t best_distance = 3;
    for (const auto& candidate : known_) {
      std::vector<std::size_t> row(candidate.size() + 1);
      for (std::size_t j = 0; j < row.size(); ++j) row[j] = j;
      for (std::size_t i = 1; i <= key.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= candidate.size(); ++j) {
          std::size_t above = row[j];
          row[j] = std::min(
              {row[j] + 1, row[j - 1] + 1, diagonal + (key[i - 1] == candidate[j - 1] ? 0 : 1)});
          diagonal = above;
        }
      }
      if (row.back() < best_distance) {
        best_distance = row.back();
        best = candidate;
      }
    }
    return best;
  }

  Context& c_;
  YAML::Node node_;
  std::string path_;
  std::set<std::string> known_;
  bool ok_ = false;
};

template <HasFields S>
void read_value(Context& c, const YAML::Node& n, const std::string& p, S& out) {
  FieldReader reader(c, n, p);
  fields(reader, out);
  reader.finish();
}

template <class T>
void read_value(Context& c, const YAML::Node& n, const std::string& p, std::optional<T>& out) {
  if (n.IsNull()) {
    out.reset();
    return;
  }
  T value{};
  read_value(c, n, p, value);
  out = std::move(value);
}

template <class T>
void read_value(Context& c, const YAML::Node& n, const std::string& p, std::vector<T>& out) {
  if (!n.IsSequence()) {
    c.error(n, p, fmt::format("expected a list, got {}", describe(n)));
    return;
  }
  out.clear();
  for (std::size_t i = 0; i < n.size(); ++i) {
    T value{};
    std::string path = fmt::format("{}[{}]", p, i);
    c.lines[path] = Context::line_of(n[i]);
    read_value(c, n[i], path, value);
    out.push_back(std::move(value));
  }
}

template <class T>
void read_value(Context& c, const YAML::Node& n, const std::string& p,
                std::map<std::string, T>& out) {
  if (!n.IsMap()) {
    c.error(n, p, fmt::format("expected a map, got {}", describe(n)));
    return;
  }
  out.clear();
  for (const auto& entry : n) {
    std::string key = entry.first.IsScalar() ? entry.first.Scalar() : std::string();
    if (out.contains(key)) {
      c.note(entry.first, fmt::format("{}.{}", p, key), "duplicate key");
      continue;
    }
    T value{};
    std::string path = fmt::format("{}.{}", p, key);
    c.lines[path] = Context::line_of(entry.first);
    read_value(c, entry.second, path, value);
    out.emplace(key, std::move(value));
  }
}

void read_value(Context& c, const YAML::Node& n, const std::string& p, std::string& out) {
  // Any scalar reads as text (env: {PORT: 8080}); null and collections do not.
  if (!n.IsScalar()) {
    c.error(n, p, fmt::format("expected a string, got {}", describe(n)));
    return;
  }
  out = n.Scalar();
}

void read_value(Context& c, const YAML::Node& n, const std::string& p, bool& out) {
  auto value = n.IsScalar() ? bool_from(n.Scalar()) : std::nullopt;
  if (!value) {
    c.error(n, p, fmt::format("expected true or false, got {}", describe(n)));
    return;
  }
  out = *value;
}

void read_value(Context& c, const YAML::Node& n, const std::string& p, double& out) {
  auto value = n.IsScalar() ? float_from(n.Scalar()) : std::nullopt;
  if (!value) {
    c.error(n, p, fmt::format("expected a number, got {}", describe(n)));
    return;
  }
  out = *value;
}

void read_value(Context& c, const YAML::Node& n, const std::string& p, Duration& out) {
  if (!n.IsScalar()) {
    c.error(n, p, fmt::format("expected a duration like 30s, got {}", describe(n)));
    return;
  }
  auto value = parse_duration(n.Scalar());
  if (!value) {
    c.error(n, p, fmt::format("\"{}\" is not a duration like 30s, 1m30s or 500ms", n.Scalar()));
    return;
  }
  if (value->count() < 0) {
    c.error(n, p, fmt::format("\"{}\" is negative", n.Scalar()));
    return;
  }
  out = *value;
}

// YAML 1.2 core schema typing for free-form values (init `with`): quoted scalars are strings.
void read_value(Context& c, const YAML::Node& n, const std::string& p, nlohmann::json& out) {
  if (n.IsNull()) {
    out = nullptr;
  } else if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    if (n.Tag() == "!") {
      out = s;
    } else if (is_null_text(s)) {
      out = nullptr;
    } else if (auto b = bool_from(s)) {
      out = *b;
    } else if (auto i = int_from(s)) {
      out = *i;
    } else if (auto f = float_from(s)) {
      out = *f;
    } else {
      out = s;
    }
  } else if (n.IsSequence()) {
    out = nlohmann::json::array();
    for (std::size_t i = 0; i < n.size(); ++i) {
      nlohmann::json element;
      read_value(c, n[i], fmt::format("{}[{}]", p, i), element);
      out.push_back(std::move(element));
    }
  } else if (n.IsMap()) {
    out = nlohmann::json::object();
    for (const auto& entry : n) {
      std::string key = entry.first.IsScalar() ? entry.first.Scalar() : std::string();
      read_value(c, entry.second, fmt::format("{}.{}", p, key), out[key]);
    }
  }
}

// ---- writing ----

// The emitter, wrapped in a type of this namespace so argument-dependent lookup finds every
// write_value overload from inside the templates below.
struct Out {
  YAML::Emitter& e;
};
template <class T>
Out& operator<<(Out& out, const T& value) {
  out.e << value;
  return out;
}

void write_value(Out& out, const std::string& v);
void write_value(Out& out, bool v);
void write_value(Out& out, double v);
void write_value(Out& out, Duration v);
void write_value(Out& out, const nlohmann::json& v);
void write_value(Out& out, const ScaleSpec& v);
void write_value(Out& out, const HealthCheck& v);
void write_value(Out& out, const StorageSpec& v);
void write_value(Out& out, const ErrorsSpec& v);
void write_value(Out& out, const NetworkMode& v);
void write_value(Out& out, const Affinity& v);
void write_value(Out& out, const StreamHealthCheck& v);

template <class T>
requires std::is_integral_v<T> &&(!std::is_same_v<T, bool>)void write_value(Out& out, T v) {
  out << static_cast<long long>(v);
}
template <SpecEnum E>
void write_value(Out& out, E v) {
  out << std::string(enum_name(v));
}
template <class T>
void write_value(Out& out, const std::optional<T>& v) {
  if (v) {
    write_value(out, *v);
  } else {
    out << YAML::Null;
  }
}
template <class T>
void write_value(Out& out, const std::vector<T>& v) {
  out << YAML::BeginSeq;
  for (const auto& element : v) write_value(out, element);
  out << YAML::EndSeq;
}
template <class T>
void write_value(Out& out, const std::map<std::string, T>& v) {
  out << YAML::BeginMap;
  for (const auto& [key, value] : v) {
    out << YAML::Key;
    write_value(out, key);
    out << YAML::Value;
    write_value(out, value);
  }
  out << YAML::EndMap;
}

// Collects the address of each field of a default-constructed struct, in visiting order, so
// FieldWriter can leave out fields equal to their default.
class DefaultCollector {
 public:
  static constexpr bool kReading = false;
  template <class T>
  void operator()(const char*, T& value, Opt = {}) {
    addresses.push_back(&value);
  }
  YAML::Node take(const char*) { return {}; }
  std::vector<const void*> addresses;
};

class FieldWriter {
 public:
  static constexpr bool kReading = false;
  FieldWriter(Out& out, std::vector<const void*> defaults)
      : out_(out), defaults_(std::move(defaults)) {}

  template <class T>
  void operator()(const char* key, T& value, Opt opt = {}) {
    const T& fallback = *static_cast<const T*>(defaults_.at(index_++));
    if (!opt.required && value == fallback) return;
    out_ << YAML::Key << key << YAML::Value;
    write_value(out_, value);
  }
  YAML::Node take(const char*) { return {}; }

 private:
  Out& out_;
  std::vector<const void*> defaults_;
  std::size_t index_ = 0;
};

template <class S>
concept WritableFields = requires(FieldWriter& w, S& s) {
  fields(w, s);
};

template <WritableFields S>
void write_value(Out& out, const S& value) {
  S fallback{};
  DefaultCollector collector;
  fields(collector, fallback);
  FieldWriter writer(out, std::move(collector.addresses));
  out << YAML::BeginMap;
  // fields() takes a mutable reference so one description serves reading and writing; the
  // writer only reads through it.
  fields(writer, const_cast<S&>(value));
  out << YAML::EndMap;
}

bool needs_quotes(const std::string& s) {
  return is_null_text(s) || bool_from(s) || float_from(s) || s == "y" || s == "n" ||
         s.find_first_of(":#{}[],&*!|>'\"%@`") != std::string::npos ||
         std::isspace(static_cast<unsigned char>(s.front())) ||
         std::isspace(static_cast<unsigned char>(s.back())) || s.front() == '-' ||
         s.front() == '?' || s.find('\n') != std::string::npos;
}

void write_value(Out& out, const std::string& v) {
  if (needs_quotes(v)) out << YAML::DoubleQuoted;
  out << v;
}
void write_value(Out& out, bool v) { out << (v ? "true" : "false"); }
void write_value(Out& out, double v) {
  std::string text = fmt::format("{}", v);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  out << text;
}
void write_value(Out& out, Duration v) { out << format_duration(v); }
void write_value(Out& out, const nlohmann::json& v) {
  if (v.is_null()) {
    out << YAML::Null;
  } else if (v.is_boolean()) {
    write_value(out, v.get<bool>());
  } else if (v.is_number_integer()) {
    out << v.get<long long>();
  } else if (v.is_number()) {
    write_value(out, v.get<double>());
  } else if (v.is_string()) {
    write_value(out, v.get<std::string>());
  } else if (v.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& element : v) write_value(out, element);
    out << YAML::EndSeq;
  } else {
    out << YAML::BeginMap;
    for (const auto& [key, value] : v.items()) {
      out << YAML::Key;
      write_value(out, key);
      out << YAML::Value;
      write_value(out, value);
    }
    out << YAML::EndMap;
  }
}

// ---- field descriptions (YAML keys as upstream) ----

template <class V>
void fields(V& v, ImageSpec& s) {
  v("name", s.name, kRequired);
  v("pull_policy", s.pull_policy);
  v("source_policy", s.source_policy);
}
template <class V>
void fields(V& v, GpuDistributed& s) {
  v("backend", s.backend);
  v("master_port", s.master_port);
}
template <class V>
void fields(V& v, GpuSpec& s) {
  v("count", s.count);
  v("vendor", s.vendor);
  v("mode", s.mode);
  v("model", s.model);
  v("scheduling", s.scheduling);
  v("distributed", s.distributed);
  v("sharing", s.sharing);
  v("mps_pipe_dir", s.mps_pipe_dir);
  v("mps_log_dir", s.mps_log_dir);
  v("time_slice_index", s.time_slice_index);
  v("time_slicing_config_path", s.time_slicing_config_path);
}
template <class V>
void fields(V& v, ResourcesSpec& s) {
  if constexpr (V::kReading) {
    // Cores as a number (upstream), or Kubernetes millicores "500m" (our extension).
    YAML::Node cpu = v.take("cpu");
    if (cpu.IsDefined() && !cpu.IsNull()) {
      auto cores = cpu.IsScalar() ? parse_cpu_quantity(cpu.Scalar())
                                  : errorf(Errc::kInvalidArgument, "expected a CPU amount");
      if (cores) {
        s.cpu = *cores;
      } else {
        v.context().error(cpu, v.child("cpu"),
                          fmt::format("{} is not a CPU amount like 0.5, 2 or 500m", describe(cpu)));
      }
    }
  } else {
    v("cpu", s.cpu);
  }
  v("memory", s.memory);
  v("gpu", s.gpu);
  v("pids_limit", s.pids_limit);
  v("cpuset", s.cpuset);
  v("cpu_shares", s.cpu_shares);
  v("memory_swap", s.memory_swap);
  v("memory_reservation", s.memory_reservation);
  v("memory_swappiness", s.memory_swappiness);
  v("oom_score_adj", s.oom_score_adj);
  v("oom_kill_disable", s.oom_kill_disable);
  v("blkio_weight", s.blkio_weight);
}
template <class V>
void fields(V& v, CommandSpec& s) {
  v("entrypoint", s.entrypoint);
  v("args", s.args);
  v("workdir", s.workdir);
}
template <class V>
void fields(V& v, OverlaySettings& s) {
  v("enabled", s.enabled);
  v("encrypted", s.encrypted);
  v("isolated", s.isolated);
}
template <class V>
void fields(V& v, OverlayConfig& s) {
  v("service", s.service);
  v("global", s.global);
}
template <class V>
void fields(V& v, JoinPolicy& s) {
  v("mode", s.mode);
  v("scope", s.scope);
}
template <class V>
void fields(V& v, NetworkSpec& s) {
  v("overlays", s.overlays);
  v("join", s.join);
}
template <class V>
void fields(V& v, StreamEndpointConfig& s) {
  v("tls", s.tls);
  v("proxy_protocol", s.proxy_protocol);
  v("session_timeout", s.session_timeout);
  v("health_check", s.health_check);
}
template <class V>
void fields(V& v, TunnelAccess& s) {
  v("enabled", s.enabled);
  v("max_ttl", s.max_ttl);
  v("audit", s.audit);
}
template <class V>
void fields(V& v, EndpointTunnelConfig& s) {
  v("enabled", s.enabled);
  v("from", s.from);
  v("to", s.to);
  v("remote_port", s.remote_port);
  v("expose", s.expose);
  v("access", s.access);
}
template <class V>
void fields(V& v, EndpointSpec& s) {
  v("name", s.name, kRequired);
  v("protocol", s.protocol, kRequired);
  v("port", s.port, kRequired);
  v("target_port", s.target_port);
  v("path", s.path);
  v("host", s.host);
  v("expose", s.expose);
  v("stream", s.stream);
  v("target_role", s.target_role);
  v("tunnel", s.tunnel);
}
template <class V>
void fields(V& v, ScaleTargets& s) {
  v("cpu", s.cpu);
  v("memory", s.memory);
  v("rps", s.rps);
}
template <class V>
void fields(V& v, ReplicaGroup& s) {
  v("role", s.role, kRequired);
  v("count", s.count, kRequired);
  v("image", s.image);
  v("env", s.env);
  v("command", s.command);
  v("resources", s.resources);
  v("affinity", s.affinity);
}
template <class V>
void fields(V& v, DependsSpec& s) {
  v("service", s.service, kRequired);
  v("condition", s.condition);
  v("timeout", s.timeout);
  v("on_timeout", s.on_timeout);
}
template <class V>
void fields(V& v, HealthSpec& s) {
  v("start_grace", s.start_grace);
  v("interval", s.interval);
  v("timeout", s.timeout);
  v("retries", s.retries);
  v("check", s.check, kRequired);
}
template <class V>
void fields(V& v, InitStep& s) {
  v("id", s.id, kRequired);
  v("uses", s.uses, kRequired);
  v("with", s.with);
  v("retry", s.retry);
  v("timeout", s.timeout);
  v("on_failure", s.on_failure);
}
template <class V>
void fields(V& v, InitSpec& s) {
  v("steps", s.steps);
}
template <class V>
void fields(V& v, LifecycleSpec& s) {
  v("delete_on_exit", s.delete_on_exit);
}
template <class V>
void fields(V& v, DeviceSpec& s) {
  v("path", s.path, kRequired);
  v("read", s.read);
  v("write", s.write);
  v("mknod", s.mknod);
}
template <class V>
void fields(V& v, BindStorage& s) {
  v("source", s.source, kRequired);
  v("target", s.target, kRequired);
  v("readonly", s.readonly);
}
template <class V>
void fields(V& v, NamedStorage& s) {
  v("name", s.name, kRequired);
  v("target", s.target, kRequired);
  v("readonly", s.readonly);
  v("tier", s.tier);
  v("size", s.size);
}
template <class V>
void fields(V& v, AnonymousStorage& s) {
  v("target", s.target, kRequired);
  v("tier", s.tier);
}
template <class V>
void fields(V& v, TmpfsStorage& s) {
  v("target", s.target, kRequired);
  v("size", s.size);
  v("mode", s.mode);
}
template <class V>
void fields(V& v, S3Storage& s) {
  v("bucket", s.bucket, kRequired);
  v("prefix", s.prefix);
  v("target", s.target, kRequired);
  v("readonly", s.readonly);
  v("endpoint", s.endpoint);
  v("credentials", s.credentials);
}
template <class V>
void fields(V& v, PortMapping& s) {
  v("host_port", s.host_port);
  v("container_port", s.container_port, kRequired);
  v("protocol", s.protocol);
  v("host_ip", s.host_ip);
}
template <class V>
void fields(V& v, NodeSelector& s) {
  v("labels", s.labels);
  v("prefer_labels", s.prefer_labels);
}
template <class V>
void fields(V& v, PlatformSpec& s) {
  v("os", s.os, kRequired);
  v("arch", s.arch, kRequired);
  v("osVersion", s.os_version);
}
template <class V>
void fields(V& v, LogsSpec& s) {
  v("destination", s.destination);
  v("max_size_bytes", s.max_size_bytes);
  v("retention_secs", s.retention_secs);
}
template <class V>
void fields(V& v, RestartPolicySpec& s) {
  v("kind", s.kind, kRequired);
  v("max_attempts", s.max_attempts);
  v("delay", s.delay);
}
template <class V>
void fields(V& v, UlimitSpec& s) {
  v("soft", s.soft);
  v("hard", s.hard);
}
template <class V>
void fields(V& v, OverlayAttachment& s) {
  v("mode", s.mode);
  v("parent", s.parent);
}
template <class V>
void fields(V& v, WasmCapabilities& s) {
  v("config", s.config);
  v("keyvalue", s.keyvalue);
  v("logging", s.logging);
  v("secrets", s.secrets);
  v("metrics", s.metrics);
  v("http_client", s.http_client);
  v("cli", s.cli);
  v("filesystem", s.filesystem);
  v("sockets", s.sockets);
}
template <class V>
void fields(V& v, WasmPreopen& s) {
  v("source", s.source, kRequired);
  v("target", s.target, kRequired);
  v("readonly", s.readonly);
}
template <class V>
void fields(V& v, WasmConfig& s) {
  v("min_instances", s.min_instances);
  v("max_instances", s.max_instances);
  v("idle_timeout", s.idle_timeout);
  v("request_timeout", s.request_timeout);
  v("max_memory", s.max_memory);
  v("max_fuel", s.max_fuel);
  v("epoch_interval", s.epoch_interval);
  v("capabilities", s.capabilities);
  v("allow_http_outgoing", s.allow_http_outgoing);
  v("allowed_hosts", s.allowed_hosts);
  v("allow_tcp", s.allow_tcp);
  v("allow_udp", s.allow_udp);
  v("preopens", s.preopens);
  v("kv_enabled", s.kv_enabled);
  v("kv_namespace", s.kv_namespace);
  v("kv_max_value_size", s.kv_max_value_size);
  v("secrets", s.secrets);
  v("precompile", s.precompile);
}
template <class V>
void fields(V& v, ServiceSpec& s) {
  v("rtype", s.rtype);
  v("schedule", s.schedule);
  v("image", s.image, kRequired);
  v("resources", s.resources);
  v("env", s.env);
  v("command", s.command);
  v("network", s.network);
  v("endpoints", s.endpoints);
  v("scale", s.scale);
  v("replica_groups", s.replica_groups);
  v("depends", s.depends);
  v("health", s.health);
  v("init", s.init);
  v("errors", s.errors);
  v("lifecycle", s.lifecycle);
  v("isolation", s.isolation);
  v("devices", s.devices);
  v("storage", s.storage);
  v("port_mappings", s.port_mappings);
  v("capabilities", s.capabilities, Opt{.alias = "cap_add"});
  v("cap_drop", s.cap_drop);
  v("privileged", s.privileged);
  v("node_mode", s.node_mode);
  v("node_selector", s.node_selector);
  v("affinity", s.affinity);
  v("platform", s.platform);
  v("service_type", s.service_type);
  v("wasm", s.wasm, Opt{.alias = "wasm_http"});
  v("logs", s.logs);
  v("hostname", s.hostname);
  v("dns", s.dns);
  v("extra_hosts", s.extra_hosts);
  v("restart_policy", s.restart_policy);
  v("labels", s.labels);
  v("user", s.user);
  v("stop_signal", s.stop_signal);
  v("stop_grace_period", s.stop_grace_period);
  v("sysctls", s.sysctls);
  v("ulimits", s.ulimits);
  v("security_opt", s.security_opt);
  v("pid_mode", s.pid_mode);
  v("ipc_mode", s.ipc_mode);
  v("userns_mode", s.userns_mode);
  v("cgroup_parent", s.cgroup_parent);
  v("network_mode", s.network_mode);
  v("extra_groups", s.extra_groups);
  v("read_only_root_fs", s.read_only_root_fs);
  v("init_container", s.init_container);
  v("tty", s.tty);
  v("stdin_open", s.stdin_open);
  v("expose", s.expose);
  v("overlay", s.overlay);
  v("localhost_reachability", s.localhost_reachability);
  if constexpr (V::kReading) {
    // Legacy input-only `host_network: true` folds into network_mode host (upstream compat shim).
    YAML::Node legacy = v.take("host_network");
    if (legacy.IsDefined() && !legacy.IsNull()) {
      bool host = false;
      read_value(v.context(), legacy, v.child("host_network"), host);
      if (host) s.network_mode = NetworkMode{NetworkModeKind::kHost, {}};
    }
  }
}
template <class V>
void fields(V& v, ExternalSpec& s) {
  v("backends", s.backends, kRequired);
  v("endpoints", s.endpoints);
  v("health", s.health);
}
template <class V>
void fields(V& v, TunnelDefinition& s) {
  v("from", s.from, kRequired);
  v("to", s.to, kRequired);
  v("local_port", s.local_port, kRequired);
  v("remote_port", s.remote_port, kRequired);
  v("protocol", s.protocol);
  v("expose", s.expose);
}
template <class V>
void fields(V& v, ApiSpec& s) {
  v("enabled", s.enabled);
  v("bind", s.bind);
  v("jwt_secret", s.jwt_secret);
  v("swagger", s.swagger);
}
template <class V>
void fields(V& v, DeploymentSpec& s) {
  v("version", s.version, kRequired);
  v("deployment", s.deployment, kRequired);
  v("services", s.services);
  v("externals", s.externals);
  v("tunnels", s.tunnels);
  v("api", s.api);
}

// ---- tagged and string-or-map forms ----

template <class V>
void fields(V& v, TcpCheck& s) {
  v("port", s.port);
}
template <class V>
void fields(V& v, HttpCheck& s) {
  v("url", s.url, kRequired);
  v("expect_status", s.expect_status);
}
template <class V>
void fields(V& v, CommandCheck& s) {
  v("command", s.command, kRequired);
}

// Reads the tag key of an internally tagged map; returns the enum or nullopt (error reported).
template <class E>
std::optional<E> read_tag(Context& c, FieldReader& reader, const char* key) {
  YAML::Node tag = reader.take(key);
  if (!reader.ok()) return std::nullopt;
  if (!tag.IsDefined()) {
    c.error(reader.node(), reader.path(),
            fmt::format("missing required field \"{}\" ({})", key, enum_choices<E>()));
    return std::nullopt;
  }
  E value{};
  std::size_t before = c.errors.size();
  read_value(c, tag, reader.child(key), value);
  if (c.errors.size() != before) return std::nullopt;
  return value;
}

void read_value(Context& c, const YAML::Node& n, const std::string& p, ScaleSpec& out) {
  FieldReader reader(c, n, p);
  out = ScaleSpec{};
  auto mode = read_tag<ScaleMode>(c, reader, "mode");
  if (!mode) return;
  out.mode = *mode;
  switch (*mode) {
    case ScaleMode::kAdaptive:
      reader("min", out.min);
      reader("max", out.max);
      reader("cooldown", out.cooldown);
      reader("targets", out.targets);
      break;
    case ScaleMode::kFixed:
      reader("replicas", out.replicas, kRequired);
      break;
    case ScaleMode::kManual:
      break;
  }
  reader.finish();
}

void write_value(Out& out, const ScaleSpec& v) {
  ScaleSpec fallback;
  out << YAML::BeginMap << YAML::Key << "mode" << YAML::Value << std::string(enum_name(v.mode));
  if (v.mode == ScaleMode::kAdaptive) {
    out << YAML::Key << "min" << YAML::Value << v.min << YAML::Key << "max" << YAML::Value << v.max;
    if (v.cooldown != fallback.cooldown) {
      out << YAML::Key << "cooldown" << YAML::Value;
      write_value(out, v.cooldown);
    }
    if (v.targets != fallback.targets) {
      out << YAML::Key << "targets" << YAML::Value;
      write_value(out, v.targets);
    }
  } else if (v.mode == ScaleMode::kFixed) {
    out << YAML::Key << "replicas" << YAML::Value << v.replicas;
  }
  out << YAML::EndMap;
}

enum class CheckType { kTcp, kHttp, kCommand };
enum class StorageType { kBind, kNamed, kAnonymous, kTmpfs, kS3 };

template <>
struct EnumNames<CheckType> {
  static constexpr std::array kNames{std::pair{CheckType::kTcp, std::string_view("tcp")},
                                     std::pair{CheckType::kHttp, std::string_view("http")},
                                     std::pair{CheckType::kCommand, std::string_view("command")}};
};
template <>
struct EnumNames<StorageType> {
  static constexpr std::array kNames{
      std::pair{StorageType::kBind, std::string_view("bind")},
      std::pair{StorageType::kNamed, std::string_view("named")},
      std::pair{StorageType::kAnonymous, std::string_view("anonymous")},
      std::pair{StorageType::kTmpfs, std::string_view("tmpfs")},
      std::pair{StorageType::kS3, std::string_view("s3")}};
};
template <>
struct EnumNames<StreamHealthCheck::Type> {
  static constexpr std::array kNames{
      std::pair{StreamHealthCheck::Type::kTcpConnect, std::string_view("tcp_connect")},
      std::pair{StreamHealthCheck::Type::kUdpProbe, std::string_view("udp_probe")}};
};

// Writes `tag: name` and then the fields of `value` into one map.
template <class S>
void write_tagged(Out& out, const char* tag_key, std::string_view tag, const S& value) {
  S fallback{};
  DefaultCollector collector;
  fields(collector, fallback);
  FieldWriter writer(out, std::move(collector.addresses));
  out << YAML::BeginMap << YAML::Key << tag_key << YAML::Value << std::string(tag);
  fields(writer, const_cast<S&>(value));
  out << YAML::EndMap;
}

template <class S, class Variant>
void read_alternative(FieldReader& reader, Variant& out) {
  S value{};
  fields(reader, value);
  reader.finish();
  out = std::move(value);
}

void read_value(Context& c, const YAML::Node& n, const std::string& p, HealthCheck& out) {
  FieldReader reader(c, n, p);
  auto type = read_tag<CheckType>(c, reader, "type");
  if (!type) return;
  switch (*type) {
    case CheckType::kTcp:
      return read_alternative<TcpCheck>(reader, out);
    case CheckType::kHttp:
      return read_alternative<HttpCheck>(reader, out);
    case CheckType::kCommand:
      return read_alternative<CommandCheck>(reader, out);
  }
}

void write_value(Out& out, const HealthCheck& v) {
  if (const auto* tcp = std::get_if<TcpCheck>(&v)) {
    out << YAML::BeginMap << YAML::Key << "type" << YAML::Value << "tcp" << YAML::Key << "port"
        << YAML::Value << tcp->port << YAML::EndMap;
  } else if (const auto* http = std::get_if<HttpCheck>(&v)) {
    write_tagged(out, "type", "http", *http);
  } else {
    write_tagged(out, "type", "command", std::get<CommandCheck>(v));
  }
}

void read_value(Context& c, const YAML::Node& n, const std::string& p, StorageSpec& out) {
  FieldReader reader(c, n, p);
  auto type = read_tag<StorageType>(c, reader, "type");
  if (!type) return;
  switch (*type) {
    case StorageType::kBind:
      return read_alternative<BindStorage>(reader, out);
    case StorageType::kNamed:
      return read_alternative<NamedStorage>(reader, out);
    case StorageType::kAnonymous:
      return read_alternative<AnonymousStorage>(reader, out);
    case StorageType::kTmpfs:
      return read_alternative<TmpfsStorage>(reader, out);
    case StorageType::kS3:
      return read_alternative<S3Storage>(reader, out);
  }
}

void write_value(Out& out, const StorageSpec& v) {
  std::visit(
      [&](const auto& entry) {
        using T = std::decay_t<decltype(entry)>;
        std::string_view tag = std::is_same_v<T, BindStorage>        ? "bind"
                               : std::is_same_v<T, NamedStorage>     ? "named"
                               : std::is_same_v<T, AnonymousStorage> ? "anonymous"
                               : std::is_same_v<T, TmpfsStorage>     ? "tmpfs"
                                                                     : "s3";
        write_tagged(out, "type", tag, entry);
      },
      v);
}

void read_value(Context& c, const YAML::Node& n, const std::string& p, StreamHealthCheck& out) {
  FieldReader reader(c, n, p);
  auto type = read_tag<StreamHealthCheck::Type>(c, reader, "type");
  if (!type) return;
  out = StreamHealthCheck{};
  out.type = *type;
  if (*type == StreamHealthCheck::Type::kUdpProbe) {
    reader("request", out.request, kRequired);
    reader("expect", out.expect);
  }
  reader.finish();
}

void write_value(Out& out, const StreamHealthCheck& v) {
  out << YAML::BeginMap << YAML::Key << "type" << YAML::Value << std::string(enum_name(v.type));
  if (v.type == StreamHealthCheck::Type::kUdpProbe) {
    out << YAML::Key << "request" << YAML::Value;
    write_value(out, v.request);
    if (v.expect) {
      out << YAML::Key << "expect" << YAML::Value;
      write_value(out, *v.expect);
    }
  }
  out << YAML::EndMap;
}

template <class E>
void read_action(Context& c, FieldReader& reader, const char* key, E& out) {
  YAML::Node node = reader.take(key);
  if (!node.IsDefined() || node.IsNull()) return;
  FieldReader inner(c, node, reader.child(key));
  inner("action", out, kRequired);
  inner.finish();
}

void read_value(Context& c, const YAML::Node& n, const std::string& p, ErrorsSpec& out) {
  FieldReader reader(c, n, p);
  read_action(c, reader, "on_init_failure", out.on_init_failure);
  read_action(c, reader, "on_panic", out.on_panic);
  reader.finish();
}

void write_value(Out& out, const ErrorsSpec& v) {
  ErrorsSpec fallback;
  out << YAML::BeginMap;
  if (v.on_init_failure != fallback.on_init_failure) {
    out << YAML::Key << "on_init_failure" << YAML::Value << YAML::BeginMap << YAML::Key << "action"
        << YAML::Value << std::string(enum_name(v.on_init_failure)) << YAML::EndMap;
  }
  if (v.on_panic != fallback.on_panic) {
    out << YAML::Key << "on_panic" << YAML::Value << YAML::BeginMap << YAML::Key << "action"
        << YAML::Value << std::string(enum_name(v.on_panic)) << YAML::EndMap;
  }
  out << YAML::EndMap;
}

// "default" | "host" | "none" | "bridge" | "bridge:<name>" | "container:<id>", or the map form
// {bridge: name} / {container: id} / {host: null}.
void read_value(Context& c, const YAML::Node& n, const std::string& p, NetworkMode& out) {
  std::string kind_text;
  std::string name;
  if (n.IsScalar()) {
    kind_text = n.Scalar();
    if (auto colon = kind_text.find(':'); colon != std::string::npos) {
      name = kind_text.substr(colon + 1);
      kind_text.resize(colon);
    }
  } else if (n.IsMap() && n.size() == 1) {
    auto entry = *n.begin();
    kind_text = entry.first.Scalar();
    if (entry.second.IsScalar()) name = entry.second.Scalar();
  }
  auto kind = enum_from_string<NetworkModeKind>(kind_text);
  bool needs_name = kind == NetworkModeKind::kContainer;
  bool allows_name = needs_name || kind == NetworkModeKind::kBridge;
  if (!kind || (needs_name && name.empty()) || (!allows_name && !name.empty())) {
    c.error(n, p,
            fmt::format("expected default, host, none, bridge, bridge:<name> or "
                        "container:<id>, got {}",
                        describe(n)));
    return;
  }
  out = NetworkMode{*kind, name};
}

void write_value(Out& out, const NetworkMode& v) {
  std::string text(enum_name(v.kind));
  if (!v.name.empty()) text += ":" + v.name;
  write_value(out, text);
}

// "spread" | "pack" | {pin: "k=v"}
void read_value(Context& c, const YAML::Node& n, const std::string& p, Affinity& out) {
  if (n.IsScalar()) {
    auto kind = enum_from_string<AffinityKind>(n.Scalar());
    if (kind && *kind != AffinityKind::kPin) {
      out = Affinity{*kind, {}};
      return;
    }
  } else if (n.IsMap() && n.size() == 1 && n["pin"].IsScalar()) {
    out = Affinity{AffinityKind::kPin, n["pin"].Scalar()};
    return;
  }
  c.error(n, p, fmt::format("expected spread, pack or {{pin: <selector>}}, got {}", describe(n)));
}

void write_value(Out& out, const Affinity& v) {
  if (v.kind == AffinityKind::kPin) {
    out << YAML::BeginMap << YAML::Key << "pin" << YAML::Value;
    write_value(out, v.pin);
    out << YAML::EndMap;
  } else {
    out << std::string(enum_name(v.kind));
  }
}

}  // namespace detail

std::string format_duration(Duration duration) {
  using std::chrono::nanoseconds;
  long long ns = duration.count();
  if (ns == 0) return "0s";
  std::string out;
  if (ns < 0) {
    out = "-";
    ns = -ns;
  }
  constexpr long long kSecond = 1'000'000'000;
  if (ns % kSecond != 0 && ns < kSecond) {
    // Sub-second values: the largest unit that divides exactly.
    if (ns % 1'000'000 == 0) return out + fmt::format("{}ms", ns / 1'000'000);
    if (ns % 1'000 == 0) return out + fmt::format("{}us", ns / 1'000);
    return out + fmt::format("{}ns", ns);
  }
  long long hours = ns / (3600 * kSecond);
  ns %= 3600 * kSecond;
  long long minutes = ns / (60 * kSecond);
  ns %= 60 * kSecond;
  if (hours) out += fmt::format("{}h", hours);
  if (minutes) out += fmt::format("{}m", minutes);
  if (ns) {
    long long seconds = ns / kSecond;
    long long fraction = ns % kSecond;
    if (fraction == 0) {
      out += fmt::format("{}s", seconds);
    } else {
      std::string digits = fmt::format("{:09}", fraction);
      while (digits.back() == '0') digits.pop_back();
      out += fmt::format("{}.{}s", seconds, digits);
    }
  }
  return out;
}

SpecReport check_spec(std::string_view yaml) {
  SpecReport report;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    report.errors.push_back(Diagnostic{"",
                                       fmt::format("invalid YAML at line {}, column {}: {}",
                                                   e.mark.line + 1, e.mark.column + 1, e.msg),
                                       e.mark.line + 1});
    return report;
  }
  detail::Context context;
  DeploymentSpec spec;
  if (!root.IsDefined() || root.IsNull()) {
    context.errors.push_back(Diagnostic{"", "the spec is empty", 0});
  } else {
    detail::read_value(context, root, "", spec);
  }
  if (root.IsMap()) {
    // Value rules and cross-field checks run on what could be read, so every problem shows at
    // once; nothing is said about values the reader already refused.
    std::vector<Diagnostic> later;
    std::vector<Diagnostic> warnings;
    detail::check_values(spec, later, warnings);
    for (auto& problem : validate_spec(spec)) later.push_back(std::move(problem));
    for (auto& problem : later) {
      if (context.under_broken(problem.path)) continue;
      problem.line = context.line_for(problem.path);
      context.errors.push_back(std::move(problem));
    }
    for (auto& warning : warnings) {
      warning.line = context.line_for(warning.path);
      context.warnings.push_back(std::move(warning));
    }
  }
  report.errors = std::move(context.errors);
  report.warnings = std::move(context.warnings);
  if (report.errors.empty()) report.spec = std::move(spec);
  return report;
}

Result<LoadedSpec> parse_spec(std::string_view yaml, std::string_view source) {
  SpecReport report = check_spec(yaml);
  if (report.ok()) return LoadedSpec{std::move(*report.spec), std::move(report.warnings)};
  std::string message;
  if (!source.empty()) {
    message = fmt::format("{}: invalid deployment spec ({} problem{}):", source,
                          report.errors.size(), report.errors.size() == 1 ? "" : "s");
  }
  for (const auto& problem : report.errors) {
    if (!message.empty()) message += "\n";
    message += problem.str();
  }
  return make_error(Errc::kInvalidArgument, std::move(message));
}

Result<LoadedSpec> load_spec_file(const std::filesystem::path& path) {
  ZLAYER_TRY(text, read_file(path));
  return parse_spec(text, path.string());
}

std::string emit_spec(const DeploymentSpec& spec) {
  YAML::Emitter emitter;
  emitter.SetIndent(2);
  detail::Out out{emitter};
  detail::write_value(out, spec);
  return std::string(emitter.c_str()) + "\n";
}

}  // namespace zlayer::spec
