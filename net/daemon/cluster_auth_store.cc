#include "net/daemon/cluster_auth_store.h"

#include <chrono>
#include <cstdio>
#include <memory>

namespace vectron::net::daemon {

namespace {

// One blocking call's answer, filled on the loop thread.
template <typename T>
struct Waiter {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<T> value;
  void Set(T v) {
    std::lock_guard lock(mu);
    value.emplace(std::move(v));
    cv.notify_all();
  }
};

// Runs `start(done)` on the loop thread and waits for `done`'s value, up to `timeout_ms`.
template <typename T, typename Start>
T Blocking(EventLoop& loop, uint64_t timeout_ms, Start start) {
  auto w = std::make_shared<Waiter<T>>();
  loop.Post([w, start = std::move(start)]() mutable { start([w](T v) { w->Set(std::move(v)); }); });
  std::unique_lock lock(w->mu);
  if (!w->cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return w->value.has_value(); }))
    return T(Status::Unavailable("the placement driver did not answer an auth request within " +
                                 std::to_string(timeout_ms) + " ms"));
  return std::move(*w->value);
}

constexpr uint64_t kRetryMs = 500;

class Borrowed final : public AuthStore {
 public:
  explicit Borrowed(AuthStore& s) : s_(s) {}
  Result<Snapshot> Load() override { return s_.Load(); }
  Result<uint64_t> Commit(uint64_t if_version, std::vector<AuthChange> changes) override {
    return s_.Commit(if_version, std::move(changes));
  }
  uint64_t version() override { return s_.version(); }

 private:
  AuthStore& s_;
};

}  // namespace

std::unique_ptr<AuthStore> ClusterAuthStore::Borrow() { return std::make_unique<Borrowed>(*this); }

ClusterAuthStore::ClusterAuthStore(EventLoop& loop, cluster::Router& router, uint64_t timeout_ms)
    : loop_(loop), router_(router), timeout_ms_(timeout_ms) {}

void ClusterAuthStore::Poll() {
  if (loading_ || !router_.has_map()) return;
  bool have;
  {
    std::lock_guard lock(mu_);
    have = copy_.has_value();
  }
  if (have && router_.map().auth_version <= version()) return;
  if (loop_.NowMs() < next_try_ms_) return;
  StartLoad();
}

void ClusterAuthStore::StartLoad() {
  loading_ = true;
  router_.LoadAuth([this](Result<cluster::Router::AuthRecords> r) {
    if (!r.ok()) {
      loading_ = false;
      next_try_ms_ = loop_.NowMs() + kRetryMs;
      std::fprintf(stderr, "warn loading the auth records from the placement driver: %s\n",
                   r.status().ToString().c_str());
      return;
    }
    if (r->version == 0) {
      router_.CommitAuth(0, {{"meta/cluster", std::string("1")}}, [this](Result<uint64_t> c) {
        loading_ = false;
        if (!c.ok()) next_try_ms_ = loop_.NowMs() + kRetryMs;
        else StartLoad();
      });
      return;
    }
    loading_ = false;
    Adopt(std::move(*r));
  });
}

void ClusterAuthStore::Adopt(cluster::Router::AuthRecords r) {
  std::lock_guard lock(mu_);
  if (copy_ && copy_->version >= r.version) return;
  copy_ = Snapshot{r.version, std::move(r.records)};
  version_.store(r.version, std::memory_order_release);
  loaded_cv_.notify_all();
}

Status ClusterAuthStore::WaitLoaded(uint64_t timeout_ms) {
  std::unique_lock lock(mu_);
  if (loaded_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return copy_.has_value(); }))
    return Status::OK();
  return Status::Unavailable("the auth records were not loaded from the placement driver within " +
                             std::to_string(timeout_ms) + " ms");
}

Result<AuthStore::Snapshot> ClusterAuthStore::Load() {
  std::lock_guard lock(mu_);
  if (!copy_) return Status::Unavailable("the auth records are not loaded from the placement driver yet");
  return *copy_;
}

Status ClusterAuthStore::ReloadBlocking() {
  using R = Result<cluster::Router::AuthRecords>;
  R r = Blocking<R>(loop_, timeout_ms_, [this](auto done) { router_.LoadAuth(std::move(done)); });
  if (!r.ok()) return r.status();
  Adopt(std::move(*r));
  return Status::OK();
}

Result<uint64_t> ClusterAuthStore::Commit(uint64_t if_version, std::vector<AuthChange> changes) {
  using R = Result<uint64_t>;
  R r = Blocking<R>(loop_, timeout_ms_, [this, if_version, changes](auto done) mutable {
    router_.CommitAuth(if_version, std::move(changes), std::move(done));
  });
  if (r.ok()) {
    std::lock_guard lock(mu_);
    if (copy_ && copy_->version == if_version && *r > copy_->version) {
      // The copy plus exactly these changes is the new version: no reload needed.
      for (const AuthChange& c : changes) {
        if (c.value) copy_->records[c.key] = *c.value;
        else copy_->records.erase(c.key);
      }
      copy_->version = *r;
      version_.store(*r, std::memory_order_release);
      return r;
    }
  }
  if (r.ok() || r.status().code() == StatusCode::kAborted) {
    if (Status s = ReloadBlocking(); !s.ok())
      std::fprintf(stderr, "warn reloading the auth records: %s\n", s.ToString().c_str());
  }
  return r;
}

}  // namespace vectron::net::daemon
