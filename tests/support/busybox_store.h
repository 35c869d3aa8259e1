// The busybox example image (image_builder.h busybox_image()) imported into an image store, for
// backend tests that create containers without a registry. Free function; no shared state.
#pragma once

#include <filesystem>

#include "core/error.h"
#include "image/image_service.h"

namespace zlayer::testing {

// Writes busybox_image() as an OCI layout under `scratch`/layout and imports it into `images` as
// localhost/zlayer-test/busybox:latest. Returns the stored image (record.name is the reference to
// put in ContainerConfig::image_ref, config its ImageConfig).
// Errors: kNotFound without busybox-static, those of write_layout and import_layout.
Result<image::ImageDetails> import_busybox(image::ImageService& images,
                                           const std::filesystem::path& scratch);

}  // namespace zlayer::testing
