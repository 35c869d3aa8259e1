#include "cli/progress.h"

#include <fmt/format.h>

namespace zlayer::cli {

namespace {

std::string scaled_size(double value, double base, const char* const (&units)[5]) {
  int unit = 0;
  while (value >= base && unit < 4) {
    value /= base;
    ++unit;
  }
  return unit == 0 ? fmt::format("{}B", value) : fmt::format("{:.3g}{}", value, units[unit]);
}

}  // namespace

std::string human_size(std::int64_t bytes) {
  static const char* const kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  return scaled_size(static_cast<double>(bytes), 1000.0, kUnits);
}

std::string binary_size(std::uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  return scaled_size(static_cast<double>(bytes), 1024.0, kUnits);
}

namespace {

std::string bar(std::int64_t current, std::int64_t total) {
  constexpr int kWidth = 30;
  int filled = total > 0 ? static_cast<int>(kWidth * current / total) : 0;
  std::string s = "[";
  for (int i = 0; i < kWidth; ++i) s += i < filled ? '=' : (i == filled ? '>' : ' ');
  return s + "]";
}

}  // namespace

void PullProgress::on_event(const image::PullEvent& event) {
  using Phase = image::PullEvent::Phase;
  if (event.phase == Phase::kResolved) {
    std::fprintf(out_, "%s: resolved\n", event.id.c_str());
    return;
  }
  std::string text;
  switch (event.phase) {
    case Phase::kWaiting:
      text = "Waiting";
      break;
    case Phase::kExists:
      text = "Already exists";
      break;
    case Phase::kDownloading:
      text = fmt::format("Downloading {} {}/{}", bar(event.current, event.total),
                         human_size(event.current), human_size(event.total));
      break;
    case Phase::kDownloaded:
      text = "Download complete";
      break;
    case Phase::kUnpacking:
      text = "Extracting";
      break;
    case Phase::kUnpacked:
      text = "Pull complete";
      break;
    case Phase::kResolved:
      break;
  }
  if (!terminal_) {
    if (event.phase == Phase::kDownloading) return;  // plain output: phase changes only
    std::fprintf(out_, "%s: %s\n", event.id.c_str(), text.c_str());
    std::fflush(out_);
    return;
  }
  bool found = false;
  for (auto& line : lines_) {
    if (line.id == event.id) {
      line.text = text;
      found = true;
    }
  }
  if (!found) lines_.push_back({event.id, text});
  redraw();
}

void PullProgress::redraw() {
  if (drawn_ > 0) std::fprintf(out_, "\x1b[%dA", drawn_);
  for (const auto& line : lines_)
    std::fprintf(out_, "\x1b[2K%s: %s\n", line.id.c_str(), line.text.c_str());
  drawn_ = static_cast<int>(lines_.size());
  std::fflush(out_);
}

}  // namespace zlayer::cli
