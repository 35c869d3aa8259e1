// WebAssembly end to end: real WASI programs built with clang --target=wasm32-wasi at test time,
// pushed as OCI artifacts to a loopback docker-registry, pulled (artifact media types, OCI 1.1
// artifactType, an index whose WASI entry a WASM pull picks), refused when they are components,
// and run by `zlayer-agent run` — by reference and as local .wasm/.wat files, with args, env and
// exit codes; the module cache (no second blob download); `ps` from another process; and
// failed{agent exited} once the process that ran a module is killed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/fs.h"
#include "core/subprocess.h"
#include "image/image_service.h"
#include "image/wasm_artifact.h"
#include "support/artifact_push.h"
#include "support/registry_fixture.h"
#include "support/temp_dir.h"
#include "wasm/backend_for_image.h"
#include "wasm/wasm_runtime.h"

namespace zlayer {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::ArtifactBlob;
using testing::ArtifactManifest;
using testing::RegistryFixture;

constexpr std::string_view kHelloC = R"c(#include <stdio.h>
#include <stdlib.h>
int main(int argc, char** argv) {
  printf("hello from wasm:");
  for (int i = 0; i < argc; ++i) printf(" %s", argv[i]);
  printf("\n");
  const char* greeting = getenv("GREETING");
  fprintf(stderr, "greeting=%s\n", greeting ? greeting : "(none)");
  return argc;
}
)c";

constexpr std::string_view kSpinWat = R"((module (func (export "_start") (loop $l (br $l)))))";

class WasmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!find_program("clang")) GTEST_SKIP() << "needs clang --target=wasm32-wasi";
    auto built = compile("hello", kHelloC);
    ASSERT_TRUE(built) << built.error().message;
    hello_wasm_ = *built;
  }

  Result<fs::path> compile(const std::string& name, std::string_view source) {
    fs::path c = dir_.path() / (name + ".c");
    fs::path out = dir_.path() / (name + ".wasm");
    ZLAYER_CHECK(atomic_write_file(c, source));
    ZLAYER_TRY(result,
               run_subprocess(
                   {"clang", "--target=wasm32-wasi", "-O2", c.string(), "-o", out.string()}, {}));
    if (result.exit_code != 0) return errorf(Errc::kInternal, "clang: {}", result.err);
    return out;
  }

  std::map<std::string, std::string> agent_env() const {
    auto p = dir_.paths();
    return {{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"},
            {"ZLAYER_ROOT_DIR", p.root_dir.string()},
            {"ZLAYER_RUNTIME_DIR", p.runtime_dir.string()},
            {"ZLAYER_WASM_CACHE_DIR", p.wasm_cache_dir.string()},
            {"HOME", dir_.path().string()}};
  }

  SubprocessResult agent(std::vector<std::string> args) {
    args.insert(args.begin(), ZLAYER_AGENT_BIN);
    auto result = run_subprocess(args, {.env = agent_env(), .timeout = std::chrono::minutes(2)});
    EXPECT_TRUE(result) << result.error().message;
    return result ? *result : SubprocessResult{};
  }

  void start_registry() {
    auto registry = RegistryFixture::start();
    ASSERT_TRUE(registry) << registry.error().message;
    registry_ = std::move(*registry);
  }

  std::string module_bytes() { return read_file(hello_wasm_).value_or(""); }

  // Lines of the registry's log that record a GET of blob `digest`.
  int blob_gets(const std::string& digest) {
    std::ifstream log(registry_->log_path());
    int count = 0;
    for (std::string line; std::getline(log, line);) {
      if (line.find("GET") != std::string::npos && line.find(digest) != std::string::npos &&
          line.find("/blobs/") != std::string::npos) {
        ++count;
      }
    }
    return count;
  }

  testing::TempDir dir_{"zlayer-wasm-"};
  std::unique_ptr<RegistryFixture> registry_;
  fs::path hello_wasm_;
};

TEST_F(WasmTest, LocalModuleRunsWithArgsEnvAndExitCode) {
  auto result = agent({"run", "--rm", "-e", "GREETING=hi", hello_wasm_.string(), "--", "a", "b c"});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_EQ(result.out, "hello from wasm: hello.wasm a b c\n");
  EXPECT_EQ(result.err, "greeting=hi\n");
  // --rm left nothing: no row, no directory.
  EXPECT_EQ(agent({"ps", "-a"}).out.find("run-"), std::string::npos);

  // A .wat file, a trap (134) and a module without an entry (125, nothing left).
  auto wat = dir_.path() / "exit.wat";
  ASSERT_TRUE(atomic_write_file(wat, R"((module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (func (export "_start") (call $exit (i32.const 42)))))"));
  EXPECT_EQ(agent({"run", "--name", "watty", wat.string()}).exit_code, 42);
  auto ps = agent({"ps", "-a"});
  EXPECT_NE(ps.out.find("watty-rep-1"), std::string::npos) << ps.out;
  EXPECT_NE(ps.out.find("exited (42)"), std::string::npos) << ps.out;
  EXPECT_EQ(agent({"rm", "watty"}).exit_code, 0);

  auto trap = dir_.path() / "trap.wat";
  ASSERT_TRUE(atomic_write_file(trap, R"((module (func (export "_start") unreachable)))"));
  auto trapped = agent({"run", "--rm", trap.string()});
  EXPECT_EQ(trapped.exit_code, 134);
  EXPECT_NE(trapped.err.find("trap"), std::string::npos) << trapped.err;

  auto none = dir_.path() / "none.wat";
  ASSERT_TRUE(atomic_write_file(none, R"((module (func (export "f"))))"));
  auto refused = agent({"run", "--name", "none", none.string()});
  EXPECT_EQ(refused.exit_code, 125);
  EXPECT_NE(refused.err.find("neither _start"), std::string::npos) << refused.err;
  EXPECT_EQ(agent({"ps", "-a"}).out.find("none-rep-1"), std::string::npos);

  // Container-only flags are refused for a module, never silently ignored.
  auto flagged = agent({"run", "--rm", "-v", "/tmp:/data", "-p", "80:80", wat.string()});
  EXPECT_EQ(flagged.exit_code, 125);
  EXPECT_NE(flagged.err.find("-v, -p: not supported for WebAssembly modules"), std::string::npos)
      << flagged.err;
}

TEST_F(WasmTest, ArtifactIsPulledRunAndItsModuleNeverDownloadedTwice) {
  start_registry();
  ArtifactManifest artifact;
  artifact.layers.push_back({std::string(image::media_type::kWasmLayer), module_bytes()});
  auto pushed = testing::push_artifact(*registry_, "demo/hello:v1", artifact);
  ASSERT_TRUE(pushed) << pushed.error().message;
  // The same module under a second tag (OCI 1.1 artifactType, application/wasm layer).
  ArtifactManifest typed;
  typed.config_media_type = std::string(image::media_type::kOciEmpty);
  typed.artifact_type = std::string(image::media_type::kWasm);
  typed.layers.push_back({std::string(image::media_type::kWasm), module_bytes()});
  ASSERT_TRUE(testing::push_artifact(*registry_, "demo/hello:v2", typed));
  const std::string layer = pushed->layer_digests.front();

  const std::string ref = registry_->host_port() + "/demo/hello:v1";
  auto first = agent({"run", "--rm", "-e", "GREETING=artifact", ref, "x"});
  EXPECT_EQ(first.exit_code, 2) << first.err;
  EXPECT_EQ(first.out, "hello from wasm: hello x\n");
  EXPECT_EQ(first.err, "greeting=artifact\n");
  const int gets = blob_gets(layer);
  EXPECT_GE(gets, 1);

  // Again, and under the other tag: the blob is not fetched again.
  EXPECT_EQ(agent({"run", "--rm", ref}).exit_code, 1);
  auto second = agent({"run", "--rm", registry_->host_port() + "/demo/hello:v2", "y", "z"});
  EXPECT_EQ(second.exit_code, 3) << second.err;
  EXPECT_EQ(blob_gets(layer), gets);

  // The image store reports the kind, and the backend choice follows it.
  auto images = image::ImageService::open(dir_.paths(), {});
  ASSERT_TRUE(images);
  auto details = (*images)->inspect(ref);
  ASSERT_TRUE(details);
  EXPECT_EQ(details->record.kind, "wasm");
  EXPECT_EQ(*wasm::backend_for_image(**images, ref), wasm::ImageBackend::kWasm);
  auto rt = wasm::create_runtime_for_image(
      ref, **images, runtime::WasmConfig{.paths = dir_.paths()},
      []() -> Result<std::unique_ptr<runtime::Runtime>> {
        return errorf(Errc::kInternal, "the container backend must not be chosen");
      });
  ASSERT_TRUE(rt) << rt.error().message;
  // The module is in the cache directory by its digest.
  auto digest = image::Digest::parse(layer);
  ASSERT_TRUE(digest);
  wasm::ModuleCache cache(dir_.paths().wasm_cache_dir);
  EXPECT_EQ(read_file(cache.path_of(*digest)).value_or(""), module_bytes());
}

TEST_F(WasmTest, WasmPullPicksTheWasiEntryOfAnIndex) {
  start_registry();
  ArtifactManifest wasi_entry;
  wasi_entry.layers.push_back({std::string(image::media_type::kWasmLayer), module_bytes()});
  auto wasm_manifest = testing::push_artifact(*registry_, "demo/multi:wasm", wasi_entry);
  ASSERT_TRUE(wasm_manifest) << wasm_manifest.error().message;
  auto index =
      testing::push_index(*registry_, "demo/multi:latest", {{*wasm_manifest, "wasip1", "wasm"}});
  ASSERT_TRUE(index) << index.error().message;
  auto run = agent({"run", "--rm", registry_->host_port() + "/demo/multi:latest"});
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_EQ(run.out, "hello from wasm: multi\n");

  // The runtime's pull asks for wasip1/wasm explicitly.
  auto images = image::ImageService::open(dir_.paths(), {});
  ASSERT_TRUE(images);
  auto rt = wasm::WasmRuntime::open(runtime::WasmConfig{.paths = dir_.paths()}, images->get());
  ASSERT_TRUE(rt);
  ASSERT_TRUE((*rt)->pull_image(registry_->host_port() + "/demo/multi:latest"));
  auto details = (*images)->inspect(registry_->host_port() + "/demo/multi:latest");
  ASSERT_TRUE(details);
  EXPECT_EQ(details->record.platform.str(), "wasip1/wasm");
}

TEST_F(WasmTest, ComponentIsRefusedWithAClearMessage) {
  start_registry();
  // The component preamble: "\0asm", version 0x0d, layer 1 — under a plain wasm media type.
  std::string component("\0asm\x0d\x00\x01\x00", 8);
  ArtifactManifest artifact;
  artifact.layers.push_back({std::string(image::media_type::kWasmLayer), component});
  ASSERT_TRUE(testing::push_artifact(*registry_, "demo/component:v1", artifact));
  auto run = agent({"run", "--rm", registry_->host_port() + "/demo/component:v1"});
  EXPECT_EQ(run.exit_code, 125);
  EXPECT_NE(run.err.find("WebAssembly component (preview 2)"), std::string::npos) << run.err;
  auto images = agent({"images"});
  EXPECT_EQ(images.out.find("component"), std::string::npos) << images.out;

  // A local component file is refused the same way.
  auto file = dir_.path() / "component.wasm";
  ASSERT_TRUE(atomic_write_file(file, component));
  auto local = agent({"run", "--rm", file.string()});
  EXPECT_EQ(local.exit_code, 125);
  EXPECT_NE(local.err.find("component"), std::string::npos) << local.err;
}

TEST_F(WasmTest, AnotherProcessSeesTheModuleAndRecordsItFailedWhenItsAgentDies) {
  auto spin = dir_.path() / "spin.wat";
  ASSERT_TRUE(atomic_write_file(spin, kSpinWat));
  std::vector<std::string> argv{ZLAYER_AGENT_BIN, "run", "--name", "spinner", spin.string()};
  auto pid = spawn_process(argv, {.env = agent_env()});
  ASSERT_TRUE(pid) << pid.error().message;
  ContainerId id{"spinner", 1};
  auto rt = wasm::WasmRuntime::open(runtime::WasmConfig{.paths = dir_.paths()}, nullptr);
  ASSERT_TRUE(rt);
  bool running = false;
  for (int i = 0; i < 3000 && !running; ++i) {
    auto state = (*rt)->container_state(id);
    running = state && state->phase == runtime::ContainerState::Phase::kRunning;
    if (!running) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(running);
  auto ps = agent({"ps"});
  EXPECT_NE(ps.out.find("spinner-rep-1"), std::string::npos) << ps.out;
  EXPECT_NE(ps.out.find("running"), std::string::npos) << ps.out;
  // inspect and ps --format json show modules of another process like containers.
  auto inspected = agent({"inspect", "spinner"});
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  auto details = nlohmann::json::parse(inspected.out, nullptr, false);
  ASSERT_TRUE(details.is_array() && details.size() == 1) << inspected.out;
  EXPECT_EQ(details[0]["id"], "spinner-rep-1");
  EXPECT_EQ(details[0]["state"]["status"], "running");
  EXPECT_EQ(details[0]["oci_runtime"], "wasm");
  EXPECT_TRUE(fs::exists(details[0]["log_path"].get<std::string>()));
  auto listed = nlohmann::json::parse(agent({"ps", "--format", "json"}).out, nullptr, false);
  ASSERT_TRUE(listed.is_array());
  bool found = false;
  for (const auto& row : listed) found = found || row["id"] == "spinner-rep-1";
  EXPECT_TRUE(found) << listed.dump();
  // Another process cannot stop it (it lives in the agent that runs it) and says so.
  auto stop = agent({"stop", "spinner"});
  EXPECT_EQ(stop.exit_code, 1);
  EXPECT_NE(stop.err.find("another agent process"), std::string::npos) << stop.err;

  ASSERT_EQ(::kill(*pid, SIGKILL), 0);
  ASSERT_TRUE(wait_process(*pid));
  // The next agent process records it as failed{agent exited}.
  auto reopened = wasm::WasmRuntime::open(runtime::WasmConfig{.paths = dir_.paths()}, nullptr);
  ASSERT_TRUE(reopened);
  auto state = (*reopened)->container_state(id);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->phase, runtime::ContainerState::Phase::kFailed);
  EXPECT_EQ(state->reason, "agent exited");
  auto after = agent({"ps", "-a"});
  EXPECT_NE(after.out.find("failed (agent exited)"), std::string::npos) << after.out;
  EXPECT_EQ(agent({"rm", "spinner"}).exit_code, 0);
}

TEST_F(WasmTest, SigtermToRunStopsTheModule) {
  auto spin = dir_.path() / "spin.wat";
  ASSERT_TRUE(atomic_write_file(spin, kSpinWat));
  auto pid = spawn_process({ZLAYER_AGENT_BIN, "run", "--rm", "--name", "term", spin.string()},
                           {.env = agent_env()});
  ASSERT_TRUE(pid);
  auto rt = wasm::WasmRuntime::open(runtime::WasmConfig{.paths = dir_.paths()}, nullptr);
  ASSERT_TRUE(rt);
  bool running = false;
  for (int i = 0; i < 3000 && !running; ++i) {
    auto state = (*rt)->container_state({"term", 1});
    running = state && state->phase == runtime::ContainerState::Phase::kRunning;
    if (!running) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(running);
  ASSERT_EQ(::kill(*pid, SIGTERM), 0);
  auto exit = wait_process(*pid);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->exit_code, 143);
}

}  // namespace
}  // namespace zlayer
