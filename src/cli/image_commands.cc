// `pull`, `images` and `image inspect|rm|prune|import`: parse, call ImageService, print.
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/progress.h"
#include "core/paths.h"
#include "image/image_service.h"
#include "image/oci_layout.h"

namespace zlayer::cli {
namespace {

using image::ImageService;
using nlohmann::json;

Result<std::unique_ptr<ImageService>> open_service() {
  return ImageService::open(Paths::from_env(), image::RegistryOptions::default_options());
}

json record_json(const image::ImageRecord& r) {
  auto ref = image::Reference::parse(r.name);
  return json{{"name", r.name},
              {"repository", ref ? ref->name() : r.name},
              {"tag", ref ? ref->tag : ""},
              {"id", r.config_digest.str()},
              {"manifest_digest", r.manifest_digest.str()},
              {"index_digest", r.index_digest ? json(r.index_digest->str()) : json(nullptr)},
              {"platform", r.platform.str()},
              {"size", r.size},
              {"kind", r.kind},
              {"pulled_at", r.pulled_at}};
}

json details_json(const image::ImageDetails& d) {
  json j = record_json(d.record);
  json layers = json::array();
  for (const auto& l : d.manifest.layers) {
    layers.push_back({{"media_type", l.media_type}, {"digest", l.digest.str()}, {"size", l.size}});
  }
  json diff_ids = json::array();
  for (const auto& id : d.config.diff_ids) diff_ids.push_back(id.str());
  j["manifest_media_type"] = d.manifest.media_type;
  j["layers"] = layers;
  j["diff_ids"] = diff_ids;
  j["config"] = {{"user", d.config.user},
                 {"env", d.config.env},
                 {"entrypoint", d.config.entrypoint},
                 {"cmd", d.config.cmd},
                 {"working_dir", d.config.working_dir},
                 {"stop_signal", d.config.stop_signal},
                 {"exposed_ports", d.config.exposed_ports},
                 {"volumes", d.config.volumes},
                 {"labels", d.config.labels}};
  return j;
}

void print_pull_result(const image::PullResult& r, const std::string& name, bool quiet) {
  if (quiet) {
    std::printf("%s\n", name.c_str());
    return;
  }
  // Like Docker: the digest a user would pin, i.e. the index's when there is one.
  const auto& record = r.image.record;
  std::printf("Digest: %s\n",
              (record.index_digest ? *record.index_digest : record.manifest_digest).str().c_str());
  std::printf("Status: %s for %s (%d layers downloaded, %d reused)\n",
              r.layers_downloaded > 0 ? "Downloaded newer image" : "Image is up to date",
              name.c_str(), r.layers_downloaded, r.layers_reused);
  std::printf("transferred: %lld bytes\n", static_cast<long long>(r.bytes_transferred));
}

}  // namespace

void register_image_commands(CLI::App& app, Commands& commands) {
  // pull
  {
    auto* cmd =
        app.add_subcommand("pull", "Pull an image or WASM artifact from a registry and unpack it");
    auto ref_text = std::make_shared<std::string>();
    auto platform_text = std::make_shared<std::string>();
    auto quiet = std::make_shared<bool>(false);
    cmd->add_option("REF", *ref_text, "image reference, e.g. busybox or 127.0.0.1:5000/ns/app:1")
        ->required();
    cmd->add_option("--platform", *platform_text, "os/arch[/variant] (default: this host's)");
    cmd->add_flag("-q,--quiet", *quiet, "print only the image reference");
    cmd->callback([=, &commands] {
      commands.selected = [=]() -> int {
        auto ref = image::Reference::parse(*ref_text);
        if (!ref) return fail(ref.error());
        image::PullOptions options;
        if (!platform_text->empty()) {
          auto p = image::Platform::parse(*platform_text);
          if (!p) return fail(p.error());
          options.platform = *p;
        }
        auto progress = std::make_shared<PullProgress>(stdout, ::isatty(STDOUT_FILENO) != 0);
        if (!*quiet)
          options.progress = [progress](const image::PullEvent& e) { progress->on_event(e); };
        auto service = open_service();
        if (!service) return fail(service.error());
        auto result = (*service)->pull(*ref, options);
        if (!result) return fail(result.error());
        print_pull_result(*result, ref->familiar(), *quiet);
        return 0;
      };
    });
  }
  // images
  {
    auto* cmd = app.add_subcommand("images", "List images");
    auto format = std::make_shared<std::string>();
    cmd->add_option("--format", *format, "\"json\" for a JSON array (fields: docs/cli.md)");
    cmd->callback([=, &commands] {
      commands.selected = [=]() -> int {
        if (!format->empty() && *format != "json" && *format != "table") {
          std::fprintf(stderr, "zlayer-agent: --format must be json or table, not \"%s\"\n",
                       format->c_str());
          return 2;
        }
        auto service = open_service();
        if (!service) return fail(service.error());
        auto list = (*service)->list();
        if (!list) return fail(list.error());
        if (*format == "json") {
          json arr = json::array();
          for (const auto& r : *list) arr.push_back(record_json(r));
          std::printf("%s\n", arr.dump(2).c_str());
          return 0;
        }
        std::printf("%-50s %-16s %-14s %-16s %s\n", "REPOSITORY", "TAG", "IMAGE ID", "PLATFORM",
                    "SIZE");
        for (const auto& r : *list) {
          auto ref = image::Reference::parse(r.name);
          std::string repo = ref ? ref->familiar() : r.name;
          std::string tag = ref ? ref->tag : "";
          if (ref && !ref->tag.empty()) repo = repo.substr(0, repo.size() - ref->tag.size() - 1);
          std::printf("%-50s %-16s %-14s %-16s %s\n", repo.c_str(),
                      tag.empty() ? "<none>" : tag.c_str(), r.config_digest.short_hex().c_str(),
                      r.platform.str().c_str(), human_size(r.size).c_str());
        }
        return 0;
      };
    });
  }
  // image inspect|rm|prune|import
  auto* image_cmd = app.add_subcommand("image", "Manage images");
  image_cmd->require_subcommand(1);
  {
    auto* cmd =
        image_cmd->add_subcommand("inspect", "Show an image's record, manifest and config as JSON");
    auto names = std::make_shared<std::vector<std::string>>();
    cmd->add_option("IMAGE", *names, "reference or image id")->required();
    cmd->callback([=, &commands] {
      commands.selected = [=]() -> int {
        auto service = open_service();
        if (!service) return fail(service.error());
        json arr = json::array();
        int rc = 0;
        for (const auto& n : *names) {
          auto d = (*service)->inspect(n);
          if (!d) {
            rc = fail(d.error());
            continue;
          }
          arr.push_back(details_json(*d));
        }
        std::printf("%s\n", arr.dump(2).c_str());
        return rc;
      };
    });
  }
  {
    auto* cmd = image_cmd->add_subcommand("rm", "Remove image tags (content is freed by prune)");
    auto names = std::make_shared<std::vector<std::string>>();
    auto force = std::make_shared<bool>(false);
    cmd->add_option("IMAGE", *names, "reference or image id")->required();
    cmd->add_flag("-f,--force", *force, "remove every tag of an image id");
    cmd->callback([=, &commands] {
      commands.selected = [=]() -> int {
        auto service = open_service();
        if (!service) return fail(service.error());
        int rc = 0;
        for (const auto& n : *names) {
          auto removed = (*service)->remove(n, *force);
          if (!removed) {
            rc = fail(removed.error());
            continue;
          }
          for (const auto& r : *removed) std::printf("Untagged: %s\n", r.c_str());
        }
        return rc;
      };
    });
  }
  {
    auto* cmd = image_cmd->add_subcommand("prune", "Remove blobs and snapshots no tag references");
    cmd->callback([&commands] {
      commands.selected = []() -> int {
        auto service = open_service();
        if (!service) return fail(service.error());
        auto report = (*service)->prune();
        if (!report) return fail(report.error());
        std::printf("Deleted %d blobs and %d snapshots\nTotal reclaimed space: %s\n",
                    report->blobs_removed, report->snapshots_removed,
                    human_size(report->bytes_freed).c_str());
        return 0;
      };
    });
  }
  {
    auto* cmd =
        image_cmd->add_subcommand("import", "Import an image from an OCI image layout directory");
    auto source = std::make_shared<std::string>();
    auto name = std::make_shared<std::string>();
    cmd->add_option("DIR[:TAG]", *source, "layout directory, optionally :TAG to pick one")
        ->required();
    cmd->add_option("REF", *name, "name to give the image (default: its ref.name annotation)");
    cmd->callback([=, &commands] {
      commands.selected = [=]() -> int {
        auto [dir, tag] = image::parse_layout_argument(*source);
        std::optional<image::Reference> ref;
        if (!name->empty()) {
          auto parsed = image::Reference::parse(*name);
          if (!parsed) return fail(parsed.error());
          ref = *parsed;
        }
        auto service = open_service();
        if (!service) return fail(service.error());
        image::PullOptions options;
        auto result = (*service)->import_layout(dir, tag, ref, options);
        if (!result) return fail(result.error());
        auto imported = image::Reference::parse(result->image.record.name);
        std::printf("Imported %s (%s)\n",
                    imported ? imported->familiar().c_str() : result->image.record.name.c_str(),
                    result->image.record.config_digest.str().c_str());
        return 0;
      };
    });
  }
}

}  // namespace zlayer::cli
