// `inspect CONTAINER...`: one JSON array with an object per container (fields in docs/cli.md),
// as `docker inspect` prints.
#include <cstdio>

#include "cli/cmd_run_wasm.h"
#include "cli/commands.h"
#include "cli/container_cli.h"
#include "cli/container_json.h"

namespace zlayer::cli {

void register_inspect(CLI::App& app, Commands& commands) {
  auto* cmd = app.add_subcommand("inspect", "Show a container's state and configuration as JSON");
  auto names = std::make_shared<std::vector<std::string>>();
  cmd->add_option("CONTAINER", *names, "container names, ids or unique id prefixes")->required();
  cmd->callback([=, &commands] {
    commands.selected = [=]() -> int {
      auto backend = open_backend();
      if (!backend) return fail(backend.error());
      auto known = backend->runtime->list_containers();
      if (!known) return fail(known.error());
      auto modules = wasm_container_details();
      if (!modules) return fail(modules.error());
      for (const auto& d : *modules) known->push_back(d.id);
      const auto module_details = [&](const ContainerId& id)
          -> std::optional<runtime::linux::ContainerDetails> {
        for (const auto& d : *modules) {
          if (d.id == id) return d;
        }
        return std::nullopt;
      };
      // Like Docker: every container that exists is printed; a missing one fails the command.
      nlohmann::json out = nlohmann::json::array();
      int status = 0;
      for (const auto& text : *names) {
        auto id = resolve_container_id(text, *known);
        Result<runtime::linux::ContainerDetails> details =
            tl::unexpected(id ? Error{} : id.error());
        if (id) {
          auto module = module_details(*id);
          details = module ? Result<runtime::linux::ContainerDetails>(std::move(*module))
                           : backend->runtime->inspect(*id);
        }
        if (!details) {
          status = fail(details.error());
          continue;
        }
        out.push_back(inspect_json(*details));
      }
      std::printf("%s\n", out.dump(2).c_str());
      return status;
    };
  });
}

}  // namespace zlayer::cli
