#include "net/rpc/rpc_server.h"

#include <cstdio>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>

#include "net/rpc/frame.h"
#include "rpc_generated.h"

namespace vectron::net {

namespace fb = ::vectron::rpc;

std::string RpcErrorPayload(uint64_t id, std::string_view code, std::string_view message) {
  flatbuffers::FlatBufferBuilder b(256);
  auto c = b.CreateString(code.data(), code.size());
  auto m = b.CreateString(message.data(), message.size());
  fb::ResponseBuilder rb(b);
  rb.add_id(id);
  rb.add_code(c);
  rb.add_message(m);
  b.Finish(rb.Finish());
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

namespace {

std::string Str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

std::string Finish(flatbuffers::FlatBufferBuilder& b, flatbuffers::Offset<fb::Response> r) {
  b.Finish(r);
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

std::string ErrorOf(uint64_t id, const Status& s) { return RpcErrorPayload(id, StatusCodeName(s.code()), s.message()); }

flatbuffers::Offset<fb::HitList> HitsOf(flatbuffers::FlatBufferBuilder& b, const std::vector<Hit>& hits, bool meta,
                                         bool vec) {
  std::vector<flatbuffers::Offset<fb::Hit>> v;
  v.reserve(hits.size());
  for (auto& h : hits) {
    auto id = b.CreateString(h.id);
    flatbuffers::Offset<flatbuffers::String> m;
    flatbuffers::Offset<flatbuffers::Vector<float>> f;
    if (meta) m = b.CreateString(h.metadata);
    if (vec) f = b.CreateVector(h.vector);
    fb::HitBuilder hb(b);
    hb.add_id(id);
    hb.add_score(h.score);
    if (meta) hb.add_metadata(m);
    if (vec) hb.add_vector(f);
    v.push_back(hb.Finish());
  }
  return fb::CreateHitList(b, b.CreateVector(v));
}

std::vector<std::string> IdsOf(const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* ids) {
  std::vector<std::string> out;
  if (!ids) return out;
  out.reserve(ids->size());
  for (auto s : *ids) out.push_back(s->str());
  return out;
}

// An "ok" Response with id `id`; `fill` adds the result fields (whose offsets must be
// created before this is called: a table under construction cannot nest).
template <typename Fill>
flatbuffers::Offset<fb::Response> OkResponse(flatbuffers::FlatBufferBuilder& b, uint64_t id, Fill fill) {
  auto ok = b.CreateString("ok");
  fb::ResponseBuilder rb(b);
  rb.add_id(id);
  rb.add_code(ok);
  fill(rb);
  return rb.Finish();
}

// One PointResult; `p` null = not found.
flatbuffers::Offset<fb::PointResult> PointOf(flatbuffers::FlatBufferBuilder& b, const std::string& id, const Point* p,
                                             const GetOptions& go) {
  auto pid = b.CreateString(id);
  flatbuffers::Offset<flatbuffers::Vector<float>> vec;
  flatbuffers::Offset<flatbuffers::String> meta;
  if (p && go.include_vector) vec = b.CreateVector(p->vector);
  if (p && go.include_metadata) meta = b.CreateString(p->metadata);
  fb::PointResultBuilder pb(b);
  pb.add_id(pid);
  pb.add_found(p != nullptr);
  if (p && go.include_vector) pb.add_vector(vec);
  if (p && go.include_metadata) pb.add_metadata(meta);
  return pb.Finish();
}

flatbuffers::Offset<fb::CollectionInfo> CollectionInfoOf(flatbuffers::FlatBufferBuilder& b, const CollectionInfo& c,
                                                         bool with_stats) {
  const CollectionConfig& cfg = c.config;
  with_stats = with_stats && c.stats.has_value();
  auto name = b.CreateString(c.name);
  auto metric = b.CreateString(std::string(MetricName(cfg.metric)));
  auto cj = b.CreateString(c.config_json);
  flatbuffers::Offset<flatbuffers::String> kind;
  if (with_stats) kind = b.CreateString(c.stats->index_kind);
  fb::CollectionInfoBuilder ib(b);
  ib.add_name(name);
  ib.add_dim(cfg.dim);
  ib.add_metric(metric);
  ib.add_shards(cfg.shards);
  ib.add_count(c.count.value_or(0));
  ib.add_config_json(cj);
  if (with_stats) {
    ib.add_has_stats(true);
    ib.add_index_memory_bytes(c.stats->index_memory_bytes);
    ib.add_disk_bytes(c.stats->disk_bytes);
    ib.add_deleted_slots(c.stats->deleted_slots);
    ib.add_index_kind(kind);
  }
  return ib.Finish();
}

// Light enough for the loop to run when the server has nothing else to do (InlineGate):
// one approximate search, a get of a few ids, an unfiltered count.
bool LightRpc(const fb::Request& req) {
  switch (req.body_type()) {
    case fb::Body::SearchRequest: {
      const auto* s = req.body_as_SearchRequest();
      return s->nq() <= 1 && !s->exact();
    }
    case fb::Body::GetRequest: {
      const auto* g = req.body_as_GetRequest();
      return !g->ids() || g->ids()->size() <= kLightGetIds;
    }
    case fb::Body::CountRequest: return !req.body_as_CountRequest()->where();
    default: return false;
  }
}

// The operation (operations.h) a request body asks for; nullopt for Ping and unknown bodies.
std::optional<OpId> OpOf(fb::Body type) {
  switch (type) {
    case fb::Body::SearchRequest: return OpId::kSearch;
    case fb::Body::UpsertRequest: return OpId::kUpsert;
    case fb::Body::GetRequest: return OpId::kGet;
    case fb::Body::DeleteRequest: return OpId::kDelete;
    case fb::Body::CountRequest: return OpId::kCount;
    case fb::Body::ScrollRequest: return OpId::kScroll;
    case fb::Body::CreateIndexRequest: return OpId::kCreateIndex;
    case fb::Body::ListIndexesRequest: return OpId::kListIndexes;
    case fb::Body::DropIndexRequest: return OpId::kDropIndex;
    case fb::Body::ListCollectionsRequest: return OpId::kListCollections;
    case fb::Body::DescribeCollectionRequest: return OpId::kDescribeCollection;
    default: return std::nullopt;
  }
}

// What each RPC needs of the caller's token: its operation's row of the table (the
// same rule as the REST route). Ping is public; unknown bodies are refused later anyway.
RouteAccess AccessOf(fb::Body type) {
  if (type == fb::Body::PingRequest) return {Access::kPublic};
  auto op = OpOf(type);
  return op ? SpecOf(*op).access : RouteAccess{Access::kAdmin};
}

template <typename T>
std::string CollectionName(const T* body) {
  return body && body->collection() ? body->collection()->str() : std::string();
}

std::string CollectionOf(const fb::Request* req) {
  switch (req->body_type()) {
    case fb::Body::SearchRequest: return CollectionName(req->body_as_SearchRequest());
    case fb::Body::UpsertRequest: return CollectionName(req->body_as_UpsertRequest());
    case fb::Body::GetRequest: return CollectionName(req->body_as_GetRequest());
    case fb::Body::DeleteRequest: return CollectionName(req->body_as_DeleteRequest());
    case fb::Body::CountRequest: return CollectionName(req->body_as_CountRequest());
    case fb::Body::ScrollRequest: return CollectionName(req->body_as_ScrollRequest());
    case fb::Body::CreateIndexRequest: return CollectionName(req->body_as_CreateIndexRequest());
    case fb::Body::ListIndexesRequest: return CollectionName(req->body_as_ListIndexesRequest());
    case fb::Body::DropIndexRequest: return CollectionName(req->body_as_DropIndexRequest());
    case fb::Body::DescribeCollectionRequest: return CollectionName(req->body_as_DescribeCollectionRequest());
    default: return {};
  }
}

using RpcReply = std::function<void(std::string)>;

// Calls `call(done)` on the service; when `done` receives a value, answers with
// `encode(value)` (a Response payload), or with the error. The service may answer in
// line (LocalDataService) or later on its own thread (ClusterDataService, on the
// gateway's loop): nothing here refers to the request frame after `call` returns.
template <typename T, typename Call, typename Encode>
void Then(uint64_t id, Call&& call, Encode encode, RpcReply reply) {
  call([id, encode = std::move(encode), reply = std::move(reply)](Result<T> r) mutable {
    if (!r.ok()) return reply(ErrorOf(id, r.status()));
    std::string out;
    try {
      out = encode(*r);
    } catch (const std::exception& e) {
      out = RpcErrorPayload(id, "internal", e.what());
    }
    reply(std::move(out));
  });
}
template <typename Call, typename Encode>
void ThenStatus(uint64_t id, Call&& call, Encode encode, RpcReply reply) {
  call([id, encode = std::move(encode), reply = std::move(reply)](Status st) mutable {
    if (!st.ok()) return reply(ErrorOf(id, st));
    reply(encode());
  });
}

std::string IndexInfoResponse(uint64_t id, const std::string& field, const std::string& type) {
  flatbuffers::FlatBufferBuilder b(256);
  auto iv = b.CreateVector(std::vector<flatbuffers::Offset<fb::IndexInfo>>{
      type.empty() ? fb::CreateIndexInfo(b, b.CreateString(field))
                   : fb::CreateIndexInfo(b, b.CreateString(field), b.CreateString(type))});
  return Finish(b, OkResponse(b, id, [&](fb::ResponseBuilder& rb) { rb.add_indexes(iv); }));
}

std::string CountResponse(uint64_t id, uint64_t n) {
  flatbuffers::FlatBufferBuilder b(64);
  return Finish(b, OkResponse(b, id, [&](fb::ResponseBuilder& rb) { rb.add_count(n); }));
}

// Runs one verified, authorised request and answers through `reply`, exactly once.
void Execute(const RpcEngine& e, const fb::Request* req, const Principal& who, RpcReply reply) {
  const uint64_t id = req->id();
  DataService& svc = *e.service;
  // A body type whose table is absent verifies fine; refuse it here (found by fuzzing).
  if (req->body_type() != fb::Body::NONE && req->body() == nullptr)
    return reply(ErrorOf(id, Status::InvalidArgument("request names a body type but carries no body")));
  if (auto op = OpOf(req->body_type()); op && !svc.Supports(*op))
    return reply(ErrorOf(id, Status::FailedPrecondition(std::string("this server does not serve ") + SpecOf(*op).name)));
  // Every data request names its collection.
  const std::string name = CollectionOf(req);
  if (OpOf(req->body_type()) && req->body_type() != fb::Body::ListCollectionsRequest && name.empty())
    return reply(ErrorOf(id, Status::InvalidArgument("collection is required")));
  switch (req->body_type()) {
    case fb::Body::PingRequest: {
      flatbuffers::FlatBufferBuilder b(64);
      return reply(Finish(b, OkResponse(b, id, [](fb::ResponseBuilder&) {})));
    }
    case fb::Body::SearchRequest: {
      auto* s = req->body_as_SearchRequest();
      const uint32_t nq = s->nq();
      // The limits of the operation table, as the REST route's.
      if (Status st = CheckSearch(e.limits, s->k(), 0, s->ef(), nq); !st.ok()) return reply(ErrorOf(id, st));
      SearchParams sp;
      sp.k = static_cast<int>(s->k());
      sp.ef = static_cast<int>(s->ef());
      sp.exact = s->exact();
      sp.include_metadata = s->include_metadata();
      sp.include_vector = s->include_vector();
      sp.where = Str(s->where());
      std::vector<float> q;
      if (s->vectors()) q.assign(s->vectors()->begin(), s->vectors()->end());
      if (q.size() % nq != 0)
        return reply(ErrorOf(id, Status::InvalidArgument("vectors holds " + std::to_string(q.size()) +
                                                         " floats; expected nq (" + std::to_string(nq) + ") x dim")));
      const bool meta = sp.include_metadata, vec = sp.include_vector;
      return Then<std::vector<std::vector<Hit>>>(
          id, [&](auto done) { svc.Search(name, std::move(q), nq, std::move(sp), ReadPolicy{}, std::move(done)); },
          [id, meta, vec](const std::vector<std::vector<Hit>>& res) {
            flatbuffers::FlatBufferBuilder b(1024);
            std::vector<flatbuffers::Offset<fb::HitList>> lists;
            for (auto& hits : res) lists.push_back(HitsOf(b, hits, meta, vec));
            auto lv = b.CreateVector(lists);
            return Finish(b, OkResponse(b, id, [&](fb::ResponseBuilder& rb) { rb.add_results(lv); }));
          },
          std::move(reply));
    }
    case fb::Body::UpsertRequest: {
      auto* u = req->body_as_UpsertRequest();
      auto ids = IdsOf(u->ids());
      const size_t n = ids.size();
      const size_t nf = u->vectors() ? u->vectors()->size() : 0;
      if (n == 0) return reply(ErrorOf(id, Status::InvalidArgument("ids is empty")));
      if (nf % n != 0)
        return reply(ErrorOf(id, Status::InvalidArgument("vectors holds " + std::to_string(nf) + " floats; expected " +
                                                         std::to_string(n) + " ids x dim")));
      if (u->metadata() && u->metadata()->size() != 0 && u->metadata()->size() != n)
        return reply(ErrorOf(id, Status::InvalidArgument("metadata must be empty or hold one entry per id")));
      const size_t dim = nf / n;
      WriteBatch batch;
      for (size_t i = 0; i < n; ++i) {
        std::string meta = u->metadata() && u->metadata()->size() ? u->metadata()->Get(i)->str() : std::string();
        batch.Upsert(ids[i], std::span<const float>(u->vectors()->data() + i * dim, dim), std::move(meta));
      }
      // The engine checks the dimension (InvalidArgument naming it).
      return ThenStatus(
          id, [&](auto done) { svc.Write(name, std::move(batch), std::move(done)); },
          [id, n] { return CountResponse(id, n); }, std::move(reply));
    }
    case fb::Body::GetRequest: {
      auto* g = req->body_as_GetRequest();
      auto ids = IdsOf(g->ids());
      GetOptions go;
      go.include_vector = g->include_vector();
      go.include_metadata = g->include_metadata();
      return Then<std::vector<std::optional<Point>>>(
          id, [&](auto done) { svc.Get(name, ids, go, ReadPolicy{}, std::move(done)); },
          [id, ids, go](const std::vector<std::optional<Point>>& pts) {
            flatbuffers::FlatBufferBuilder b(1024);
            std::vector<flatbuffers::Offset<fb::PointResult>> out;
            for (size_t i = 0; i < ids.size() && i < pts.size(); ++i) {
              auto& p = pts[i];
              out.push_back(PointOf(b, ids[i], p ? &*p : nullptr, go));
            }
            auto ov = b.CreateVector(out);
            return Finish(b, OkResponse(b, id, [&](fb::ResponseBuilder& rb) { rb.add_points(ov); }));
          },
          std::move(reply));
    }
    case fb::Body::DeleteRequest: {
      auto* d = req->body_as_DeleteRequest();
      auto ids = IdsOf(d->ids());
      std::string where = Str(d->where());
      if (ids.empty() == where.empty())
        return reply(ErrorOf(id, Status::InvalidArgument("give exactly one of ids and where")));
      return Then<uint64_t>(
          id,
          [&](auto done) {
            if (!where.empty()) svc.DeleteWhere(name, std::move(where), std::move(done));
            else svc.Delete(name, std::move(ids), std::move(done));
          },
          [id](uint64_t n) { return CountResponse(id, n); }, std::move(reply));
    }
    case fb::Body::ScrollRequest: {
      auto* q = req->body_as_ScrollRequest();
      if (Status st = CheckScrollLimit(e.limits, q->limit()); !st.ok()) return reply(ErrorOf(id, st));
      GetOptions go;
      go.include_vector = q->include_vector();
      go.include_metadata = q->include_metadata();
      return Then<ScrollPage>(
          id, [&](auto done) { svc.Scroll(name, Str(q->cursor()), q->limit(), go, Str(q->where()), std::move(done)); },
          [id, go](const ScrollPage& page) {
            flatbuffers::FlatBufferBuilder b(1024);
            std::vector<flatbuffers::Offset<fb::PointResult>> out;
            out.reserve(page.points.size());
            for (auto& p : page.points) out.push_back(PointOf(b, p.id, &p, go));
            auto ov = b.CreateVector(out);
            auto next = b.CreateString(page.next_cursor);
            return Finish(b, OkResponse(b, id, [&](fb::ResponseBuilder& rb) {
                            rb.add_points(ov);
                            rb.add_next_cursor(next);
                          }));
          },
          std::move(reply));
    }
    case fb::Body::CreateIndexRequest: {
      auto* q = req->body_as_CreateIndexRequest();
      std::string field = Str(q->field()), type = Str(q->type());
      auto parsed = ParsePayloadType(type);
      if (!parsed.ok()) return reply(ErrorOf(id, parsed.status()));
      return ThenStatus(
          id, [&](auto done) { svc.CreateIndex(name, field, *parsed, std::move(done)); },
          [id, field, type] { return IndexInfoResponse(id, field, type); }, std::move(reply));
    }
    case fb::Body::ListIndexesRequest: {
      return Then<std::vector<PayloadIndexInfo>>(
          id, [&](auto done) { svc.ListIndexes(name, std::move(done)); },
          [id](const std::vector<PayloadIndexInfo>& list) {
            flatbuffers::FlatBufferBuilder b(1024);
            std::vector<flatbuffers::Offset<fb::IndexInfo>> infos;
            for (auto& i : list)
              infos.push_back(fb::CreateIndexInfo(b, b.CreateString(i.field), b.CreateString(PayloadTypeName(i.type))));
            auto iv = b.CreateVector(infos);
            return Finish(b, OkResponse(b, id, [&](fb::ResponseBuilder& rb) { rb.add_indexes(iv); }));
          },
          std::move(reply));
    }
    case fb::Body::DropIndexRequest: {
      std::string field = Str(req->body_as_DropIndexRequest()->field());
      return ThenStatus(
          id, [&](auto done) { svc.DropIndex(name, field, std::move(done)); },
          [id, field] { return IndexInfoResponse(id, field, ""); }, std::move(reply));
    }
    case fb::Body::ListCollectionsRequest: {
      return Then<std::vector<CollectionInfo>>(
          id, [&](auto done) { svc.ListCollections(std::move(done)); },
          [id, who](const std::vector<CollectionInfo>& list) {
            flatbuffers::FlatBufferBuilder b(1024);
            std::vector<flatbuffers::Offset<fb::CollectionInfo>> infos;
            for (auto& c : list) {
              if (!who.MayUseCollection(c.name)) continue;  // A restricted key sees only its collections.
              infos.push_back(CollectionInfoOf(b, c, false));
            }
            auto cv = b.CreateVector(infos);
            return Finish(b, OkResponse(b, id, [&](fb::ResponseBuilder& rb) { rb.add_collections(cv); }));
          },
          std::move(reply));
    }
    case fb::Body::DescribeCollectionRequest: {
      return Then<CollectionInfo>(
          id, [&](auto done) { svc.DescribeCollection(name, std::move(done)); },
          [id](const CollectionInfo& c) {
            flatbuffers::FlatBufferBuilder b(1024);
            auto cv = b.CreateVector(std::vector<flatbuffers::Offset<fb::CollectionInfo>>{CollectionInfoOf(b, c, true)});
            return Finish(b, OkResponse(b, id, [&](fb::ResponseBuilder& rb) { rb.add_collections(cv); }));
          },
          std::move(reply));
    }
    case fb::Body::CountRequest: {
      return Then<uint64_t>(
          id,
          [&](auto done) { svc.Count(name, Str(req->body_as_CountRequest()->where()), ReadPolicy{}, std::move(done)); },
          [id](uint64_t n) { return CountResponse(id, n); }, std::move(reply));
    }
    default:
      return reply(ErrorOf(id, Status::InvalidArgument("request has no body or an unknown body type")));
  }
}

}  // namespace

Status AuthorizeRpc(const RpcEngine& engine, std::string_view payload, Principal* who, bool* token_ok) {
  *who = Principal();
  *token_ok = false;
  if (!engine.auth_on()) {
    who->unrestricted = true;
    return Status::OK();
  }
  Authenticator* auth = engine.late_auth ? engine.late_auth->load(std::memory_order_acquire) : engine.auth;
  const auto* req = flatbuffers::GetRoot<fb::Request>(payload.data());
  const bool has_token = req->token() && req->token()->size() > 0;
  RouteAccess access = AccessOf(req->body_type());
  if (access.access == Access::kPublic && !has_token) return Status::OK();
  if (!has_token)
    return Status::Unauthenticated("missing token: set Request.token to an SDK token (POST /v1/keys, docs/auth.md)");
  if (!auth) return Status::Unavailable("auth is still loading (the gateway reads it from the placement driver); retry");
  VECTRON_RETURN_IF_ERROR(auth->AuthenticateToken(req->token()->string_view(), who));
  *token_ok = true;
  if (access.access == Access::kPublic) return Status::OK();  // Ping: the token checked out.
  return Authorize(*who, access, CollectionOf(req));
}

void ExecuteRpcAsync(const RpcEngine& engine, std::string_view payload, const Principal& who,
                     std::chrono::steady_clock::time_point arrival, std::function<void(std::string)> reply) {
  const auto* req = flatbuffers::GetRoot<fb::Request>(payload.data());
  if (req->deadline_ms() != 0 &&
      std::chrono::steady_clock::now() > arrival + std::chrono::milliseconds(req->deadline_ms())) {
    return reply(RpcErrorPayload(req->id(), "deadline_exceeded",
                                 "deadline of " + std::to_string(req->deadline_ms()) + " ms passed before the request ran"));
  }
  // `reply` may be moved into a callback that the service then drops on an exception:
  // answer through a shared flag so that exactly one answer goes out.
  auto answered = std::make_shared<bool>(false);
  RpcReply once = [answered, reply = std::move(reply)](std::string out) {
    if (*answered) return;
    *answered = true;
    reply(std::move(out));
  };
  try {
    Execute(engine, req, who, once);
  } catch (const std::exception& e) {
    once(RpcErrorPayload(req->id(), "internal", e.what()));
  }
}

std::string ExecuteRpc(const RpcEngine& engine, std::string_view payload, const Principal& who,
                       std::chrono::steady_clock::time_point arrival) {
  std::optional<std::string> out;
  ExecuteRpcAsync(engine, payload, who, arrival, [&out](std::string r) { out.emplace(std::move(r)); });
  if (!out) {
    const auto* req = flatbuffers::GetRoot<fb::Request>(payload.data());
    return RpcErrorPayload(req->id(), "internal", "the data service did not answer in line");
  }
  return std::move(*out);
}

struct RpcServer::Shared {
  EventLoop* loop;
  WorkerPool* pool;
  RpcEngine engine;
  RpcLimits limits;
  InlineGate* gate;
};

namespace {

const char* MethodName(fb::Body t) {
  switch (t) {
    case fb::Body::PingRequest: return "Ping";
    case fb::Body::SearchRequest: return "Search";
    case fb::Body::UpsertRequest: return "Upsert";
    case fb::Body::GetRequest: return "Get";
    case fb::Body::DeleteRequest: return "Delete";
    case fb::Body::CountRequest: return "Count";
    case fb::Body::ScrollRequest: return "Scroll";
    case fb::Body::CreateIndexRequest: return "CreateIndex";
    case fb::Body::ListIndexesRequest: return "ListIndexes";
    case fb::Body::DropIndexRequest: return "DropIndex";
    case fb::Body::ListCollectionsRequest: return "ListCollections";
    case fb::Body::DescribeCollectionRequest: return "DescribeCollection";
    default: return "Unknown";
  }
}

std::string CodeOf(std::string_view payload) {
  const auto* r = flatbuffers::GetRoot<fb::Response>(payload.data());
  return r->code() ? r->code()->str() : "ok";
}

class RpcSession : public std::enable_shared_from_this<RpcSession> {
 public:
  RpcSession(Connection& conn, std::shared_ptr<RpcServer::Shared> shared)
      : conn_(conn), shared_(std::move(shared)), decoder_(shared_->limits.max_frame_bytes) {
    last_activity_ms_ = shared_->loop->NowMs();
    SetAuthenticated(!shared_->engine.auth_on());
  }

  void OnData(std::string_view bytes) {
    if (dead_) return;
    last_activity_ms_ = shared_->loop->NowMs();
    const bool was_mid = decoder_.mid_frame();
    bool took = false;
    decoder_.Append(bytes);
    if (closing_) {
      // Reading an oversize frame's rest away (below); closed once it is all here.
      if (!decoder_.skipping()) {
        dead_ = true;
        conn_.Close();
      }
      return;
    }
    for (;;) {
      std::string frame;
      size_t declared = 0;
      FrameDecoder::Next next = decoder_.Take(&frame, &declared);
      if (next == FrameDecoder::Next::kNeedMore) break;
      took = true;
      if (next == FrameDecoder::Next::kFrame) {
        Dispatch(std::move(frame));  // May authenticate the connection: the next header sees it.
        continue;
      }
      if (declared > shared_->limits.max_frame_bytes) {
        std::string why = "frame of " + std::to_string(declared) + " bytes exceeds the limit of " +
                          std::to_string(shared_->limits.max_frame_bytes) + " bytes";
        Log("-", "invalid_argument", 0);
        conn_.Send(EncodeFrame(RpcErrorPayload(0, "invalid_argument", why)));
        // Closing now, with the frame's rest still arriving, would reset the connection
        // (unread bytes) and could destroy the error before the client reads it: the
        // rest is read and dropped (never kept) first, within the frame timeout.
        decoder_.SkipPayload(declared);
        if (!decoder_.skipping()) {
          dead_ = true;
          conn_.Close();
          return;
        }
        closing_ = true;
        frame_start_ms_ = last_activity_ms_;
        return;
      }
      // Too large to read before the connection has shown a valid token: its payload is
      // dropped as it arrives (never buffered) and the stream stays in step.
      Log("-", "unauthenticated", 0);
      conn_.Send(EncodeFrame(RpcErrorPayload(
          0, "unauthenticated",
          "frame of " + std::to_string(declared) + " bytes not read: frames over " +
              std::to_string(decoder_.max_frame_bytes()) +
              " bytes need a connection on which a request carried a valid token first (send a Ping with "
              "Request.token; RpcClient does)")));
      decoder_.SkipPayload(declared);
    }
    // A frame that started in this read is timed from now.
    if (decoder_.mid_frame() && (!was_mid || took)) frame_start_ms_ = last_activity_ms_;
    if (inflight_ >= shared_->limits.max_inflight) conn_.PauseReading();
  }

  void OnTick(uint64_t now) {
    if (dead_ || inflight_ > 0) return;
    if (decoder_.mid_frame() && now - frame_start_ms_ > shared_->limits.frame_timeout_ms) {
      conn_.Send(EncodeFrame(RpcErrorPayload(0, "deadline_exceeded", "frame not received completely in time")));
      dead_ = true;
      conn_.Close();
    } else if (!decoder_.mid_frame() && now - last_activity_ms_ > shared_->limits.idle_timeout_ms) {
      dead_ = true;
      conn_.Close();
    }
  }

  bool Idle() const { return inflight_ == 0 && !decoder_.mid_frame(); }
  void MarkDead() { dead_ = true; }

  void Deliver(std::string payload, const char* method, double ms) {
    --inflight_;
    if (dead_) return;
    std::string code = CodeOf(payload);
    if (shared_->engine.metrics) shared_->engine.metrics->ObserveRpc(method, code, ms / 1000.0);
    Log(method, code, ms);
    conn_.Send(EncodeFrame(payload));
    last_activity_ms_ = shared_->loop->NowMs();
    if (inflight_ < shared_->limits.max_inflight) conn_.ResumeReading();
  }

 private:
  void Log(const char* method, const std::string& code, double ms) {
    if (!shared_->limits.log_requests) return;
    std::fprintf(stderr, "info rpc %s %s %s %.3fms\n", conn_.peer().c_str(), method, code.c_str(), ms);
  }

  // The frame limit follows the connection's state: small until a request on it
  // carried a valid token (kRpcPreauthFrameBytes), max_frame_bytes after, and small
  // again once a token is refused as unauthenticated (revoked, expired).
  void SetAuthenticated(bool yes) {
    authenticated_ = yes;
    const size_t max = shared_->limits.max_frame_bytes;
    decoder_.set_max_frame_bytes(yes ? max : std::min(max, kRpcPreauthFrameBytes));
  }

  void Dispatch(std::string frame) {
    auto arrival = std::chrono::steady_clock::now();
    flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(frame.data()), frame.size());
    if (frame.size() < 8 || !v.VerifyBuffer<fb::Request>(nullptr)) {
      Log("-", "invalid_argument", 0);
      conn_.Send(EncodeFrame(RpcErrorPayload(0, "invalid_argument", "frame is not a valid Request flatbuffer")));
      return;
    }
    const auto* req = flatbuffers::GetRoot<fb::Request>(frame.data());
    const char* method = MethodName(req->body_type());
    uint64_t id = req->id();
    ++inflight_;
    // The token is checked here, on the loop, so that the connection's frame limit is
    // right before the next frame's header is read; a verified token is cached.
    Principal who;
    bool token_ok = false;
    Status st = AuthorizeRpc(shared_->engine, frame, &who, &token_ok);
    if (token_ok && !authenticated_) SetAuthenticated(true);
    if (!st.ok()) {
      if (st.code() == StatusCode::kUnauthenticated && authenticated_ && shared_->engine.auth_on()) SetAuthenticated(false);
      Deliver(ErrorOf(id, st), method, 0);
      return;
    }
    std::weak_ptr<RpcSession> weak = weak_from_this();
    auto shared = shared_;
    if (shared_->engine.service_on_loop) {
      // The service answers on this thread, now or when its operation completes.
      ExecuteRpcAsync(shared_->engine, frame, who, arrival, [weak, method, arrival](std::string out) {
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - arrival).count();
        if (auto s = weak.lock()) s->Deliver(std::move(out), method, ms);
      });
      return;
    }
    if (shared_->gate && shared_->gate->TryEnter(conn_.id(), LightRpc(*req), arrival)) {
      // The server's only work: run it here rather than wake a worker and then the loop.
      std::string out = ExecuteRpc(shared_->engine, frame, who, arrival);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - arrival).count();
      Deliver(std::move(out), method, ms);
      return;
    }
    bool ok = shared_->pool->TrySubmit([weak, shared, method, arrival, who = std::move(who), frame = std::move(frame)]() {
      std::string out = ExecuteRpc(shared->engine, frame, who, arrival);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - arrival).count();
      shared->loop->Post([weak, out = std::move(out), method, ms]() mutable {
        if (auto s = weak.lock()) s->Deliver(std::move(out), method, ms);
      });
    });
    if (!ok) Deliver(RpcErrorPayload(id, "unavailable", "server busy: worker queue full; retry later"), method, 0);
  }

  Connection& conn_;
  std::shared_ptr<RpcServer::Shared> shared_;
  FrameDecoder decoder_;
  bool authenticated_ = false;  // A request on this connection carried a valid token.
  size_t inflight_ = 0;
  bool dead_ = false;
  bool closing_ = false;  // Dropping the rest of an oversize frame, then closing.
  uint64_t last_activity_ms_ = 0;
  uint64_t frame_start_ms_ = 0;
};

class RpcHandler final : public ConnectionHandler {
 public:
  explicit RpcHandler(std::shared_ptr<RpcSession> s) : s_(std::move(s)) {}
  ~RpcHandler() override { s_->MarkDead(); }
  void OnData(std::string_view bytes) override { s_->OnData(bytes); }
  void OnTick(uint64_t now_ms) override { s_->OnTick(now_ms); }
  bool Idle() const override { return s_->Idle(); }

 private:
  std::shared_ptr<RpcSession> s_;
};

}  // namespace

RpcServer::RpcServer(EventLoop& loop, WorkerPool& pool, RpcEngine engine, RpcLimits limits, InlineGate* gate)
    : shared_(std::make_shared<Shared>(Shared{&loop, &pool, engine, limits, gate})) {}

RpcServer::~RpcServer() = default;

TcpListener::Factory RpcServer::Factory() {
  return [shared = shared_](Connection& conn) -> std::unique_ptr<ConnectionHandler> {
    return std::make_unique<RpcHandler>(std::make_shared<RpcSession>(conn, shared));
  };
}

}  // namespace vectron::net
