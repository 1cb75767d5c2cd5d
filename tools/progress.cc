#include "progress.h"

#include <csignal>
#include <cstdio>
#include <unistd.h>

namespace vectron::tools {

std::atomic<bool> g_interrupted{false};

namespace {
void OnSignal(int) { g_interrupted.store(true); }
}  // namespace

void InstallInterruptHandler() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

Progress::Progress(bool quiet) : quiet_(quiet), tty_(::isatty(STDERR_FILENO)) {}

bool Progress::Update(std::string_view stage, uint64_t done, uint64_t total) {
  auto now = std::chrono::steady_clock::now();
  if (stage != stage_) {
    if (drawn_ && tty_) std::fputc('\n', stderr);
    stage_ = std::string(stage);
    start_ = last_ = now;
    drawn_ = false;
  }
  const bool final = total && done >= total;
  auto since = std::chrono::duration<double>(now - last_).count();
  if (!quiet_ && (final || !drawn_ || since >= (tty_ ? 0.2 : 5.0))) {
    last_ = now;
    double secs = std::chrono::duration<double>(now - start_).count();
    double rate = secs > 0 ? done / secs : 0;
    char line[512];
    if (total) {
      double eta = rate > 0 ? (total - done) / rate : 0;
      std::snprintf(line, sizeof(line), "%.*s: %llu/%llu (%.1f%%) %.0f/s ETA %d:%02d", static_cast<int>(stage.size()),
                    stage.data(), static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                    100.0 * done / total, rate, static_cast<int>(eta) / 60, static_cast<int>(eta) % 60);
    } else {
      std::snprintf(line, sizeof(line), "%.*s: %llu %.0f/s", static_cast<int>(stage.size()), stage.data(),
                    static_cast<unsigned long long>(done), rate);
    }
    std::fprintf(stderr, tty_ ? "\r%s\033[K" : "%s\n", line);
    drawn_ = true;
  }
  return !g_interrupted.load();
}

void Progress::Finish() {
  if (drawn_ && tty_ && !quiet_) std::fputc('\n', stderr);
  drawn_ = false;
  stage_.clear();
}

}  // namespace vectron::tools
