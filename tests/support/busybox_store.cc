#include "support/busybox_store.h"

#include "support/image_builder.h"

namespace zlayer::testing {

Result<image::ImageDetails> import_busybox(image::ImageService& images,
                                           const std::filesystem::path& scratch) {
  ZLAYER_TRY(busybox, busybox_image());
  const std::filesystem::path layout = scratch / "layout";
  ZLAYER_TRY(written, write_layout(layout, {LayoutTag{"latest", busybox}}));
  (void)written;
  ZLAYER_TRY(name, image::Reference::parse("localhost/zlayer-test/busybox:latest"));
  ZLAYER_TRY(imported, images.import_layout(layout, "latest", name));
  return std::move(imported.image);
}

}  // namespace zlayer::testing
