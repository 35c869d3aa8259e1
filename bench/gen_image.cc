// bench_gen_image: writes the pull benchmark's images as an OCI layout and pushes them.
// Image 1 ("big:1"): a busybox layer plus N gzip data layers of pseudo-random, partly
// compressible files (deterministic: same seed, same bytes, same digests). Image 2 ("big:2")
// shares every layer of image 1 but the top one. Prints the facts pull_bench.sh needs as
// key=value lines (and writes them to --info FILE). Single-threaded; exits 0/1/2.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <string>

#include "support/image_builder.h"
#include "support/tar_builder.h"

namespace {

using zlayer::testing::OciImage;
using zlayer::testing::TarBuilder;
using zlayer::testing::TarCompression;

// splitmix64: tiny, fast, and the same sequence on every platform (unlike std distributions).
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }

 private:
  std::uint64_t state_;
};

// `size` bytes in 4 KiB blocks: three of four blocks random (incompressible), the fourth a
// repeated line of text (compresses ~100×) — about 75 % of the bytes survive gzip, so the
// compressed image is as large as a real one and decompression still has work to do.
std::string file_content(Random& random, std::size_t size) {
  std::string out;
  out.reserve(size);
  std::size_t block = 0;
  while (out.size() < size) {
    std::size_t n = std::min<std::size_t>(4096, size - out.size());
    if (block++ % 4 == 3) {
      std::string line = "zlayer benchmark line " + std::to_string(random.below(1000)) + "\n";
      while (n > 0) {
        std::size_t k = std::min(n, line.size());
        out.append(line, 0, k);
        n -= k;
      }
    } else {
      for (std::size_t i = 0; i < n; i += 8) {
        std::uint64_t word = random.next();
        out.append(reinterpret_cast<const char*>(&word), std::min<std::size_t>(8, n - i));
      }
    }
  }
  return out;
}

// One data layer of about `bytes` uncompressed: files from 1 KiB to 2 MiB (roughly log-uniform, so
// both per-file overhead and streaming throughput count) under layer<index>/d<k>/.
std::string data_layer(std::uint64_t seed, int index, std::size_t bytes) {
  Random random(seed * 1000003 + static_cast<std::uint64_t>(index));
  TarBuilder tar;
  std::string root = "layer" + std::to_string(index);
  tar.dir(root);
  std::size_t total = 0;
  int files = 0;
  while (total < bytes) {
    int dir = files / 64;
    if (files % 64 == 0) tar.dir(root + "/d" + std::to_string(dir));
    std::size_t size = std::size_t{1024}
                       << random.below(11);  // 1 KiB .. 1 MiB, then up to twice that
    size += random.below(size);
    size = std::min(size, bytes - total);
    tar.file(root + "/d" + std::to_string(dir) + "/f" + std::to_string(files),
             file_content(random, size));
    total += size;
    ++files;
  }
  return tar.tar();
}

int run(int argc, char** argv) {
  CLI::App app{"Generates and pushes the zlayer pull benchmark images"};
  std::string layout;
  std::string registry;
  std::string repository = "bench/big";
  std::string info;
  int layers = 6;
  int layer_mib = 13;
  std::uint64_t seed = 20240101;
  app.add_option("--layout", layout, "OCI layout directory to write (tags 1 and 2)")->required();
  app.add_option("--registry", registry, "host:port of a plain-http registry to push to");
  app.add_option("--repository", repository, "repository to push as (tags 1 and 2)");
  // 0: image 1 is busybox alone (run_bench.sh runs it).
  app.add_option("--layers", layers, "data layers in image 1 (≥ 0)")->check(CLI::Range(0, 64));
  app.add_option("--layer-mib", layer_mib, "uncompressed MiB per data layer")
      ->check(CLI::Range(1, 1024));
  app.add_option("--seed", seed, "content seed");
  app.add_option("--info", info, "also write the key=value facts to this file");
  CLI11_PARSE(app, argc, argv);

  auto busybox = zlayer::testing::busybox_image();
  if (!busybox) {
    std::fprintf(stderr, "bench_gen_image: %s\n", busybox.error().message.c_str());
    return 1;
  }
  OciImage big = *busybox;
  std::size_t layer_bytes = static_cast<std::size_t>(layer_mib) << 20;
  for (int i = 1; i <= layers; ++i) big.add_layer(data_layer(seed, i, layer_bytes));
  // Image 2 = image 1 with its top layer replaced by a new one of the same size.
  OciImage second = *busybox;
  for (int i = 1; i < layers; ++i) second.add_layer(big.layers()[static_cast<std::size_t>(i)].tar);
  second.add_layer(data_layer(seed, layers + 1, layer_bytes));

  auto written = zlayer::testing::write_layout(layout, {{"1", big}, {"2", second}});
  if (!written) {
    std::fprintf(stderr, "bench_gen_image: writing %s: %s\n", layout.c_str(),
                 written.error().message.c_str());
    return 1;
  }
  const auto& m1 = written->at("1").manifests.at(0);
  const auto& m2 = written->at("2").manifests.at(0);
  std::int64_t compressed = 0;
  for (auto s : m1.layer_sizes) compressed += s;
  std::int64_t uncompressed = 0;
  for (const auto& layer : big.layers())
    uncompressed += static_cast<std::int64_t>(layer.tar.size());

  if (!registry.empty()) {
    zlayer::testing::RegistryEndpoint endpoint{registry, {}, {}, {}};
    for (const char* tag : {"1", "2"}) {
      auto pushed = zlayer::testing::push(layout, tag, endpoint, repository + ":" + tag,
                                          zlayer::testing::PushFormat::kOci);
      if (!pushed) {
        std::fprintf(stderr, "bench_gen_image: %s\n", pushed.error().message.c_str());
        return 1;
      }
    }
  }

  std::string facts;
  auto fact = [&](const std::string& key, const std::string& value) {
    facts += key + "=" + value + "\n";
  };
  fact("layers", std::to_string(m1.layer_digests.size()));
  fact("uncompressed_bytes", std::to_string(uncompressed));
  fact("compressed_bytes", std::to_string(compressed));
  fact("image1_manifest", m1.digest);
  fact("image2_manifest", m2.digest);
  fact("differing_layer_digest", m2.layer_digests.back());
  fact("differing_layer_bytes", std::to_string(m2.layer_sizes.back()));
  std::fputs(facts.c_str(), stdout);
  if (!info.empty()) {
    std::ofstream out(info);
    out << facts;
    if (!out) {
      std::fprintf(stderr, "bench_gen_image: cannot write %s\n", info.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // TarBuilder reports libarchive failures by exception; nothing else here throws.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gen_image: %s\n", e.what());
    return 1;
  }
}
