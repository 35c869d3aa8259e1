#include <string>

#include "image/manifest.h"

namespace zlayer::image::media_type {

// Every type must be listed: distribution returns an OCI manifest only when Accept names it, and
// converts a Docker v2 manifest to signed schema 1 (another digest) when Accept lacks the Docker
// v2 type (reference/machine-facts.md). The quality values prefer OCI, as containerd does.
std::string manifest_accept_header() {
  std::string out;
  for (std::string_view type : {kOciIndex, kOciManifest, kDockerManifestList, kDockerManifest}) {
    if (!out.empty()) out += ", ";
    out += type;
  }
  return out;
}

}  // namespace zlayer::image::media_type
