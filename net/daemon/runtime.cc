#include "net/daemon/runtime.h"

#include <time.h>

#include <random>

namespace vectron::net::daemon {

uint64_t SteadyClock::NowMs() const {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

namespace {
uint64_t OsSeed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}
}  // namespace

OsSeededRng::OsSeededRng() : rng_(OsSeed()) {}

PoolExecutor::PoolExecutor(int threads) {
  for (int i = 0; i < std::max(threads, 1); ++i) threads_.emplace_back([this] { Loop(); });
}

PoolExecutor::~PoolExecutor() { Stop(); }

void PoolExecutor::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void PoolExecutor::Post(uint64_t queue, std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    queues_[queue].push_back(std::move(task));
    if (!busy_[queue] && queues_[queue].size() == 1) ready_.push_back(queue);
  }
  cv_.notify_one();
}

void PoolExecutor::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !ready_.empty(); });
    if (stop_) return;
    uint64_t q = ready_.front();
    ready_.pop_front();
    std::function<void()> task = std::move(queues_[q].front());
    queues_[q].pop_front();
    busy_[q] = true;
    lock.unlock();
    task();
    lock.lock();
    busy_[q] = false;
    if (!queues_[q].empty()) {
      ready_.push_back(q);
      cv_.notify_one();
    } else {
      queues_.erase(q);
      busy_.erase(q);
    }
  }
}

}  // namespace vectron::net::daemon
