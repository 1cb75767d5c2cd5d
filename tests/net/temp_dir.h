// A fresh temporary directory per test (header-only: no link dependencies, so every net
// test file, including the auth ones built alone under ASan, can use it).
#pragma once

#include <filesystem>
#include <random>
#include <string>

namespace vectron::net::testing {

// Creates (emptied) $TMPDIR/vectron-net-<name>-<random> and returns its path.
inline std::string TempDir(const std::string& name) {
  std::random_device rd;
  auto p = std::filesystem::temp_directory_path() / ("vectron-net-" + name + "-" + std::to_string(rd()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

// A TempDir(name) that is removed when the object dies.
struct ScopedTempDir {
  explicit ScopedTempDir(const std::string& name) : path(TempDir(name)) {}
  ~ScopedTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::string path;
};

}  // namespace vectron::net::testing
