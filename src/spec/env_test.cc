#include "spec/env.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "spec/parse.h"
#include "spec/secret_store.h"
#include "spec/to_container_config.h"
#include "support/temp_dir.h"

namespace zlayer::spec {
namespace {

std::optional<std::string> fake_env(const std::string& name) {
  if (name == "DATABASE_URL") return "postgres://db:5432/app";
  if (name == "EMPTY") return "";
  return std::nullopt;
}

TEST(SecretStore, SetGetListRemoveWithPrivateFiles) {
  testing::TempDir root;
  SecretStore store(root.path());
  SecretScope deployment{"demo", {}};
  SecretScope service{"demo", "web"};
  ASSERT_TRUE(store.set(deployment, "api-key", "k1"));
  ASSERT_TRUE(store.set(service, "token", "t1"));
  ASSERT_TRUE(store.set(SecretScope{}, "shared", "s1"));
  ASSERT_TRUE(store.set(deployment, "api-key", "k2"));  // replaces
  EXPECT_EQ(store.get(deployment, "api-key").value(), "k2");
  EXPECT_EQ(store.get(service, "token").value(), "t1");

  struct stat st {};
  ASSERT_EQ(::stat((root.path() / "secrets/deployments/demo/values/api-key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((root.path() / "secrets").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto all = store.list();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name, "shared");
  EXPECT_EQ((*all)[1].scope, deployment);
  EXPECT_EQ((*all)[2].scope, service);

  ASSERT_TRUE(store.remove(deployment, "api-key"));
  auto gone = store.get(deployment, "api-key");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Errc::kNotFound);
  EXPECT_EQ(gone.error().message, "secret \"api-key\" not found in deployment demo");
  EXPECT_EQ(store.remove(deployment, "api-key").error().code, Errc::kNotFound);
  EXPECT_EQ(store.set(deployment, "../escape", "x").error().code, Errc::kInvalidArgument);
  EXPECT_EQ(store.set(SecretScope{"", "web"}, "x", "x").error().code, Errc::kInvalidArgument);
}

TEST(SecretRef, Forms) {
  auto plain = SecretRef::parse("api-key").value();
  EXPECT_EQ(plain.name, "api-key");
  EXPECT_FALSE(plain.field);
  auto field = SecretRef::parse("db/password").value();
  EXPECT_EQ(field.name, "db");
  EXPECT_EQ(field.field, "password");
  auto scoped = SecretRef::parse("@web/token/value").value();
  EXPECT_EQ(scoped.service, "web");
  EXPECT_EQ(scoped.name, "token");
  EXPECT_EQ(scoped.field, "value");
  EXPECT_EQ(SecretRef::parse(":prod/key").value().name, "key");
  EXPECT_EQ(SecretRef::parse("proj:prod/key").value().name, "key");
  for (const char* bad : {"", "@web", "@/x", "1x", "x/", "proj:prod"}) {
    EXPECT_FALSE(SecretRef::parse(bad)) << bad;
  }
}

TEST(ResolveEnv, EnvSecretsAndRedaction) {
  testing::TempDir root;
  SecretStore store(root.path());
  ASSERT_TRUE(store.set(SecretScope{"demo", {}}, "api-key", "sekrit"));
  ASSERT_TRUE(store.set(SecretScope{}, "shared", "global-value"));
  ASSERT_TRUE(
      store.set(SecretScope{"demo", "web"}, "db", R"({"user":"app","port":5432,"n":null})"));
  EnvResolver resolver{"demo", "web", &store, fake_env};
  auto env = resolve_env({{"URL", "$E:DATABASE_URL"},
                          {"KEY", "$S:api-key"},
                          {"SHARED", "$S:shared"},
                          {"USER", "$S:@web/db/user"},
                          {"PORT", "$S:@web/db/port"},
                          {"NUL", "$S:@web/db/n"},
                          {"LITERAL", "x$E:DATABASE_URL"},
                          {"BLANK", "$E:EMPTY"}},
                         resolver);
  ASSERT_TRUE(env) << env.error().message;
  EXPECT_EQ(env->values.at("URL"), "postgres://db:5432/app");
  EXPECT_EQ(env->values.at("KEY"), "sekrit");
  EXPECT_EQ(env->values.at("SHARED"), "global-value");
  EXPECT_EQ(env->values.at("USER"), "app");
  EXPECT_EQ(env->values.at("PORT"), "5432");
  EXPECT_EQ(env->values.at("NUL"), "");
  EXPECT_EQ(env->values.at("LITERAL"), "x$E:DATABASE_URL");
  EXPECT_EQ(env->secret_keys, (std::set<std::string>{"KEY", "NUL", "PORT", "SHARED", "USER"}));
  ASSERT_EQ(env->warnings.size(), 1u);
  EXPECT_EQ(env->warnings[0],
            "service web: env BLANK: environment variable \"EMPTY\" is set but empty");
  for (const auto& line : env->redacted()) {
    EXPECT_EQ(line.find("sekrit"), std::string::npos);
    EXPECT_NE(line, "USER=app");
  }
  EXPECT_NE(std::find(env->redacted().begin(), env->redacted().end(), "KEY=<redacted>"),
            env->redacted().end());
}

TEST(ResolveEnv, EveryFailureNamed) {
  testing::TempDir root;
  SecretStore store(root.path());
  ASSERT_TRUE(store.set(SecretScope{"demo", {}}, "plain", "not json"));
  EnvResolver resolver{"demo", "api", &store, fake_env};
  auto env = resolve_env(
      {{"A", "$E:MISSING_VAR"}, {"B", "$S:nope"}, {"C", "$S:plain/field"}, {"D", "$S:@other/x"}},
      resolver);
  ASSERT_FALSE(env);
  EXPECT_EQ(env.error().message,
            "service api: env A: environment variable \"MISSING_VAR\" referenced by "
            "$E:MISSING_VAR is not set\n"
            "service api: env B: secret \"nope\" not found in deployment demo or the global "
            "scope (set it with `zlayer-agent secret set --deployment demo nope`)\n"
            "service api: env C: secret \"plain\" is not JSON, so field \"field\" cannot be "
            "read\n"
            "service api: env D: secret \"x\" not found in service demo/other");
  EXPECT_EQ(env.error().message.find("not json"), std::string::npos);
}

TEST(ToContainerConfig, MapsEveryField) {
  auto loaded = parse_spec(R"(
version: v1
deployment: demo
services:
  web:
    image: { name: "web:1" }
    resources: { cpu: 500m, memory: 64Mi, memory_swap: "-1", pids_limit: 50, cpuset: "0", cpu_shares: 256 }
    command: { entrypoint: [/bin/httpd], args: [-f], workdir: /www }
    user: "1000"
    hostname: web-host
    ulimits: { nofile: { soft: 1024, hard: 2048 }, core: { soft: -1 } }
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    read_only_root_fs: true
    storage:
      - { type: bind, source: /srv, target: /srv, readonly: true }
      - { type: named, name: data, target: /data }
      - { type: anonymous, target: /scratch }
      - { type: tmpfs, target: /tmp, size: 16Mi, mode: 0o1777 }
    devices: [ { path: /dev/fuse } ]
    dns: [10.0.0.53]
    extra_hosts: ["db:10.0.0.2"]
    stop_signal: SIGINT
    tty: true
    labels: { team: a }
    env: { A: "1" }
    replica_groups:
      - { role: big, count: 1, resources: { memory: 128Mi }, env: { B: "2" } }
)");
  ASSERT_TRUE(loaded) << loaded.error().message;
  const ServiceSpec& web = loaded->spec.services.at("web");
  const ReplicaGroup& group = web.replica_groups->front();
  auto env = resolve_env(merged_env(web, &group), EnvResolver{"demo", "web", nullptr, fake_env});
  ASSERT_TRUE(env);
  auto config = to_container_config(ContainerConfigInput{"demo", "web", &web, &group, &*env, {}});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->image_ref, "web:1");
  EXPECT_EQ(config->entrypoint, std::vector<std::string>{"/bin/httpd"});
  EXPECT_EQ(config->args, std::vector<std::string>{"-f"});
  EXPECT_EQ(config->working_dir, "/www");
  EXPECT_EQ(config->env, (std::vector<std::string>{"A=1", "B=2"}));
  EXPECT_EQ(config->user, "1000");
  EXPECT_EQ(config->hostname, "web-host");
  EXPECT_EQ(config->resources.cpus, 0.5);
  EXPECT_EQ(config->resources.memory_bytes, 128u << 20);  // the group's
  EXPECT_EQ(config->resources.memory_swap_bytes, -1);
  EXPECT_EQ(config->resources.pids_limit, 50);
  EXPECT_EQ(config->resources.cpuset_cpus, "0");
  EXPECT_EQ(config->resources.cpu_shares, 256u);
  EXPECT_EQ(config->ulimits.at("nofile").soft, 1024u);
  EXPECT_EQ(config->ulimits.at("nofile").hard, 2048u);
  EXPECT_EQ(config->ulimits.at("core").soft, UINT64_MAX);
  EXPECT_FALSE(config->ulimits.at("core").hard);
  EXPECT_EQ(config->capabilities.cap_add, std::vector<std::string>{"NET_ADMIN"});
  EXPECT_EQ(config->capabilities.cap_drop, std::vector<std::string>{"MKNOD"});
  EXPECT_TRUE(config->read_only_root_fs);
  ASSERT_EQ(config->storage.size(), 4u);
  EXPECT_TRUE(std::get<runtime::BindMount>(config->storage[0]).readonly);
  EXPECT_EQ(std::get<runtime::NamedVolume>(config->storage[1]).name, "data");
  EXPECT_EQ(std::get<runtime::AnonymousVolume>(config->storage[2]).target, "/scratch");
  EXPECT_EQ(std::get<runtime::TmpfsMount>(config->storage[3]).size_bytes, 16u << 20);
  EXPECT_EQ(std::get<runtime::TmpfsMount>(config->storage[3]).mode, 01777u);
  ASSERT_EQ(config->devices.size(), 1u);
  EXPECT_EQ(config->network.mode, runtime::NetworkMode::kBridge);
  EXPECT_EQ(config->dns.servers, std::vector<std::string>{"10.0.0.53"});
  EXPECT_EQ(config->extra_hosts, std::vector<std::string>{"db:10.0.0.2"});
  EXPECT_EQ(config->stop_signal, "SIGINT");
  EXPECT_TRUE(config->tty);
  EXPECT_EQ(config->labels.at("team"), "a");
  EXPECT_EQ(config->annotations.at("com.zlayer.role"), "big");

  ServiceSpec host = web;
  host.network_mode = NetworkMode{NetworkModeKind::kHost, {}};
  auto host_config =
      to_container_config(ContainerConfigInput{"demo", "web", &host, nullptr, &*env, {}});
  ASSERT_TRUE(host_config);
  EXPECT_EQ(host_config->network.mode, runtime::NetworkMode::kHost);
  EXPECT_TRUE(host_config->dns.servers.empty());
  EXPECT_EQ(host_config->resources.memory_bytes, 64u << 20);
}

}  // namespace
}  // namespace zlayer::spec
