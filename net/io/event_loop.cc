#include "net/io/event_loop.h"

#include <uv.h>

#include <atomic>
#include <deque>
#include <list>
#include <mutex>

#include "vectron/status.h"

namespace vectron::net {

struct EventLoop::Impl {
  uv_loop_t loop;
  uv_async_t async;
  std::mutex mu;
  std::deque<std::function<void()>> posted;  // Guarded by mu.
  bool stop = false;                         // Guarded by mu.
  std::atomic<bool> stopping{false};         // Drain saw `stop`: Run returns.
  std::chrono::microseconds busy_window{0};
  std::function<uint64_t()> activity;
  std::atomic<uint64_t> busy_polls{0};
  struct Timer {
    uv_timer_t handle;
    std::function<void()> fn;
  };
  struct Signal {
    uv_signal_t handle;
    std::function<void()> fn;
  };
  std::list<Timer> timers;    // Stable addresses: libuv holds pointers into them.
  std::list<Signal> signals;

  void Drain() {
    std::deque<std::function<void()>> batch;
    bool do_stop;
    {
      std::lock_guard lock(mu);
      batch.swap(posted);
      do_stop = stop;
    }
    for (auto& fn : batch) fn();
    if (do_stop) {
      stopping.store(true, std::memory_order_relaxed);
      uv_stop(&loop);
    }
  }
};

EventLoop::EventLoop() : impl_(std::make_unique<Impl>()) {
  VECTRON_CHECK(uv_loop_init(&impl_->loop) == 0);
  impl_->loop.data = this;
  impl_->async.data = impl_.get();
  VECTRON_CHECK(uv_async_init(&impl_->loop, &impl_->async, [](uv_async_t* a) {
    static_cast<Impl*>(a->data)->Drain();
  }) == 0);
}

EventLoop::~EventLoop() {
  uv_close(reinterpret_cast<uv_handle_t*>(&impl_->async), nullptr);
  for (auto& t : impl_->timers) uv_close(reinterpret_cast<uv_handle_t*>(&t.handle), nullptr);
  for (auto& s : impl_->signals) uv_close(reinterpret_cast<uv_handle_t*>(&s.handle), nullptr);
  // Let close callbacks (ours and those of connections still open) run; any handle
  // left is closed here so uv_loop_close succeeds.
  uv_run(&impl_->loop, UV_RUN_NOWAIT);
  uv_walk(&impl_->loop, [](uv_handle_t* h, void*) {
    if (!uv_is_closing(h)) uv_close(h, nullptr);
  }, nullptr);
  while (uv_run(&impl_->loop, UV_RUN_NOWAIT) != 0) {
  }
  uv_loop_close(&impl_->loop);
}

void EventLoop::Run() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stop) return;
  }
  if (impl_->busy_window.count() == 0) {
    uv_run(&impl_->loop, UV_RUN_DEFAULT);
    return;
  }
  using Clock = std::chrono::steady_clock;
  uint64_t seen = impl_->activity();
  Clock::time_point poll_until{};  // Poll without sleeping until then.
  while (!impl_->stopping.load(std::memory_order_relaxed)) {
    bool poll = Clock::now() < poll_until;
    if (poll) impl_->busy_polls.fetch_add(1, std::memory_order_relaxed);
    int alive = uv_run(&impl_->loop, poll ? UV_RUN_NOWAIT : UV_RUN_ONCE);
    if (uint64_t now_seen = impl_->activity(); now_seen != seen) {
      seen = now_seen;
      poll_until = Clock::now() + impl_->busy_window;
    }
    if (alive == 0 && !poll) return;  // No handle left to wait for (as UV_RUN_DEFAULT returns).
  }
}

void EventLoop::SetBusyPoll(std::chrono::microseconds window, std::function<uint64_t()> activity) {
  impl_->busy_window = activity ? window : std::chrono::microseconds{0};
  impl_->activity = std::move(activity);
}

uint64_t EventLoop::busy_polls() const { return impl_->busy_polls.load(std::memory_order_relaxed); }

void EventLoop::RunNoWait() { uv_run(&impl_->loop, UV_RUN_NOWAIT); }

void EventLoop::Stop() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  uv_async_send(&impl_->async);
}

void EventLoop::Post(std::function<void()> fn) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->posted.push_back(std::move(fn));
  }
  uv_async_send(&impl_->async);
}

void EventLoop::Every(uint64_t interval_ms, std::function<void()> fn) {
  auto& t = impl_->timers.emplace_back();
  t.fn = std::move(fn);
  t.handle.data = &t;
  uv_timer_init(&impl_->loop, &t.handle);
  uv_timer_start(&t.handle, [](uv_timer_t* h) { static_cast<Impl::Timer*>(h->data)->fn(); }, interval_ms,
                 interval_ms);
  // Periodic housekeeping must not keep the loop alive on its own.
  uv_unref(reinterpret_cast<uv_handle_t*>(&t.handle));
}

void EventLoop::OnSignal(int signum, std::function<void()> fn) {
  auto& s = impl_->signals.emplace_back();
  s.fn = std::move(fn);
  s.handle.data = &s;
  uv_signal_init(&impl_->loop, &s.handle);
  uv_signal_start(&s.handle, [](uv_signal_t* h, int) { static_cast<Impl::Signal*>(h->data)->fn(); }, signum);
  uv_unref(reinterpret_cast<uv_handle_t*>(&s.handle));
}

uint64_t EventLoop::NowMs() const { return uv_now(&impl_->loop); }

uv_loop_s* EventLoop::raw() { return &impl_->loop; }

}  // namespace vectron::net
