// zlayer_unpack_bench BLOB MEDIA_TYPE DEST: unpacks one layer blob into DEST (created, must not
// exist) with zlayer's unpack_layer and prints the diff_id and sizes. bench/unpack_vs_umoci.sh runs
// it side by side with `umoci raw unpack` under hyperfine.
#include <cstdio>
#include <filesystem>

#include "core/fs.h"
#include "image/unpack.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s BLOB MEDIA_TYPE DEST\n", argv[0]);
    return 2;
  }
  if (auto ok = zlayer::make_dirs(argv[3]); !ok) {
    std::fprintf(stderr, "%s\n", ok.error().message.c_str());
    return 1;
  }
  auto stats = zlayer::image::unpack_layer(argv[3], argv[1], argv[2], argv[1]);
  if (!stats) {
    std::fprintf(stderr, "%s\n", stats.error().message.c_str());
    return 1;
  }
  std::printf("%s %lld bytes %lld entries\n", stats->diff_id.str().c_str(),
              static_cast<long long>(stats->uncompressed_bytes),
              static_cast<long long>(stats->entries));
  return 0;
}
