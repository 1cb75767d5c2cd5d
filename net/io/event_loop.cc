#include "net/io/event_loop.h"

#include <uv.h>

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
    if (do_stop) uv_stop(&loop);
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
  uv_run(&impl_->loop, UV_RUN_DEFAULT);
}

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
