// Environment changes for one test, undone on destruction. Not thread-safe (setenv).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace zlayer::testing {

// Prepends a directory to PATH (e.g. fake credential helpers) and restores the old value.
class ScopedPathPrefix {
 public:
  explicit ScopedPathPrefix(const std::filesystem::path& dir) {
    const char* old = std::getenv("PATH");
    had_ = old != nullptr;
    if (had_) old_ = old;
    std::string value = dir.string() + (had_ ? ":" + old_ : "");
    ::setenv("PATH", value.c_str(), 1);
  }
  ~ScopedPathPrefix() {
    if (had_) {
      ::setenv("PATH", old_.c_str(), 1);
    } else {
      ::unsetenv("PATH");
    }
  }
  ScopedPathPrefix(const ScopedPathPrefix&) = delete;
  ScopedPathPrefix& operator=(const ScopedPathPrefix&) = delete;

 private:
  bool had_ = false;
  std::string old_;
};

}  // namespace zlayer::testing
