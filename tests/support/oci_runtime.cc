#include "support/oci_runtime.h"

#include <fmt/format.h>
#include <unistd.h>

#include <random>

#include "core/fs.h"
#include "core/subprocess.h"

namespace zlayer::testing {

namespace fs = std::filesystem;

namespace {
constexpr std::string_view kCrunWrapper =
    "umount /sys/fs/cgroup/unified 2>/dev/null || true; exec \"$@\"";
constexpr std::chrono::seconds kRuntimeTimeout{120};
}  // namespace

Status write_busybox_rootfs(const fs::path& rootfs, const std::vector<std::string>& applets) {
  ZLAYER_CHECK(make_dirs(rootfs / "bin"));
  std::error_code ec;
  fs::copy_file(kBusyboxStatic, rootfs / "bin/busybox", fs::copy_options::overwrite_existing, ec);
  if (ec) return errorf(Errc::kInternal, "copying {}: {}", kBusyboxStatic, ec.message());
  for (const auto& applet : applets) {
    fs::create_symlink("busybox", rootfs / "bin" / applet, ec);
    if (ec) return errorf(Errc::kInternal, "linking applet {}: {}", applet, ec.message());
  }
  ZLAYER_CHECK(make_dirs(rootfs / "etc"));
  ZLAYER_CHECK(make_dirs(rootfs / "tmp", 01777));
  ZLAYER_CHECK(atomic_write_file(rootfs / "etc/passwd",
                                 "root:x:0:0:root:/root:/bin/sh\n"
                                 "app:x:1000:1000::/home/app:/bin/sh\n"));
  ZLAYER_CHECK(atomic_write_file(rootfs / "etc/group",
                                 "root:x:0:\napp:x:1000:\nweb:x:2000:app\naudio:x:2001:app\n"));
  return {};
}

std::vector<std::string> oci_runtime_argv(std::string_view runtime, std::vector<std::string> args) {
  std::vector<std::string> argv;
  if (runtime == "crun") {
    argv = {"unshare", "--mount", "--propagation",           "private",
            "sh",      "-c",      std::string(kCrunWrapper), "sh"};
  }
  argv.emplace_back(runtime);
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

bool have_program(std::string_view name) {
  auto found = run_subprocess({"sh", "-c", fmt::format("command -v {}", name)});
  return found && found->exit_code == 0;
}

std::string unique_container_id(std::string_view prefix) {
  std::random_device random;
  return fmt::format("{}-{}-{:08x}", prefix, ::getpid(), random());
}

Result<OciRunResult> oci_run(std::string_view runtime, const fs::path& bundle,
                             const std::string& id, const fs::path& scratch) {
  auto base = scratch / id;
  std::vector<std::string> argv = {"sh", "-c", "exec \"$@\" >\"$0.out\" 2>\"$0.err\"",
                                   base.string()};
  auto run_argv = oci_runtime_argv(runtime, {"run", "--bundle", bundle.string(), id});
  argv.insert(argv.end(), run_argv.begin(), run_argv.end());
  ZLAYER_TRY(result, run_subprocess(argv, {.timeout = kRuntimeTimeout}));
  OciRunResult run;
  run.exit_code = result.exit_code;
  auto out = read_file(base.string() + ".out");
  auto err = read_file(base.string() + ".err");
  if (out) run.out = *out;
  if (err) run.err = *err;
  return run;
}

Status oci_delete(std::string_view runtime, const std::string& id) {
  // "does not exist" is the normal case: `run` deletes the container when it exits.
  (void)run_subprocess(oci_runtime_argv(runtime, {"delete", "-f", id}),
                       {.timeout = kRuntimeTimeout});
  ZLAYER_TRY(listed, run_subprocess(oci_runtime_argv(runtime, {"list", "-q"}),
                                    {.timeout = kRuntimeTimeout}));
  if (listed.out.find(id) != std::string::npos) {
    return errorf(Errc::kInternal, "{} still lists container {} after delete -f", runtime, id);
  }
  return {};
}

std::string status_field(const std::string& text, std::string_view key) {
  std::string needle = fmt::format("\n{}:", key);
  auto pos = ("\n" + text).find(needle);
  if (pos == std::string::npos) return "";
  auto start = pos + needle.size() - 1;
  auto end = text.find('\n', start);
  std::string value =
      text.substr(start, end == std::string::npos ? std::string::npos : end - start);
  auto first = value.find_first_not_of(" \t");
  auto last = value.find_last_not_of(" \t");
  return first == std::string::npos ? "" : value.substr(first, last - first + 1);
}

}  // namespace zlayer::testing
