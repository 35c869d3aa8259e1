#include "runtime/linux/user_resolve.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <optional>

#include "core/fs.h"

namespace zlayer::runtime::linux {

namespace {

// Docker refuses ids outside [0, 2^31-1] (moby/sys/user minID/maxID).
constexpr std::uint64_t kMaxId = 2147483647;

struct PasswdEntry {
  std::string name;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string home;
};

struct GroupEntry {
  std::string name;
  std::uint32_t gid = 0;
  std::vector<std::string> members;
};

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  while (true) {
    auto pos = text.find(sep);
    parts.push_back(text.substr(0, pos));
    if (pos == std::string_view::npos) break;
    text.remove_prefix(pos + 1);
  }
  return parts;
}

// Strict decimal id: digits only, within Docker's range.
std::optional<std::uint32_t> parse_id(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > kMaxId) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

bool is_decimal(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

// Lines that do not parse (too few fields, non-numeric ids) are skipped, as libc and
// moby/sys/user do; comments and NIS "+"/"-" lines too.
template <class Entry, class ParseLine>
std::vector<Entry> parse_lines(std::string_view content, ParseLine parse_line) {
  std::vector<Entry> entries;
  for (auto line : split(content, '\n')) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#' || line.front() == '+' || line.front() == '-') continue;
    if (auto entry = parse_line(split(line, ':'))) entries.push_back(std::move(*entry));
  }
  return entries;
}

std::vector<PasswdEntry> parse_passwd(std::string_view content) {
  // name:password:uid:gid:gecos:home:shell
  return parse_lines<PasswdEntry>(content, [](const std::vector<std::string_view>& f) {
    std::optional<PasswdEntry> entry;
    if (f.size() < 4) return entry;
    auto uid = parse_id(f[2]);
    auto gid = parse_id(f[3]);
    if (!uid || !gid) return entry;
    entry = PasswdEntry{std::string(f[0]), *uid, *gid, f.size() > 5 ? std::string(f[5]) : ""};
    return entry;
  });
}

std::vector<GroupEntry> parse_group(std::string_view content) {
  // name:password:gid:member,member
  return parse_lines<GroupEntry>(content, [](const std::vector<std::string_view>& f) {
    std::optional<GroupEntry> entry;
    if (f.size() < 3) return entry;
    auto gid = parse_id(f[2]);
    if (!gid) return entry;
    entry = GroupEntry{std::string(f[0]), *gid, {}};
    if (f.size() > 3 && !f[3].empty()) {
      for (auto member : split(f[3], ',')) {
        if (!member.empty()) entry->members.emplace_back(member);
      }
    }
    return entry;
  });
}

}  // namespace

Result<InRootFile> read_file_in_root(int root_fd, std::string_view relative,
                                     std::size_t max_bytes) {
  std::string name(relative);
  open_how how{};
  // O_NONBLOCK: a FIFO planted at etc/passwd must not hang the agent; fstat refuses it below.
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd_raw;
  do {
    fd_raw = static_cast<int>(::syscall(SYS_openat2, root_fd, name.c_str(), &how, sizeof how));
  } while (fd_raw < 0 && errno == EAGAIN);  // RESOLVE_IN_ROOT may ask to retry on a rename race
  if (fd_raw < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) return InRootFile{};
    if (err == ELOOP || err == EXDEV) {
      return errorf(Errc::kInvalidArgument,
                    "{} in the rootfs is a symlink loop or a link that leaves the rootfs", name);
    }
    return sys_error(fmt::format("opening {} in the rootfs", name), err);
  }
  UniqueFd fd(fd_raw);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return sys_error(fmt::format("stat {} in the rootfs", name), errno);
  if (!S_ISREG(st.st_mode)) {
    return errorf(Errc::kInvalidArgument, "{} in the rootfs is not a regular file", name);
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return errorf(Errc::kInvalidArgument, "{} in the rootfs is {} bytes, more than the {} allowed",
                  name, st.st_size, max_bytes);
  }
  InRootFile out{true, {}};
  char buffer[8192];
  while (true) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error(fmt::format("reading {} in the rootfs", name), errno);
    }
    if (n == 0) break;
    out.content.append(buffer, static_cast<std::size_t>(n));
    if (out.content.size() > max_bytes) {
      return errorf(Errc::kInvalidArgument, "{} in the rootfs is larger than the {} bytes allowed",
                    name, max_bytes);
    }
  }
  return out;
}

Result<ResolvedUser> resolve_user(const std::filesystem::path& rootfs, std::string_view user) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return sys_error(fmt::format("opening rootfs {}", rootfs.string()), errno);

  auto colon = user.find(':');
  std::string_view user_arg = user.substr(0, colon);
  std::string_view group_arg = colon == std::string_view::npos ? "" : user.substr(colon + 1);
  // ":gid" is root with an explicit group, as in Docker.

  std::optional<std::uint32_t> uid_arg;
  if (is_decimal(user_arg)) {
    uid_arg = parse_id(user_arg);
    if (!uid_arg) {
      return errorf(Errc::kInvalidArgument, "user \"{}\": uid {} is out of range (0-{})", user,
                    user_arg, kMaxId);
    }
  }

  ZLAYER_TRY(passwd_file, read_file_in_root(root.get(), "etc/passwd").map_error([&](Error e) {
    return e.wrap(rootfs.string());
  }));
  auto passwd = parse_passwd(passwd_file.content);

  ResolvedUser out;
  const PasswdEntry* match = nullptr;
  for (const auto& entry : passwd) {
    bool hit = user_arg.empty() ? entry.uid == 0
               : uid_arg        ? entry.uid == *uid_arg
                                : entry.name == user_arg;
    if (hit) {
      match = &entry;
      break;
    }
  }
  if (match) {
    out.uid = match->uid;
    out.gid = match->gid;
    out.name = match->name;
    if (!match->home.empty()) out.home = match->home;
  } else if (uid_arg) {
    out.uid = *uid_arg;
  } else if (!user_arg.empty()) {
    return errorf(Errc::kInvalidArgument, "user \"{}\" not found in the image's /etc/passwd",
                  user_arg);
  }

  if (group_arg.empty() && out.name.empty()) return out;

  ZLAYER_TRY(group_file, read_file_in_root(root.get(), "etc/group").map_error([&](Error e) {
    return e.wrap(rootfs.string());
  }));
  auto groups = parse_group(group_file.content);

  if (!group_arg.empty()) {
    std::optional<std::uint32_t> gid_arg;
    if (is_decimal(group_arg)) {
      gid_arg = parse_id(group_arg);
      if (!gid_arg) {
        return errorf(Errc::kInvalidArgument, "user \"{}\": gid {} is out of range (0-{})", user,
                      group_arg, kMaxId);
      }
    }
    for (const auto& group : groups) {
      if (gid_arg ? group.gid == *gid_arg : group.name == group_arg) {
        out.gid = group.gid;
        return out;
      }
    }
    if (!gid_arg) {
      return errorf(Errc::kInvalidArgument, "group \"{}\" not found in the image's /etc/group",
                    group_arg);
    }
    out.gid = *gid_arg;
    return out;
  }

  // Supplementary groups only in the implicit form, as moby/sys/user does.
  for (const auto& group : groups) {
    for (const auto& member : group.members) {
      if (member == out.name) {
        out.additional_gids.push_back(group.gid);
        break;
      }
    }
  }
  return out;
}

}  // namespace zlayer::runtime::linux
