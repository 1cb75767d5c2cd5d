// Progress lines for long operations on stderr: "stage: done/total (pct) rate/s ETA".
// Redraws in place on a terminal; otherwise prints at most every few seconds.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace vectron::tools {

// Set by SIGINT/SIGTERM once InstallInterruptHandler has run.
extern std::atomic<bool> g_interrupted;
void InstallInterruptHandler();

class Progress {
 public:
  explicit Progress(bool quiet = false);
  // Reports progress; returns false if the user interrupted (Ctrl-C).
  bool Update(std::string_view stage, uint64_t done, uint64_t total);
  void Finish();

 private:
  bool quiet_, tty_;
  std::string stage_;
  std::chrono::steady_clock::time_point start_, last_;
  bool drawn_ = false;
};

}  // namespace vectron::tools
