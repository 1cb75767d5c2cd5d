#include "net/rpc/rpc_client.h"

#include "net/rpc/frame.h"
#include "rpc_generated.h"

namespace vectron::net {

namespace fb = ::vectron::rpc;

Status RpcStatus(std::string_view code, std::string_view message) {
  static const std::pair<const char*, StatusCode> kCodes[] = {
      {"invalid_argument", StatusCode::kInvalidArgument}, {"not_found", StatusCode::kNotFound},
      {"already_exists", StatusCode::kAlreadyExists},     {"failed_precondition", StatusCode::kFailedPrecondition},
      {"resource_exhausted", StatusCode::kResourceExhausted}, {"unavailable", StatusCode::kUnavailable},
      {"aborted", StatusCode::kAborted},                  {"corruption", StatusCode::kCorruption},
      {"io_error", StatusCode::kIOError},                 {"cancelled", StatusCode::kCancelled},
      {"deadline_exceeded", StatusCode::kUnavailable},
      // Auth: no valid token, or one without the right (docs/auth.md).
      {"unauthenticated", StatusCode::kUnauthenticated},  {"permission_denied", StatusCode::kPermissionDenied},
      {"rate_limited", StatusCode::kRateLimited}};
  if (code == "ok" || code.empty()) return Status::OK();
  for (auto& [name, c] : kCodes) {
    if (code == name) return Status(c, std::string(code) + ": " + std::string(message));
  }
  return Status::Internal(std::string(code) + ": " + std::string(message));
}

namespace {

// fb::CreateRequest with the caller's token. REQUIRES: no table under construction in `b`.
flatbuffers::Offset<fb::Request> MakeRequest(flatbuffers::FlatBufferBuilder& b, const std::string& token,
                                             uint64_t id, uint32_t deadline_ms, fb::Body type,
                                             flatbuffers::Offset<void> body) {
  flatbuffers::Offset<flatbuffers::String> t;
  if (!token.empty()) t = b.CreateString(token);
  return fb::CreateRequest(b, id, deadline_ms, type, body, t);
}

std::string Bytes(flatbuffers::FlatBufferBuilder& b) {
  return EncodeFrame(std::string_view(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()));
}

Result<const fb::Response*> Parse(const std::string& payload) {
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
  if (!v.VerifyBuffer<fb::Response>(nullptr)) return Status::Corruption("server sent an invalid Response");
  const auto* r = flatbuffers::GetRoot<fb::Response>(payload.data());
  Status s = RpcStatus(r->code() ? r->code()->string_view() : "ok", r->message() ? r->message()->string_view() : "");
  if (!s.ok()) return s;
  return r;
}

flatbuffers::Offset<fb::SearchRequest> BuildSearch(flatbuffers::FlatBufferBuilder& b, const std::string& collection,
                                                   std::span<const float> q, size_t nq, const RpcSearchOptions& o) {
  auto c = b.CreateString(collection);
  auto v = b.CreateVector(q.data(), q.size());
  flatbuffers::Offset<flatbuffers::String> w;
  if (!o.where.empty()) w = b.CreateString(o.where);
  fb::SearchRequestBuilder sb(b);
  sb.add_collection(c);
  sb.add_vectors(v);
  sb.add_nq(static_cast<uint32_t>(nq));
  sb.add_k(o.k);
  sb.add_ef(o.ef);
  sb.add_exact(o.exact);
  if (!o.where.empty()) sb.add_where(w);
  sb.add_include_metadata(o.include_metadata);
  sb.add_include_vector(o.include_vector);
  return sb.Finish();
}

std::vector<Hit> HitsOf(const fb::HitList* l) {
  std::vector<Hit> out;
  if (!l || !l->hits()) return out;
  for (auto h : *l->hits()) {
    Hit x;
    x.id = h->id() ? h->id()->str() : "";
    x.score = h->score();
    if (h->metadata()) x.metadata = h->metadata()->str();
    if (h->vector()) x.vector.assign(h->vector()->begin(), h->vector()->end());
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace

Result<RpcClient> RpcClient::Connect(const std::string& host, int port, const RpcClientOptions& options) {
  if (options.tls) {
    VECTRON_ASSIGN_OR_RETURN(std::shared_ptr<TlsContext> ctx, TlsContext::LoadClient(options.tls_options));
    VECTRON_ASSIGN_OR_RETURN(RpcClient c, ConnectTls(host, port, std::move(ctx), options.tls_options.server_name));
    c.set_token(options.token);
    c.sock_.SetBusyPoll(options.busy_poll_us);
    c.set_max_reply_bytes(options.max_reply_bytes);
    return c;
  }
  VECTRON_ASSIGN_OR_RETURN(BlockingSocket s, BlockingSocket::Connect(host, port));
  s.SetBusyPoll(options.busy_poll_us);
  RpcClient c(std::move(s));
  c.set_token(options.token);
  c.set_max_reply_bytes(options.max_reply_bytes);
  return c;
}


Result<RpcClient> RpcClient::ConnectTls(const std::string& host, int port, std::shared_ptr<TlsContext> tls,
                                        const std::string& server_name) {
  VECTRON_ASSIGN_OR_RETURN(BlockingSocket s, BlockingSocket::ConnectTls(host, port, std::move(tls), server_name));
  return RpcClient(std::move(s));
}

Result<std::string> RpcClient::CallBuilt(flatbuffers::FlatBufferBuilder& b) { return Call(Bytes(b)); }

Status RpcClient::SendRaw(std::string_view bytes) {
  if (broken_) return Broken();
  return sock_.SendAll(bytes);
}

Status RpcClient::Broken() {
  return Status::Unavailable("connection closed after a reply over this client's limit (max_reply_bytes)");
}

Result<std::string> RpcClient::ReceiveFrame() {
  if (broken_) return Broken();
  std::string hdr;
  VECTRON_RETURN_IF_ERROR(sock_.RecvExact(4, &hdr));
  const auto* p = reinterpret_cast<const unsigned char*>(hdr.data());
  size_t n = p[0] | p[1] << 8 | p[2] << 16 | static_cast<size_t>(p[3]) << 24;
  if (n > max_reply_bytes_) {
    broken_ = true;
    sock_.Close();
    return Status::ResourceExhausted("RPC reply frame declares " + std::to_string(n) + " bytes, over this client's limit of " +
                                     std::to_string(max_reply_bytes_) + " (max_reply_bytes); the connection is closed");
  }
  std::string payload;
  VECTRON_RETURN_IF_ERROR(sock_.RecvExact(n, &payload));
  return payload;
}

Status RpcClient::ProveToken() {
  if (token_.empty() || proven_token_ == token_) return Status::OK();
  return Ping();
}

Result<std::string> RpcClient::Call(std::string frame) {
  if (frame.size() > kProveTokenBytes) VECTRON_RETURN_IF_ERROR(ProveToken());
  VECTRON_RETURN_IF_ERROR(SendRaw(frame));
  return ReceiveFrame();
}

Status RpcClient::Ping() {
  flatbuffers::FlatBufferBuilder b;
  auto ping = fb::CreatePingRequest(b);
  b.Finish(MakeRequest(b, token_, next_id_++, 0, fb::Body::PingRequest, ping.Union()));
  VECTRON_ASSIGN_OR_RETURN(std::string payload, Call(Bytes(b)));
  VECTRON_RETURN_IF_ERROR(Parse(payload).status());
  proven_token_ = token_;  // A Ping carrying a token is answered ok only if it verified.
  return Status::OK();
}

Result<std::vector<std::vector<Hit>>> RpcClient::Search(const std::string& collection, std::span<const float> queries,
                                                        size_t nq, const RpcSearchOptions& options) {
  flatbuffers::FlatBufferBuilder b(queries.size() * 4 + 256);
  auto s = BuildSearch(b, collection, queries, nq, options);
  b.Finish(MakeRequest(b, token_, next_id_++, options.deadline_ms, fb::Body::SearchRequest, s.Union()));
  VECTRON_ASSIGN_OR_RETURN(std::string payload, Call(Bytes(b)));
  VECTRON_ASSIGN_OR_RETURN(const fb::Response* r, Parse(payload));
  std::vector<std::vector<Hit>> out;
  if (r->results()) {
    for (auto l : *r->results()) out.push_back(HitsOf(l));
  }
  return out;
}

Status RpcClient::SendSearch(uint64_t id, const std::string& collection, std::span<const float> query,
                             const RpcSearchOptions& options) {
  flatbuffers::FlatBufferBuilder b(query.size() * 4 + 256);
  auto s = BuildSearch(b, collection, query, 1, options);
  b.Finish(MakeRequest(b, token_, id, options.deadline_ms, fb::Body::SearchRequest, s.Union()));
  std::string frame = Bytes(b);
  if (frame.size() > kProveTokenBytes) VECTRON_RETURN_IF_ERROR(ProveToken());
  return SendRaw(frame);
}

Result<std::pair<uint64_t, std::vector<Hit>>> RpcClient::ReceiveSearch() {
  VECTRON_ASSIGN_OR_RETURN(std::string payload, ReceiveFrame());
  VECTRON_ASSIGN_OR_RETURN(const fb::Response* r, Parse(payload));
  std::vector<Hit> hits;
  if (r->results() && r->results()->size() > 0) hits = HitsOf(r->results()->Get(0));
  return std::make_pair(r->id(), std::move(hits));
}

Result<uint64_t> RpcClient::Upsert(const std::string& collection, std::span<const Point> points) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<flatbuffers::String>> ids, metas;
  std::vector<float> vecs;
  bool any_meta = false;
  for (auto& p : points) {
    ids.push_back(b.CreateString(p.id));
    metas.push_back(b.CreateString(p.metadata));
    any_meta = any_meta || !p.metadata.empty();
    vecs.insert(vecs.end(), p.vector.begin(), p.vector.end());
  }
  auto c = b.CreateString(collection);
  auto iv = b.CreateVector(ids);
  auto vv = b.CreateVector(vecs);
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> mv;
  if (any_meta) mv = b.CreateVector(metas);
  auto u = fb::CreateUpsertRequest(b, c, iv, vv, mv);
  b.Finish(MakeRequest(b, token_, next_id_++, 0, fb::Body::UpsertRequest, u.Union()));
  VECTRON_ASSIGN_OR_RETURN(std::string payload, Call(Bytes(b)));
  VECTRON_ASSIGN_OR_RETURN(const fb::Response* r, Parse(payload));
  return r->count();
}

Result<std::vector<std::optional<Point>>> RpcClient::Get(const std::string& collection,
                                                         const std::vector<std::string>& ids) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<flatbuffers::String>> iv;
  for (auto& id : ids) iv.push_back(b.CreateString(id));
  auto c = b.CreateString(collection);
  auto ivv = b.CreateVector(iv);
  auto g = fb::CreateGetRequest(b, c, ivv, true, true);
  b.Finish(MakeRequest(b, token_, next_id_++, 0, fb::Body::GetRequest, g.Union()));
  VECTRON_ASSIGN_OR_RETURN(std::string payload, Call(Bytes(b)));
  VECTRON_ASSIGN_OR_RETURN(const fb::Response* r, Parse(payload));
  std::vector<std::optional<Point>> out;
  if (r->points()) {
    for (auto p : *r->points()) {
      if (!p->found()) {
        out.emplace_back();
        continue;
      }
      Point pt;
      pt.id = p->id() ? p->id()->str() : "";
      if (p->vector()) pt.vector.assign(p->vector()->begin(), p->vector()->end());
      if (p->metadata()) pt.metadata = p->metadata()->str();
      out.emplace_back(std::move(pt));
    }
  }
  return out;
}

Result<uint64_t> RpcClient::Delete(const std::string& collection, const std::vector<std::string>& ids) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<flatbuffers::String>> iv;
  for (auto& id : ids) iv.push_back(b.CreateString(id));
  auto c = b.CreateString(collection);
  auto ivv = b.CreateVector(iv);
  auto d = fb::CreateDeleteRequest(b, c, ivv);
  b.Finish(MakeRequest(b, token_, next_id_++, 0, fb::Body::DeleteRequest, d.Union()));
  VECTRON_ASSIGN_OR_RETURN(std::string payload, Call(Bytes(b)));
  VECTRON_ASSIGN_OR_RETURN(const fb::Response* r, Parse(payload));
  return r->count();
}

Result<uint64_t> RpcClient::DeleteWhere(const std::string& collection, const std::string& where) {
  if (where.empty()) return Status::InvalidArgument("where is empty; use Delete for ids");
  flatbuffers::FlatBufferBuilder b;
  auto c = b.CreateString(collection);
  auto w = b.CreateString(where);
  auto d = fb::CreateDeleteRequest(b, c, 0, w);
  b.Finish(MakeRequest(b, token_, next_id_++, 0, fb::Body::DeleteRequest, d.Union()));
  VECTRON_ASSIGN_OR_RETURN(std::string payload, CallBuilt(b));
  VECTRON_ASSIGN_OR_RETURN(const fb::Response* r, Parse(payload));
  return r->count();
}

Result<uint64_t> RpcClient::Count(const std::string& collection, const std::string& where) {
  flatbuffers::FlatBufferBuilder b;
  auto c = b.CreateString(collection);
  flatbuffers::Offset<flatbuffers::String> w;
  if (!where.empty()) w = b.CreateString(where);
  auto q = fb::CreateCountRequest(b, c, w);
  b.Finish(MakeRequest(b, token_, next_id_++, 0, fb::Body::CountRequest, q.Union()));
  VECTRON_ASSIGN_OR_RETURN(std::string payload, CallBuilt(b));
  VECTRON_ASSIGN_OR_RETURN(const fb::Response* r, Parse(payload));
  return r->count();
}

Result<ScrollPage> RpcClient::Scroll(const std::string& collection, const RpcScrollOptions& o) {
  flatbuffers::FlatBufferBuilder b;
  auto c = b.CreateString(collection);
  flatbuffers::Offset<flatbuffers::String> cur, w;
  if (!o.cursor.empty()) cur = b.CreateString(o.cursor);
  if (!o.where.empty()) w = b.CreateString(o.where);
  auto q = fb::CreateScrollRequest(b, c, o.limit, cur, w, o.include_vector, o.include_metadata);
  b.Finish(MakeRequest(b, token_, next_id_++, 0, fb::Body::ScrollRequest, q.Union()));
  VECTRON_ASSIGN_OR_RETURN(std::string payload, CallBuilt(b));
  VECTRON_ASSIGN_OR_RETURN(const fb::Response* r, Parse(payload));
  ScrollPage page;
  if (r->points()) {
    for (auto p : *r->points()) {
      Point pt;
      pt.id = p->id() ? p->id()->str() : "";
      if (p->vector()) pt.vector.assign(p->vector()->begin(), p->vector()->end());
      if (p->metadata()) pt.metadata = p->metadata()->str();
      page.points.push_back(std::move(pt));
    }
  }
  if (r->next_cursor()) page.next_cursor = r->next_cursor()->str();
  return page;
}

Status RpcClient::CreateIndex(const std::string& collection, const std::string& field, const std::string& type) {
  flatbuffers::FlatBufferBuilder b;
  auto c = b.CreateString(collection);
  auto f = b.CreateString(field);
  auto t = b.CreateString(type);
  auto q = fb::CreateCreateIndexRequest(b, c, f, t);
  b.Finish(MakeRequest(b, token_, next_id_++, 0, fb::Body::CreateIndexRequest, q.Union()));
  VECTRON_ASSIGN_OR_RETURN(std::string payload, CallBuilt(b));
  return Parse(payload).status();
}

Result<std::vector<std::pair<std::string, std::string>>> RpcClient::ListIndexes(const std::string& collection) {
  flatbuffers::FlatBufferBuilder b;
  auto c = b.CreateString(collection);
  auto q = fb::CreateListIndexesRequest(b, c);
  b.Finish(MakeRequest(b, token_, next_id_++, 0, fb::Body::ListIndexesRequest, q.Union()));
  VECTRON_ASSIGN_OR_RETURN(std::string payload, CallBuilt(b));
  VECTRON_ASSIGN_OR_RETURN(const fb::Response* r, Parse(payload));
  std::vector<std::pair<std::string, std::string>> out;
  if (r->indexes()) {
    for (auto i : *r->indexes())
      out.emplace_back(i->field() ? i->field()->str() : "", i->type() ? i->type()->str() : "");
  }
  return out;
}

Status RpcClient::DropIndex(const std::string& collection, const std::string& field) {
  flatbuffers::FlatBufferBuilder b;
  auto c = b.CreateString(collection);
  auto f = b.CreateString(field);
  auto q = fb::CreateDropIndexRequest(b, c, f);
  b.Finish(MakeRequest(b, token_, next_id_++, 0, fb::Body::DropIndexRequest, q.Union()));
  VECTRON_ASSIGN_OR_RETURN(std::string payload, CallBuilt(b));
  return Parse(payload).status();
}

namespace {

RpcCollectionInfo InfoOf(const fb::CollectionInfo* i) {
  RpcCollectionInfo o;
  o.name = i->name() ? i->name()->str() : "";
  o.dim = i->dim();
  o.metric = i->metric() ? i->metric()->str() : "";
  o.shards = i->shards();
  o.count = i->count();
  o.config_json = i->config_json() ? i->config_json()->str() : "";
  o.has_stats = i->has_stats();
  if (o.has_stats) {
    o.stats.count = i->count();
    o.stats.index_memory_bytes = i->index_memory_bytes();
    o.stats.disk_bytes = i->disk_bytes();
    o.stats.deleted_slots = i->deleted_slots();
    o.stats.index_kind = i->index_kind() ? i->index_kind()->str() : "";
  }
  return o;
}

}  // namespace

Result<std::vector<RpcCollectionInfo>> RpcClient::ListCollections() {
  flatbuffers::FlatBufferBuilder b;
  auto q = fb::CreateListCollectionsRequest(b);
  b.Finish(MakeRequest(b, token_, next_id_++, 0, fb::Body::ListCollectionsRequest, q.Union()));
  VECTRON_ASSIGN_OR_RETURN(std::string payload, CallBuilt(b));
  VECTRON_ASSIGN_OR_RETURN(const fb::Response* r, Parse(payload));
  std::vector<RpcCollectionInfo> out;
  if (r->collections()) {
    for (auto i : *r->collections()) out.push_back(InfoOf(i));
  }
  return out;
}

Result<RpcCollectionInfo> RpcClient::DescribeCollection(const std::string& collection) {
  flatbuffers::FlatBufferBuilder b;
  auto c = b.CreateString(collection);
  auto q = fb::CreateDescribeCollectionRequest(b, c);
  b.Finish(MakeRequest(b, token_, next_id_++, 0, fb::Body::DescribeCollectionRequest, q.Union()));
  VECTRON_ASSIGN_OR_RETURN(std::string payload, CallBuilt(b));
  VECTRON_ASSIGN_OR_RETURN(const fb::Response* r, Parse(payload));
  if (!r->collections() || r->collections()->size() != 1)
    return Status::Corruption("DescribeCollection response holds no collection");
  return InfoOf(r->collections()->Get(0));
}

}  // namespace vectron::net
