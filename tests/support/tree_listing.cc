#include "support/tree_listing.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace zlayer::testing {
namespace {

char type_letter(mode_t mode) {
  if (S_ISDIR(mode)) return 'd';
  if (S_ISREG(mode)) return 'f';
  if (S_ISLNK(mode)) return 'l';
  if (S_ISCHR(mode)) return 'c';
  if (S_ISBLK(mode)) return 'b';
  if (S_ISFIFO(mode)) return 'p';
  return 's';
}

void walk(const std::filesystem::path& root, const std::filesystem::path& rel,
          const ListingOptions& options, std::vector<std::string>& out) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root / rel, ec)) {
    auto child_rel = rel / entry.path().filename();
    if (!options.skip.empty() && child_rel == options.skip) continue;
    auto full = root / child_rel;
    struct stat st {};
    if (::lstat(full.c_str(), &st) != 0) continue;
    std::string line = fmt::format("{} {}{:04o} {}:{}", child_rel.string(), type_letter(st.st_mode),
                                   st.st_mode & 07777, st.st_uid, st.st_gid);
    if (S_ISLNK(st.st_mode)) {
      line += " -> " + std::filesystem::read_symlink(full, ec).string();
    } else if (S_ISREG(st.st_mode) && options.contents && st.st_size <= 64) {
      std::ifstream in(full, std::ios::binary);
      std::stringstream buffer;
      buffer << in.rdbuf();
      line += fmt::format(" = \"{}\"", buffer.str());
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      line += fmt::format(" dev {}:{}", major(st.st_rdev), minor(st.st_rdev));
    } else if (S_ISDIR(st.st_mode)) {
      char value[2] = {};
      if (::lgetxattr(full.c_str(), "trusted.overlay.opaque", value, sizeof value) == 1 &&
          value[0] == 'y') {
        line += " opaque";
      }
    }
    if (options.mtimes) line += fmt::format(" mtime={}", st.st_mtim.tv_sec);
    out.push_back(std::move(line));
    if (S_ISDIR(st.st_mode)) walk(root, child_rel, options, out);
  }
}

}  // namespace

std::vector<std::string> list_tree(const std::filesystem::path& root,
                                   const ListingOptions& options) {
  std::vector<std::string> out;
  walk(root, "", options, out);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace zlayer::testing
