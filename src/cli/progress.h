// Pull progress display: on a terminal one redrawn line per layer ("a1b2c3d4e5f6: Downloading
// [=====>     ] 12.3MB/40.1MB"), otherwise plain lines, one per phase change (no redraws, so
// logs and CI output stay readable). Called from ImageService's serialised progress callback.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "image/image_service.h"

namespace zlayer::cli {

class PullProgress {
 public:
  // `out`: where to draw; `terminal`: whether it is a tty (redraws) or not (plain lines).
  PullProgress(std::FILE* out, bool terminal) : out_(out), terminal_(terminal) {}
  void on_event(const image::PullEvent& event);

 private:
  struct Line {
    std::string id;
    std::string text;
  };
  void redraw();
  std::FILE* out_;
  bool terminal_;
  std::vector<Line> lines_;
  int drawn_ = 0;  // lines currently on screen
};

// "12.3MB" (decimal units, as Docker prints sizes).
std::string human_size(std::int64_t bytes);
// "1.5MiB" (binary units, as `docker stats` prints memory).
std::string binary_size(std::uint64_t bytes);

}  // namespace zlayer::cli
