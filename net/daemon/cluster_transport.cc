#include "net/daemon/cluster_transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <optional>
#include <thread>
#include <vector>

#include "net/cluster/wire.h"
#include "net/io/connect.h"
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

// Sets (or with 0, clears) a blocking socket's read and write timeouts.
void SetClusterSocketTimeouts(int fd, uint64_t ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

}  // namespace

std::string NodeCertName(const NodeId& node) {
  const char* kind = node.kind == cluster::NodeKind::kPd       ? "pd"
                     : node.kind == cluster::NodeKind::kWorker ? "worker"
                                                                : "gateway";
  return std::string("vectron-") + kind + "-" + std::to_string(node.id);
}

Result<std::shared_ptr<const ClusterTls>> LoadClusterTls(const std::string& ca_path, const std::string& cert_path,
                                                         const std::string& key_path, const NodeId& self) {
  auto tls = std::make_shared<ClusterTls>();
  VECTRON_ASSIGN_OR_RETURN(tls->server,
                           TlsContext::LoadMutual(ca_path, cert_path, key_path, /*client=*/false, NodeCertName(self)));
  VECTRON_ASSIGN_OR_RETURN(tls->client, TlsContext::LoadMutual(ca_path, cert_path, key_path, /*client=*/true));
  return std::shared_ptr<const ClusterTls>(std::move(tls));
}

// One outbound connection: a sender thread and, while connected, a reader thread.
struct TcpClusterTransport::Peer {
  using OnFrames = std::function<void(std::vector<std::string>)>;

  // `tls` null: plain TCP; else the client context, and the listener's certificate must
  // be for `server_name`.
  Peer(std::string a, std::string hello, OnFrames on_frames, std::shared_ptr<Counts> counts,
       std::shared_ptr<TlsContext> tls, std::string server_name, uint64_t connect_timeout_ms)
      : addr(std::move(a)),
        connect_timeout_ms_(connect_timeout_ms),
        hello_(std::move(hello)),
        on_frames_(std::move(on_frames)),
        counts_(std::move(counts)),
        tls_(std::move(tls)),
        server_name_(std::move(server_name)) {
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

  // Called on the loop thread. When the connection is up and idle (nothing queued, the
  // sender thread not writing) the frame is written here, without waiting: handing it to
  // the sender thread costs a thread wake-up per message. What the socket does not take
  // at once is left to the sender thread (raw_), which writes it before anything else.
  void Enqueue(std::string frame) {
    if (TrySendNow(frame)) return;
    {
      std::lock_guard lock(mu_);
      if (queued_bytes_ + frame.size() > kMaxQueuedBytes || queue_.size() >= kMaxQueuedFrames) {
        counts_->Drop(1);
        return;
      }
      queued_bytes_ += frame.size();
      queue_.push_back(std::move(frame));
    }
    cv_.notify_one();
  }

  const std::string addr;

 private:
  // Enqueue's direct write: true if `frame` went to the socket (whole, or its rest left
  // in raw_ for the sender thread), false if the caller must queue it (also when the
  // socket failed: the sender thread's write then finds the failure and reconnects).
  bool TrySendNow(const std::string& frame) {
    // Lock order: tls_mu_, then mu_ (as the reader thread and Write take them). tls_mu_
    // may be held across a blocking write (the sender thread's, to a slow peer): the loop
    // thread never waits for it, it queues the frame instead.
    std::unique_lock<std::mutex> tls_lock(tls_mu_, std::defer_lock);
    if (tls_ && !tls_lock.try_lock()) return false;
    std::unique_lock lock(mu_);
    if (!direct_ || writing_ || !queue_.empty() || !raw_.empty() || stop_) return false;
    std::string cipher;
    std::string_view bytes = frame;
    if (tls_) {
      if (!session_ || !session_->Send(frame, &cipher).ok()) return false;
      bytes = cipher;
    }
    // While writing_, the sender thread neither writes nor closes the socket.
    writing_ = true;
    const int fd = fd_;
    lock.unlock();
    size_t sent = 0;
    bool failed = false;
    while (sent < bytes.size()) {
      ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        failed = errno != EAGAIN && errno != EWOULDBLOCK;
        break;
      }
      sent += static_cast<size_t>(n);
    }
    lock.lock();
    writing_ = false;
    if (failed) direct_ = false;
    else if (sent < bytes.size()) raw_.assign(bytes.substr(sent));
    lock.unlock();
    cv_.notify_all();
    return !failed;
  }

  // A connected blocking socket to `addr`, or -1 (the reason noted). Each resolved
  // address gets connect_timeout_ms_; while connecting, the socket is fd_, so that the
  // destructor's shutdown() ends the wait at once (Send replaces a peer on the loop
  // thread: it must not wait for an unanswered SYN).
  int ConnectTo() {
    auto hp = ParseHostPort(addr);
    if (!hp.ok()) {
      Note("cannot connect to " + addr + ": " + hp.status().message());
      return -1;
    }
    auto addrs = ResolveHost(hp->first, hp->second);
    if (!addrs.ok()) {
      Note("cannot connect to " + addr + ": " + addrs.status().message());
      return -1;
    }
    std::string errors;
    for (const ResolvedAddress& a : *addrs) {
      int fd = ::socket(a.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) continue;
      {
        std::lock_guard lock(mu_);
        if (stop_) {
          ::close(fd);
          return -1;
        }
        fd_ = fd;
      }
      Status st = ConnectWithin(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.len, connect_timeout_ms_);
      {
        std::lock_guard lock(mu_);
        fd_ = -1;  // Published again by SendLoop once connected.
      }
      if (st.ok()) {
        int one = 1;
        (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return fd;
      }
      ::close(fd);
      if (!errors.empty()) errors += "; ";
      errors += a.text + ": " + st.message();
    }
    bool stopping;
    {
      std::lock_guard lock(mu_);
      stopping = stop_;
    }
    if (!stopping) Note("cannot connect to " + addr + " (" + errors + ")");
    return -1;
  }


  void SendLoop() {
    auto backoff = kBackoffMin;
    int fd = -1;
    // After a failed connect or handshake: the queue is dropped, then a backoff wait.
    auto wait_backoff = [&] {
      std::unique_lock lock(mu_);
      counts_->Drop(queue_.size());
      queue_.clear();
      queued_bytes_ = 0;
      cv_.wait_for(lock, backoff, [&] { return stop_; });
      backoff = std::min(backoff * 2, kBackoffMax);
    };
    for (;;) {
      std::deque<std::string> batch;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || (!writing_ && (!queue_.empty() || !raw_.empty())); });
        if (stop_) break;
      }
      if (fd < 0) {
        fd = ConnectTo();
        if (fd < 0) {
          wait_backoff();
          continue;
        }
        {
          std::lock_guard lock(mu_);
          fd_ = fd;
          if (stop_) ::shutdown(fd, SHUT_RDWR);
        }
        std::string early;  // Application bytes that arrived with the handshake's end.
        if (tls_) {
          if (Status hs = Handshake(fd, &early); !hs.ok()) {
            bool stopping;
            {
              std::lock_guard lock(mu_);
              stopping = stop_;  // The destructor cut the handshake short: not a refusal.
            }
            if (!stopping) {
              counts_->Refuse();
              Note("TLS handshake with " + addr + " (" + server_name_ + ") failed: " + hs.message());
            }
            Disconnect(fd);
            fd = -1;
            wait_backoff();
            continue;
          }
        }
        backoff = kBackoffMin;
        reader_ = std::thread([this, fd, early = std::move(early)] { ReadLoop(fd, early); });
        if (!hello_.empty() && !Write(fd, EncodeFrame(hello_))) {
          Disconnect(fd);
          fd = -1;
          continue;
        }
        std::lock_guard lock(mu_);
        direct_ = true;  // Connected, hello sent: Enqueue may write itself from now on.
      }
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !writing_; });
        batch.swap(queue_);
        queued_bytes_ = 0;
        writing_ = true;
      }
      std::string out;
      for (auto& f : batch) out += f;
      const bool ok = Write(fd, out);
      {
        std::lock_guard lock(mu_);
        writing_ = false;
      }
      cv_.notify_all();
      if (!ok) {
        counts_->Drop(batch.size());
        Disconnect(fd);
        fd = -1;
      }
    }
    if (fd >= 0) Disconnect(fd);
  }

  // Runs the client side of the TLS handshake on the blocking `fd`, within
  // kHelloTimeoutMs. On success session_ is set; `*early` gets any application bytes
  // that came with the handshake's last flight.
  Status Handshake(int fd, std::string* early) {
    SetClusterSocketTimeouts(fd, kHelloTimeoutMs);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kHelloTimeoutMs);
    auto session = std::make_unique<TlsSession>(*tls_, server_name_);
    std::string out;
    Status st = session->Receive("", early, &out);
    std::vector<char> buf(1 << 14);
    for (;;) {
      if (!out.empty() && !WriteAll(fd, out)) return Status::Unavailable("the connection closed during the handshake");
      out.clear();
      if (!st.ok()) return st;
      if (session->handshake_done()) break;
      if (std::chrono::steady_clock::now() >= deadline)
        return Status::Unavailable("no handshake within " + std::to_string(kHelloTimeoutMs) + " ms");
      ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return Status::Unavailable("no handshake within " + std::to_string(kHelloTimeoutMs) + " ms");
      if (n <= 0) return Status::Unavailable("the peer closed the connection during the handshake (not TLS?)");
      st = session->Receive(std::string_view(buf.data(), static_cast<size_t>(n)), early, &out);
    }
    SetClusterSocketTimeouts(fd, 0);
    session_ = std::move(session);
    return Status::OK();
  }

  // Writes the rest of a direct write (raw_: bytes as they go on the wire), then `plain`,
  // encrypted under TLS. False if the connection failed.
  bool Write(int fd, std::string_view plain) {
    std::unique_lock<std::mutex> tls_lock(tls_mu_, std::defer_lock);
    if (session_) tls_lock.lock();
    std::string raw;
    {
      std::lock_guard lock(mu_);
      raw.swap(raw_);
    }
    if (!raw.empty() && !WriteAll(fd, raw)) return false;
    if (plain.empty()) return true;
    if (!session_) return WriteAll(fd, plain);
    std::string cipher;
    if (!session_->Send(plain, &cipher).ok()) return false;
    return WriteAll(fd, cipher);
  }

  // Prints `what` to stderr unless it is what this peer printed last (a peer that keeps
  // failing the same way is reported once).
  void Note(const std::string& what) {
    std::lock_guard lock(note_mu_);
    if (what == last_note_) return;
    last_note_ = what;
    std::fprintf(stderr, "vectron cluster: %s\n", what.c_str());
  }

  void Disconnect(int fd) {
    {
      std::unique_lock lock(mu_);
      direct_ = false;
      ::shutdown(fd, SHUT_RDWR);
      cv_.wait(lock, [&] { return !writing_; });  // A direct write still using fd.
      fd_ = -1;
      if (!raw_.empty()) counts_->Drop(1);  // The rest of a frame: meaningless on a new connection.
      raw_.clear();
    }
    if (reader_.joinable()) reader_.join();
    session_.reset();  // No reader any more: the sender thread alone uses it.
    ::close(fd);
  }

  void ReadLoop(int fd, const std::string& early) {
    FrameDecoder decoder(cluster::kMaxWireBytes + 64);
    auto feed = [&](std::string_view plain) -> bool {
      std::vector<std::string> frames;
      if (!decoder.Feed(plain, &frames).ok()) return false;
      if (!frames.empty()) on_frames_(std::move(frames));
      return true;
    };
    if (!early.empty() && !feed(early)) {
      ::shutdown(fd, SHUT_RDWR);
      return;
    }
    std::vector<char> buf(1 << 16);
    for (;;) {
      ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      std::string_view bytes(buf.data(), static_cast<size_t>(n));
      std::string plain;
      if (session_) {
        std::lock_guard lock(tls_mu_);
        std::string out;
        Status st = session_->Receive(bytes, &plain, &out);
        if (!out.empty()) {
          // After the rest of a direct write, if any (records reach the socket in order).
          std::unique_lock lock(mu_);
          if (!raw_.empty()) {
            raw_ += out;
            lock.unlock();
            cv_.notify_all();
          } else {
            lock.unlock();
            (void)WriteAll(fd, out);
          }
        }
        if (!st.ok()) {
          // Typically the listener refusing this node's certificate (TLS 1.3 tells the
          // client after its side of the handshake is done).
          Note("TLS connection to " + addr + " (" + server_name_ + ") failed: " + st.message());
          ::shutdown(fd, SHUT_RDWR);
          return;
        }
        bytes = plain;
      }
      if (!bytes.empty() && !feed(bytes)) {
        ::shutdown(fd, SHUT_RDWR);
        return;
      }
    }
  }

  const uint64_t connect_timeout_ms_;
  const std::string hello_;  // First frame of every connection ("" = none).
  OnFrames on_frames_;
  std::shared_ptr<Counts> counts_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;  // Guarded by mu_.
  size_t queued_bytes_ = 0;        // Guarded by mu_.
  bool stop_ = false;              // Guarded by mu_.
  int fd_ = -1;                    // Guarded by mu_ (for shutdown from the destructor).
  // The connection is up and its hello sent: Enqueue may write to fd_ itself.
  bool direct_ = false;  // Guarded by mu_.
  // A write to fd_ is in progress (the sender thread's, or a direct one): no other starts,
  // and the socket is not closed, until it ends.
  bool writing_ = false;  // Guarded by mu_.
  // Bytes of a direct write the socket did not take, as they go on the wire (encrypted
  // under TLS): the sender thread writes them before anything else.
  std::string raw_;  // Guarded by mu_.
  std::thread sender_;
  std::thread reader_;  // Owned by the sender thread.
  const std::shared_ptr<TlsContext> tls_;  // Null: plain TCP.
  const std::string server_name_;          // The certificate name the listener must have.
  // The connection's TLS state: set and reset by the sender thread while no reader runs;
  // while one does, used under tls_mu_ (a record is encrypted and written, or decrypted
  // and its reply written, in one step, so records reach the socket in order).
  std::unique_ptr<TlsSession> session_;
  std::mutex tls_mu_;
  std::mutex note_mu_;
  std::string last_note_;  // Guarded by note_mu_.
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
      transport.counts_->Drop(1);
      conn.Close();
      return;
    }
    for (const std::string& f : frames) {
      if (!transport.OnFrame(f, this, nullptr)) {
        transport.counts_->Refuse();
        conn.Close();
        return;
      }
    }
  }
  void Refuse() {
    transport.counts_->Refuse();
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
  std::optional<NodeId> certified;  // Under TLS: the sender this connection's certificate is for.
  bool member = false;  // The right hello arrived (or none is required).
  std::string pre;      // Bytes before the hello is complete.
  uint64_t opened_ms = 0;  // Loop time of the first tick.
};

TcpClusterTransport::TcpClusterTransport(EventLoop& loop, NodeId self, Resolver resolve, Deliver deliver,
                                         std::string secret, std::shared_ptr<const ClusterTls> tls)
    : loop_(loop),
      self_(self),
      resolve_(std::move(resolve)),
      deliver_(std::move(deliver)),
      counts_(std::make_shared<Counts>()),
      alive_(std::make_shared<bool>(true)),
      hello_(secret.empty() ? std::string() : "vectron-cluster-1 " + secret),
      tls_(std::move(tls)) {}

TcpClusterTransport::~TcpClusterTransport() {
  *alive_ = false;
  listener_.reset();  // Closes inbound connections (their handlers use inbound_).
  peers_.clear();     // Joins every peer thread.
}

Status TcpClusterTransport::Listen(const std::string& host, int port) {
  ListenOptions lo;
  if (tls_) {
    lo.tls = tls_->server;
    lo.handshake_timeout_ms = kHelloTimeoutMs;  // Swept by the tick below, once a second.
  }
  // The listener counts the handshakes it closed (refused() adds them): tell on_change.
  lo.on_handshake_refused = [counts = counts_] {
    if (counts->on_change) counts->on_change();
  };
  VECTRON_ASSIGN_OR_RETURN(listener_, TcpListener::Listen(loop_, host, port, lo, [this](Connection& c) {
                             return std::unique_ptr<ConnectionHandler>(new Inbound(*this, c));
                           }));
  TcpListener* l = listener_.get();
  std::shared_ptr<bool> alive = alive_;
  loop_.Every(1000, [this, l, alive] {
    if (*alive && listener_.get() == l) l->Tick(loop_.NowMs());
  });
  return Status::OK();
}

bool TcpClusterTransport::OnFrame(const std::string& frame, Inbound* via, const NodeId* expect) {
  NodeId from;
  Envelope msg;
  if (!cluster::DecodeEnvelope(frame, &from, &msg).ok()) {
    counts_->Drop(1);
    return true;
  }
  if (tls_) {
    // The NodeId a frame claims must be the one the connection's certificate is for.
    if (expect && from != *expect) {
      counts_->Drop(1);
      return true;
    }
    if (via && via->certified != from) {
      if (via->certified || !via->conn.TlsPeerIs(NodeCertName(from))) {
        std::fprintf(stderr, "vectron cluster: refused %s: it speaks as %s, which its certificate is not for\n",
                     via->conn.peer().c_str(), NodeCertName(from).c_str());
        return false;
      }
      via->certified = from;
    }
  }
  if (via) {
    inbound_[from] = via;
    if (std::find(via->senders.begin(), via->senders.end(), from) == via->senders.end()) via->senders.push_back(from);
  }
  deliver_(from, std::move(msg));
  return true;
}

uint64_t TcpClusterTransport::refused() const {
  uint64_t n = counts_->refused.load();
  if (listener_) n += listener_->handshake_failures() + listener_->handshake_timeouts();
  return n;
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
          [this, loop, alive, to](std::vector<std::string> frames) {
            // Reader thread: hand the frames to the loop thread.
            loop->Post([this, alive, to, frames = std::move(frames)] {
              if (!*alive) return;
              for (const std::string& f : frames) OnFrame(f, nullptr, &to);
            });
          },
          counts_, tls_ ? tls_->client : nullptr, NodeCertName(to), connect_timeout_ms_);
    }
    p->Enqueue(std::move(frame));
    return;
  }
  auto it = inbound_.find(to);
  if (it != inbound_.end()) {
    it->second->conn.Send(std::move(frame));
    return;
  }
  counts_->Drop(1);
}

uint64_t TcpClusterTransport::dropped() const { return counts_->dropped.load(); }

}  // namespace vectron::net::daemon
