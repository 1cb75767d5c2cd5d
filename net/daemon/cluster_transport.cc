#include "net/daemon/cluster_transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <thread>
#include <vector>

#include "net/cluster/wire.h"
#include "net/io/crypto.h"
#include "net/io/resolve.h"
#include "net/rpc/frame.h"

namespace vectron::net::daemon {

namespace {

// Frames queued for one peer beyond these are dropped (the peer is slow or away).
constexpr size_t kMaxQueuedBytes = 256u << 20;
constexpr size_t kMaxQueuedFrames = 100000;
constexpr auto kBackoffMin = std::chrono::milliseconds(50);
constexpr auto kBackoffMax = std::chrono::milliseconds(1000);
constexpr uint64_t kHelloTimeoutMs = 5000;

// A connected blocking socket to host:port, or -1.
int ConnectTo(const std::string& addr) {
  auto hp = ParseHostPort(addr);
  if (!hp.ok()) return -1;
  auto addrs = ResolveHost(hp->first, hp->second);
  if (!addrs.ok()) return -1;
  for (const ResolvedAddress& a : *addrs) {
    int fd = ::socket(a.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.len) == 0) {
      int one = 1;
      (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      return fd;
    }
    ::close(fd);
  }
  return -1;
}

bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

// One outbound connection: a sender thread and, while connected, a reader thread.
struct TcpClusterTransport::Peer {
  using OnFrames = std::function<void(std::vector<std::string>)>;

  Peer(std::string a, std::string hello, OnFrames on_frames, std::shared_ptr<std::atomic<uint64_t>> dropped)
      : addr(std::move(a)), hello_(std::move(hello)), on_frames_(std::move(on_frames)), dropped_(std::move(dropped)) {
    sender_ = std::thread([this] { SendLoop(); });
  }
  ~Peer() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
      if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
    }
    cv_.notify_all();
    sender_.join();
  }

  void Enqueue(std::string frame) {
    {
      std::lock_guard lock(mu_);
      if (queued_bytes_ + frame.size() > kMaxQueuedBytes || queue_.size() >= kMaxQueuedFrames) {
        dropped_->fetch_add(1);
        return;
      }
      queued_bytes_ += frame.size();
      queue_.push_back(std::move(frame));
    }
    cv_.notify_one();
  }

  const std::string addr;

 private:
  void SendLoop() {
    auto backoff = kBackoffMin;
    int fd = -1;
    for (;;) {
      std::deque<std::string> batch;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (stop_) break;
      }
      if (fd < 0) {
        fd = ConnectTo(addr);
        if (fd < 0) {
          std::unique_lock lock(mu_);
          dropped_->fetch_add(queue_.size());
          queue_.clear();
          queued_bytes_ = 0;
          cv_.wait_for(lock, backoff, [&] { return stop_; });
          backoff = std::min(backoff * 2, kBackoffMax);
          continue;
        }
        backoff = kBackoffMin;
        {
          std::lock_guard lock(mu_);
          fd_ = fd;
          if (stop_) ::shutdown(fd, SHUT_RDWR);
        }
        reader_ = std::thread([this, fd] { ReadLoop(fd); });
        if (!hello_.empty() && !WriteAll(fd, EncodeFrame(hello_))) {
          Disconnect(fd);
          fd = -1;
          continue;
        }
      }
      {
        std::lock_guard lock(mu_);
        batch.swap(queue_);
        queued_bytes_ = 0;
      }
      std::string out;
      for (auto& f : batch) out += f;
      if (!WriteAll(fd, out)) {
        dropped_->fetch_add(batch.size());
        Disconnect(fd);
        fd = -1;
      }
    }
    if (fd >= 0) Disconnect(fd);
  }

  void Disconnect(int fd) {
    {
      std::lock_guard lock(mu_);
      ::shutdown(fd, SHUT_RDWR);
      fd_ = -1;
    }
    if (reader_.joinable()) reader_.join();
    ::close(fd);
  }

  void ReadLoop(int fd) {
    FrameDecoder decoder(cluster::kMaxWireBytes + 64);
    std::vector<char> buf(1 << 16);
    for (;;) {
      ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      std::vector<std::string> frames;
      if (!decoder.Feed(std::string_view(buf.data(), static_cast<size_t>(n)), &frames).ok()) {
        ::shutdown(fd, SHUT_RDWR);
        return;
      }
      if (!frames.empty()) on_frames_(std::move(frames));
    }
  }

  const std::string hello_;  // First frame of every connection ("" = none).
  OnFrames on_frames_;
  std::shared_ptr<std::atomic<uint64_t>> dropped_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;  // Guarded by mu_.
  size_t queued_bytes_ = 0;        // Guarded by mu_.
  bool stop_ = false;              // Guarded by mu_.
  int fd_ = -1;                    // Guarded by mu_ (for shutdown from the destructor).
  std::thread sender_;
  std::thread reader_;  // Owned by the sender thread.
};

// One inbound connection (loop thread).
struct TcpClusterTransport::Inbound final : ConnectionHandler {
  Inbound(TcpClusterTransport& t, Connection& c)
      : transport(t), alive(t.alive_), conn(c), decoder(cluster::kMaxWireBytes + 64) {}
  // Connections finish closing in the event loop's destructor, after the transport.
  ~Inbound() override {
    if (!*alive) return;
    for (const NodeId& s : senders) {
      auto it = transport.inbound_.find(s);
      if (it != transport.inbound_.end() && it->second == this) transport.inbound_.erase(it);
    }
  }
  void OnData(std::string_view bytes) override {
    if (!*alive) return;
    if (!member && !transport.hello_.empty()) {
      // The hello comes first, and is all that is read from a caller until it matches.
      pre.append(bytes);
      if (pre.size() < 4) return;
      uint32_t n = static_cast<uint8_t>(pre[0]) | static_cast<uint32_t>(static_cast<uint8_t>(pre[1])) << 8 |
                   static_cast<uint32_t>(static_cast<uint8_t>(pre[2])) << 16 |
                   static_cast<uint32_t>(static_cast<uint8_t>(pre[3])) << 24;
      if (n != transport.hello_.size()) return Refuse();
      if (pre.size() < 4 + n) return;
      if (!crypto::ConstantTimeEqual(std::string_view(pre).substr(4, n), transport.hello_)) return Refuse();
      member = true;
      std::string rest = pre.substr(4 + n);
      pre.clear();
      if (rest.empty()) return;
      return OnData(rest);
    }
    member = true;
    std::vector<std::string> frames;
    if (!decoder.Feed(bytes, &frames).ok()) {
      transport.dropped_->fetch_add(1);
      conn.Close();
      return;
    }
    for (const std::string& f : frames) transport.OnFrame(f, this);
  }
  void Refuse() {
    ++transport.refused_;
    pre.clear();
    conn.Close();
  }
  // A caller that has not said the hello within kHelloTimeoutMs is closed.
  void OnTick(uint64_t now_ms) override {
    if (member || transport.hello_.empty()) return;
    if (opened_ms == 0) opened_ms = now_ms;
    else if (now_ms - opened_ms > kHelloTimeoutMs) Refuse();
  }
  bool Idle() const override { return true; }

  TcpClusterTransport& transport;
  std::shared_ptr<bool> alive;
  Connection& conn;
  FrameDecoder decoder;
  std::vector<NodeId> senders;
  bool member = false;  // The right hello arrived (or none is required).
  std::string pre;      // Bytes before the hello is complete.
  uint64_t opened_ms = 0;  // Loop time of the first tick.
};

TcpClusterTransport::TcpClusterTransport(EventLoop& loop, NodeId self, Resolver resolve, Deliver deliver,
                                         std::string secret)
    : loop_(loop),
      self_(self),
      resolve_(std::move(resolve)),
      deliver_(std::move(deliver)),
      dropped_(std::make_shared<std::atomic<uint64_t>>(0)),
      alive_(std::make_shared<bool>(true)),
      hello_(secret.empty() ? std::string() : "vectron-cluster-1 " + secret) {}

TcpClusterTransport::~TcpClusterTransport() {
  *alive_ = false;
  listener_.reset();  // Closes inbound connections (their handlers use inbound_).
  peers_.clear();     // Joins every peer thread.
}

Status TcpClusterTransport::Listen(const std::string& host, int port) {
  VECTRON_ASSIGN_OR_RETURN(listener_, TcpListener::Listen(loop_, host, port, ListenOptions{}, [this](Connection& c) {
                             return std::unique_ptr<ConnectionHandler>(new Inbound(*this, c));
                           }));
  TcpListener* l = listener_.get();
  std::shared_ptr<bool> alive = alive_;
  loop_.Every(1000, [this, l, alive] {
    if (*alive && listener_.get() == l) l->Tick(loop_.NowMs());
  });
  return Status::OK();
}

void TcpClusterTransport::OnFrame(const std::string& frame, Inbound* via) {
  NodeId from;
  Envelope msg;
  if (!cluster::DecodeEnvelope(frame, &from, &msg).ok()) {
    dropped_->fetch_add(1);
    return;
  }
  if (via) {
    inbound_[from] = via;
    if (std::find(via->senders.begin(), via->senders.end(), from) == via->senders.end()) via->senders.push_back(from);
  }
  deliver_(from, std::move(msg));
}

void TcpClusterTransport::Send(const NodeId& to, Envelope msg) {
  std::string frame = EncodeFrame(cluster::EncodeEnvelope(self_, msg));
  std::string addr = resolve_(to);
  if (!addr.empty()) {
    std::unique_ptr<Peer>& p = peers_[to];
    if (!p || p->addr != addr) {
      p.reset();
      EventLoop* loop = &loop_;
      std::shared_ptr<bool> alive = alive_;
      p = std::make_unique<Peer>(
          addr, hello_,
          [this, loop, alive](std::vector<std::string> frames) {
            // Reader thread: hand the frames to the loop thread.
            loop->Post([this, alive, frames = std::move(frames)] {
              if (!*alive) return;
              for (const std::string& f : frames) OnFrame(f, nullptr);
            });
          },
          dropped_);
    }
    p->Enqueue(std::move(frame));
    return;
  }
  auto it = inbound_.find(to);
  if (it != inbound_.end()) {
    it->second->conn.Send(std::move(frame));
    return;
  }
  dropped_->fetch_add(1);
}

uint64_t TcpClusterTransport::dropped() const { return dropped_->load(); }

}  // namespace vectron::net::daemon
