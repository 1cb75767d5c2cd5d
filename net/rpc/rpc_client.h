// A blocking client of the binary RPC (one request at a time, or pipelined with Send /
// Receive), for tests, benchmarks and tools.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "net/io/blocking_socket.h"
#include "vectron/types.h"

namespace flatbuffers {
class FlatBufferBuilder;
}  // namespace flatbuffers

namespace vectron::net {

struct RpcSearchOptions {
  int k = 10;
  int ef = 0;
  bool exact = false;
  bool include_metadata = false;
  bool include_vector = false;
  std::string where;
  uint32_t deadline_ms = 0;
};

struct RpcScrollOptions {
  uint32_t limit = 100;  // 1..10000.
  std::string cursor;    // "" = from the start; else a previous page's next_cursor.
  std::string where;     // JSON filter text; "" = none.
  bool include_vector = false;
  bool include_metadata = true;
};

// A collection as ListCollections / DescribeCollection report it.
struct RpcCollectionInfo {
  std::string name;
  uint32_t dim = 0;
  std::string metric;       // "l2", "cosine", "ip".
  uint32_t shards = 0;
  uint64_t count = 0;       // Live points.
  std::string config_json;  // CollectionConfig::ToJson().
  bool has_stats = false;   // DescribeCollection only: `stats` is filled.
  CollectionStats stats;
};

struct RpcClientOptions {
  bool tls = false;  // Speak TLS (the server was started with --tls-cert/--tls-key).
  TlsClientOptions tls_options;
  std::string token;  // SDK token sent with every request (servers with auth on).
  // Polls for each reply this long before sleeping (BlockingSocket::SetBusyPoll; 0: never).
  uint32_t busy_poll_us = 0;
  // A reply frame declaring more bytes fails its call with ResourceExhausted and closes
  // the connection (a server that is not what it seems cannot make the client allocate
  // the 4 GiB a frame header can declare).
  size_t max_reply_bytes = size_t{256} << 20;
};

// Not thread-safe: one client per thread.
class RpcClient {
 public:
  // `host` is a numeric address or a name ("localhost"; IPv4 tried first).
  // Errors: those of BlockingSocket::Connect, and under TLS of TlsContext::LoadClient
  // (bad CA file) and BlockingSocket::ConnectTls (handshake, certificate check).
  static Result<RpcClient> Connect(const std::string& host, int port, const RpcClientOptions& options = {});
  // As above, sharing one client TLS context (from TlsContext::LoadClient) across clients.
  static Result<RpcClient> ConnectTls(const std::string& host, int port, std::shared_ptr<TlsContext> tls,
                                      const std::string& server_name = {});

  // Each call returns the server's error as a Status whose code matches the response's
  // code name (deadline_exceeded maps to Unavailable), or IOError/Unavailable for the
  // connection itself.
  Status Ping();
  // `queries` holds nq rows of the collection's dimension, row-major.
  Result<std::vector<std::vector<Hit>>> Search(const std::string& collection, std::span<const float> queries, size_t nq,
                                               const RpcSearchOptions& options);
  Result<uint64_t> Upsert(const std::string& collection, std::span<const Point> points);
  Result<std::vector<std::optional<Point>>> Get(const std::string& collection, const std::vector<std::string>& ids);
  // Returns ids.size() (ids that did not exist count too). Errors: InvalidArgument if
  // `ids` is empty.
  Result<uint64_t> Delete(const std::string& collection, const std::vector<std::string>& ids);
  // Deletes every point matching `where` (JSON filter text) atomically; returns how many.
  // Errors: InvalidArgument (empty or malformed filter; nothing deleted), NotFound.
  Result<uint64_t> DeleteWhere(const std::string& collection, const std::string& where);
  // Live points, or those matching `where` (JSON filter text) if not empty.
  Result<uint64_t> Count(const std::string& collection, const std::string& where = {});
  // One page in id order; page.next_cursor is "" at the end. Errors: InvalidArgument
  // (limit, filter, cursor), NotFound.
  Result<ScrollPage> Scroll(const std::string& collection, const RpcScrollOptions& options = {});
  // Payload indexes (see Collection::CreatePayloadIndex): `type` is "keyword", "integer",
  // "float" or "bool". Errors: InvalidArgument, AlreadyExists, NotFound (collection, or
  // the index on DropIndex).
  Status CreateIndex(const std::string& collection, const std::string& field, const std::string& type);
  // (field, type) pairs.
  Result<std::vector<std::pair<std::string, std::string>>> ListIndexes(const std::string& collection);
  Status DropIndex(const std::string& collection, const std::string& field);
  // Every collection, without stats.
  Result<std::vector<RpcCollectionInfo>> ListCollections();
  // One collection, with stats. Errors: NotFound.
  Result<RpcCollectionInfo> DescribeCollection(const std::string& collection);

  // Pipelining: SendSearch queues a request with id `id`; Receive returns the next
  // response's id and hits (possibly of another pending request).
  Status SendSearch(uint64_t id, const std::string& collection, std::span<const float> query,
                    const RpcSearchOptions& options);
  Result<std::pair<uint64_t, std::vector<Hit>>> ReceiveSearch();

  // The SDK token sent with every request from now on (empty: none). A refused token
  // comes back as FailedPrecondition "unauthenticated: ..." or "permission_denied: ...".
  // The server reads frames over kRpcPreauthFrameBytes only on a connection whose token
  // it has seen verify, so before the first request larger than kProveTokenBytes the
  // client sends a Ping carrying the token (once per connection and token).
  void set_token(std::string token) { token_ = std::move(token); }

  // Raw access: sends `frame` bytes as they are; reads one frame's payload.
  // Errors (ReceiveFrame): ResourceExhausted for a frame over max_reply_bytes (the
  // connection is closed; every later call fails), those of BlockingSocket::RecvExact.
  Status SendRaw(std::string_view bytes);
  Result<std::string> ReceiveFrame();
  // As RpcClientOptions::max_reply_bytes.
  void set_max_reply_bytes(size_t n) { max_reply_bytes_ = n; }

 private:
  explicit RpcClient(BlockingSocket s) : sock_(std::move(s)) {}
  Result<std::string> Call(std::string payload);
  // Sends the finished Request in `b` and waits for its Response.
  Result<std::string> CallBuilt(flatbuffers::FlatBufferBuilder& b);
  // Pings with the token unless the server has verified it on this connection.
  Status ProveToken();
  static constexpr size_t kProveTokenBytes = 16 << 10;
  BlockingSocket sock_;
  uint64_t next_id_ = 1;
  std::string token_;
  std::string proven_token_;  // The token last verified by a Ping on this connection.
  size_t max_reply_bytes_ = RpcClientOptions{}.max_reply_bytes;
  bool broken_ = false;  // A reply over max_reply_bytes_ left the stream mid-frame.
  static Status Broken();  // What calls return once broken_.
};

// The Status for an RPC response code name and message.
Status RpcStatus(std::string_view code, std::string_view message);

}  // namespace vectron::net
