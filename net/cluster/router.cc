#include "net/cluster/router.h"

#include <algorithm>
#include <tuple>

#include "net/cluster/router_internal.h"

namespace vectron::net::cluster {

Router::Router(RouterOptions options, Clock& clock, Rng& rng, Transport& transport)
    : opt_(std::move(options)), clock_(clock), rng_(rng), transport_(transport), self_{NodeKind::kGateway, opt_.id} {
  client_id_ = opt_.client_id != 0 ? opt_.client_id : (rng_.Next() | 1);
  next_refresh_ms_ = clock_.NowMs();
}

Router::~Router() = default;

uint64_t Router::Backoff(int attempt) {
  uint64_t b = opt_.backoff_min_ms;
  for (int i = 1; i < attempt && b < opt_.backoff_max_ms; ++i) b *= 2;
  b = std::min(b, opt_.backoff_max_ms);
  return b / 2 + rng_.Below(b / 2 + 1);  // Jitter: [b/2, b].
}

void Router::EraseInflight(uint64_t seq) {
  auto it = inflight_seqs_.find(seq);
  if (it != inflight_seqs_.end()) inflight_seqs_.erase(it);
}

uint64_t Router::AckedBelow() const { return inflight_seqs_.empty() ? next_seq_ : *inflight_seqs_.begin(); }

uint64_t Router::PdTarget() {
  if (pd_leader_) return pd_leader_;
  if (opt_.pd_members.empty()) return 0;
  return opt_.pd_members[pd_rotate_ % opt_.pd_members.size()];
}

// ---- Map ----

void Router::RefreshMap() {
  if (map_outstanding_) return;
  uint64_t to = PdTarget();
  if (!to) return;
  PdMapRequest req;
  req.rpc_id = map_rpc_ = next_rpc_++;
  req.known_version = 0;
  map_outstanding_ = true;
  map_sent_ms_ = clock_.NowMs();
  ++stats_.map_refreshes;
  transport_.Send(NodeId{NodeKind::kPd, to}, req);
}

void Router::OnMapResponse(const PdMapResponse& r) {
  if (!map_outstanding_ || r.rpc_id != map_rpc_) return;
  map_outstanding_ = false;
  if (!r.status.ok() || !r.map) {
    pd_leader_ = r.pd_leader;
    if (!pd_leader_) ++pd_rotate_;
    next_refresh_ms_ = clock_.NowMs() + opt_.backoff_min_ms;
    return;
  }
  pd_leader_ = r.pd_leader;
  if (has_map_ && r.map->version < map_.version) return;  // An older leader's map.
  const bool newer = !has_map_ || r.map->version > map_.version;
  map_ = *r.map;
  has_map_ = true;
  map_received_ms_ = clock_.NowMs();
  map_asked_rpc_ = r.rpc_id;
  next_refresh_ms_ = map_received_ms_ + opt_.map_refresh_ms;
  shards_.clear();
  initial_shards_.clear();
  for (const auto& [name, c] : map_.collections) {
    shards_[name] = static_cast<uint32_t>(c.groups.size());
    Result<CollectionConfig> cfg = CollectionConfig::FromJson(c.config_json);
    initial_shards_[name] = cfg.ok() ? cfg->shards : static_cast<uint32_t>(c.groups.size());
  }
  for (auto it = leaders_.begin(); it != leaders_.end();)
    it = map_.groups.count(it->first) ? std::next(it) : leaders_.erase(it);
  // Parts a replica refused as routed with a stale epoch go again now (not after their
  // backoff) if the map changed: it may be the one they waited for.
  if (newer)
    for (auto& [id, op] : ops_)
      for (Part& p : op->parts)
        if (p.reroute && !p.done && !p.outstanding) p.next_try_ms = 0;
  // Operations waiting for the map go now.
  std::vector<uint64_t> waiting;
  for (auto& [id, op] : ops_)
    if (!op->resolved) waiting.push_back(id);
  for (uint64_t id : waiting) Start(id);
}

// ---- Operations ----

uint64_t Router::NewOp(Kind kind, std::string collection) {
  auto op = std::make_unique<Op>();
  op->id = next_op_++;
  op->kind = kind;
  op->collection = std::move(collection);
  op->start_ms = clock_.NowMs();
  op->first_rpc = next_rpc_;
  op->deadline_ms = op->start_ms + opt_.deadline_ms;
  uint64_t id = op->id;
  ops_.emplace(id, std::move(op));
  return id;
}

void Router::Write(const std::string& collection, const WriteBatch& batch, StatusFn done) {
  uint64_t id = NewOp(Kind::kWrite, collection);
  Op& op = *ops_[id];
  op.batch = batch;
  op.status_fn = std::move(done);
  Start(id);
}

void Router::DeleteWhere(const std::string& collection, std::string where, CountFn done) {
  uint64_t id = NewOp(Kind::kBroadcast, collection);
  Op& op = *ops_[id];
  op.broadcast.kind = ShardCommand::Kind::kDeleteWhere;
  op.broadcast.where = std::move(where);
  op.count_fn = std::move(done);
  Start(id);
}

void Router::CreatePayloadIndex(const std::string& collection, std::string field, PayloadType type, StatusFn done) {
  uint64_t id = NewOp(Kind::kBroadcast, collection);
  Op& op = *ops_[id];
  op.broadcast.kind = ShardCommand::Kind::kCreatePayloadIndex;
  op.broadcast.field = std::move(field);
  op.broadcast.type = type;
  op.status_fn = std::move(done);
  Start(id);
}

void Router::DropPayloadIndex(const std::string& collection, std::string field, StatusFn done) {
  uint64_t id = NewOp(Kind::kBroadcast, collection);
  Op& op = *ops_[id];
  op.broadcast.kind = ShardCommand::Kind::kDropPayloadIndex;
  op.broadcast.field = std::move(field);
  op.status_fn = std::move(done);
  Start(id);
}

void Router::Rate(const std::string& collection, Rating rating, StatusFn done) {
  uint64_t id = NewOp(Kind::kRate, collection);
  Op& op = *ops_[id];
  op.broadcast.kind = ShardCommand::Kind::kRate;
  op.broadcast.rating = std::move(rating);
  op.status_fn = std::move(done);
  Start(id);
}

void Router::RatingStatsOf(const std::string& collection, std::vector<std::string> ids, const ReadOptions& read,
                           RatingStatsFn done) {
  uint64_t id = NewOp(Kind::kRatingStats, collection);
  Op& op = *ops_[id];
  op.ids = std::move(ids);
  op.read.kind = ShardReadRequest::Kind::kRatingStats;
  op.read.read = read;
  op.rating_stats_fn = std::move(done);
  Start(id);
}

void Router::RatingsOfShard(const std::string& collection, uint32_t shard, std::string after, uint32_t limit,
                            const ReadOptions& read, RatingsFn done) {
  uint64_t id = NewOp(Kind::kRatings, collection);
  Op& op = *ops_[id];
  op.ratings_shard = shard;
  op.read.kind = ShardReadRequest::Kind::kRatings;
  op.read.after = std::move(after);
  op.read.limit = limit;
  op.read.read = read;
  op.ratings_fn = std::move(done);
  Start(id);
}

void Router::Get(const std::string& collection, std::vector<std::string> ids, const GetOptions& options,
                 const ReadOptions& read, PointsFn done) {
  uint64_t id = NewOp(Kind::kGet, collection);
  Op& op = *ops_[id];
  op.ids = std::move(ids);
  op.read.kind = ShardReadRequest::Kind::kGet;
  op.read.get = options;
  op.read.read = read;
  op.points_fn = std::move(done);
  Start(id);
}

void Router::Search(const std::string& collection, std::vector<float> query, const SearchParams& params,
                    const ReadOptions& read, HitsFn done) {
  uint64_t id = NewOp(Kind::kSearch, collection);
  Op& op = *ops_[id];
  op.read.kind = ShardReadRequest::Kind::kSearch;
  op.read.query = std::move(query);
  op.read.search = params;
  op.read.read = read;
  op.hits_fn = std::move(done);
  Start(id);
}

void Router::SearchIfChanged(const std::string& collection, std::vector<float> query, const SearchParams& params,
                             const ReadOptions& read, std::vector<ShardReadAt> known, VersionedHitsFn done) {
  uint64_t id = NewOp(Kind::kSearch, collection);
  Op& op = *ops_[id];
  op.read.kind = ShardReadRequest::Kind::kSearch;
  op.read.query = std::move(query);
  op.read.search = params;
  op.read.read = read;
  op.known = std::move(known);
  op.versioned_fn = std::move(done);
  Start(id);
}

void Router::Scroll(const std::string& collection, std::string after, uint32_t limit, const GetOptions& options,
                    std::string where, const ReadOptions& read, PageFn done) {
  uint64_t id = NewOp(Kind::kScroll, collection);
  Op& op = *ops_[id];
  op.read.kind = ShardReadRequest::Kind::kScroll;
  op.read.after = std::move(after);
  op.read.limit = limit;
  op.read.get = options;
  op.read.where = std::move(where);
  op.read.read = read;
  op.page_fn = std::move(done);
  Start(id);
}

void Router::Count(const std::string& collection, std::string where, const ReadOptions& read, CountFn done) {
  uint64_t id = NewOp(Kind::kCount, collection);
  Op& op = *ops_[id];
  op.read.kind = ShardReadRequest::Kind::kCount;
  op.read.where = std::move(where);
  op.read.read = read;
  op.count_fn = std::move(done);
  Start(id);
}

void Router::ListPayloadIndexes(const std::string& collection, const ReadOptions& read, IndexesFn done) {
  uint64_t id = NewOp(Kind::kIndexes, collection);
  Op& op = *ops_[id];
  op.read.kind = ShardReadRequest::Kind::kIndexes;
  op.read.read = read;
  op.indexes_fn = std::move(done);
  Start(id);
}

uint64_t Router::NewPdOp(Kind kind, const std::string& name) {
  uint64_t id = NewOp(kind, name);
  Op& op = *ops_[id];
  op.parts.resize(1);
  op.remaining = 1;
  op.resolved = true;
  return id;
}

void Router::LoadAuth(std::function<void(Result<AuthRecords>)> done) {
  Op& op = *ops_[NewPdOp(Kind::kAuth, "")];
  op.auth.kind = PdAuthRequest::Kind::kLoad;
  op.auth_load_fn = std::move(done);
  SendAdmin(op);
}

void Router::CommitAuth(uint64_t if_version, std::vector<AuthChange> changes,
                        std::function<void(Result<uint64_t>)> done) {
  Op& op = *ops_[NewPdOp(Kind::kAuth, "")];
  op.auth.kind = PdAuthRequest::Kind::kCommit;
  op.auth.request = RequestId{client_id_, next_seq_++, 0};
  op.auth.if_version = if_version;
  op.auth.changes = std::move(changes);
  op.auth_commit_fn = std::move(done);
  SendAdmin(op);
}

void Router::CreateCollection(const std::string& name, const CollectionConfig& config, uint32_t replication,
                              StatusFn done, std::string metadata) {
  Op& op = *ops_[NewPdOp(Kind::kAdmin, name)];
  op.admin.kind = PdAdminRequest::Kind::kCreateCollection;
  op.admin.name = name;
  op.admin.metadata = std::move(metadata);
  op.admin.config_json = config.ToJson();
  op.admin.replication = replication;
  op.admin.request = RequestId{client_id_, next_seq_++, 0};
  op.status_fn = std::move(done);
  SendAdmin(op);
}

void Router::DropCollection(const std::string& name, StatusFn done) {
  Op& op = *ops_[NewPdOp(Kind::kAdmin, name)];
  op.admin.kind = PdAdminRequest::Kind::kDropCollection;
  op.admin.name = name;
  op.admin.request = RequestId{client_id_, next_seq_++, 0};
  op.status_fn = std::move(done);
  SendAdmin(op);
}

void Router::SetCollectionMetadata(const std::string& name, std::string metadata, StatusFn done) {
  Op& op = *ops_[NewPdOp(Kind::kAdmin, name)];
  op.admin.kind = PdAdminRequest::Kind::kSetCollectionMetadata;
  op.admin.name = name;
  op.admin.metadata = std::move(metadata);
  op.admin.request = RequestId{client_id_, next_seq_++, 0};
  op.status_fn = std::move(done);
  SendAdmin(op);
}

void Router::SetDefaultRerank(const std::string& name, std::string pipeline, StatusFn done) {
  Op& op = *ops_[NewPdOp(Kind::kAdmin, name)];
  op.admin.kind = PdAdminRequest::Kind::kSetDefaultRerank;
  op.admin.name = name;
  op.admin.metadata = std::move(pipeline);
  op.admin.request = RequestId{client_id_, next_seq_++, 0};
  op.status_fn = std::move(done);
  SendAdmin(op);
}

void Router::RenameCollection(const std::string& from, const std::string& to, StatusFn done) {
  Op& op = *ops_[NewPdOp(Kind::kAdmin, from)];
  op.admin.kind = PdAdminRequest::Kind::kRenameCollection;
  op.admin.name = from;
  op.admin.new_name = to;
  op.admin.request = RequestId{client_id_, next_seq_++, 0};
  op.status_fn = std::move(done);
  SendAdmin(op);
}

void Router::SendPart(Op& op, size_t i) {
  // A part goes only to the group and epoch it was routed with. The map may have moved
  // since (a retry after a refresh): a split that finished shifts the positions of the
  // collection's groups, and shrinks the range of the group split. Routed again by its
  // range, rather than sent to whatever group now sits at its position, with that group's
  // epoch (which its replicas would accept: a search would read a group twice, a get
  // would miss ids that moved).
  if (const Part& p = op.parts[i]; !p.reroute && p.group != 0)
    if (const GroupInfo* g = map_.GroupOf(op.collection, p.shard); !g || g->id != p.group || g->epoch != p.epoch)
      op.parts[i].reroute = true;
  if (op.parts[i].reroute) {
    Reroute(op, i);
    // New parts (appended) are sent by the caller's loop or the next RunOnce.
  }
  Part& p = op.parts[i];
  const GroupInfo* g = map_.GroupOf(op.collection, p.shard);
  if (!g || g->replicas.empty()) {
    if (map_asked_rpc_ >= op.first_rpc && map_.version >= min_map_version_ && !map_.collections.count(op.collection)) {
      op.status = Status::NotFound("collection \"" + op.collection + "\" does not exist");
      return Finish(op);
    }
    RefreshMap();
    p.next_try_ms = clock_.NowMs() + Backoff(++p.attempts);
    return;
  }
  p.group = g->id;
  const auto& reps = g->replicas;
  if (IsWrite(op.kind)) {
    const uint64_t hint = LeaderOf(*g);
    bool known = std::find(reps.begin(), reps.end(), hint) != reps.end();
    p.target = known ? hint : PickReplica(reps, static_cast<uint64_t>(p.attempts));
  } else {
    // Reads spread over the replicas (a follower confirms with the leader by ReadIndex),
    // avoiding one that is down or did not answer lately; during a move, over the voters
    // the group keeps. The one on its way out is removed at the move's end, and a read it
    // had confirmed against the leader's commit index then waits for entries that leader
    // no longer sends it, until the worker's request timeout (benchmarks.md, "Replica
    // moves": one search of ~1.02 s per move, the gateway's rpc timeout).
    std::vector<uint64_t> staying;
    for (uint64_t w : reps)
      if (std::find(g->target.begin(), g->target.end(), w) != g->target.end()) staying.push_back(w);
    const std::vector<uint64_t>& candidates = staying.empty() ? reps : staying;
    const uint64_t leader = LeaderOf(*g);
    if (opt_.reads_at_leader && p.attempts == 0 && p.read.read.max_staleness_ms == 0 &&
        std::find(candidates.begin(), candidates.end(), leader) != candidates.end() && !Avoided(leader, clock_.NowMs()))
      p.target = leader;
    else
      p.target = PickReplica(candidates, op.id + static_cast<uint64_t>(p.attempts));
  }
  p.rpc = next_rpc_++;
  p.outstanding = true;
  p.sent_ms = clock_.NowMs();
  rpcs_[p.rpc] = {op.id, i};
  ++stats_.rpcs;
  NodeId to{NodeKind::kWorker, p.target};
  if (IsWrite(op.kind)) {
    ShardWriteRequest req;
    req.rpc_id = p.rpc;
    req.group = g->id;
    req.epoch = g->epoch;
    req.command = p.command;
    req.command.request.acked_below = AckedBelow();
    transport_.Send(to, std::move(req));
  } else {
    ShardReadRequest req = p.read;
    req.rpc_id = p.rpc;
    req.group = g->id;
    req.epoch = g->epoch;
    // The cache's check holds only for the group the earlier answer was read from (a
    // collection dropped and created again has new groups).
    p.token = 0;
    if (op.kind == Kind::kSearch && !p.no_token && p.shard < op.known.size() && op.known[p.shard].group == g->id)
      p.token = op.known[p.shard].applied_index;
    req.unchanged_if_applied = p.token;
    uint32_t& at = reads_at_[p.target];
    req.lone = at == 0;
    ++at;
    read_rpcs_[p.rpc] = p.target;
    transport_.Send(to, std::move(req));
  }
}

void Router::Forget(uint64_t rpc) {
  rpcs_.erase(rpc);
  auto r = read_rpcs_.find(rpc);
  if (r == read_rpcs_.end()) return;
  auto at = reads_at_.find(r->second);
  if (at != reads_at_.end() && --at->second == 0) reads_at_.erase(at);
  read_rpcs_.erase(r);
}

uint64_t Router::LeaderOf(const GroupInfo& g) const {
  auto l = leaders_.find(g.id);
  return l != leaders_.end() ? l->second : g.leader;
}

bool Router::Avoided(uint64_t worker, uint64_t now) const {
  auto s = suspect_until_.find(worker);
  if (s != suspect_until_.end() && now < s->second) return true;
  auto w = map_.workers.find(worker);
  return w != map_.workers.end() && !w->second.alive;
}

uint64_t Router::PickReplica(const std::vector<uint64_t>& reps, uint64_t start) const {
  const uint64_t now = clock_.NowMs();
  for (size_t k = 0; k < reps.size(); ++k) {
    uint64_t w = reps[(start + k) % reps.size()];
    if (!Avoided(w, now)) return w;
  }
  return reps[start % reps.size()];
}

void Router::SendAdmin(Op& op) {
  Part& p = op.parts[0];
  uint64_t to = PdTarget();
  if (!to) return PartDone(op, 0, Status::Unavailable("no placement driver configured"));
  p.target = to;
  p.rpc = next_rpc_++;
  p.outstanding = true;
  p.sent_ms = clock_.NowMs();
  rpcs_[p.rpc] = {op.id, 0};
  ++stats_.rpcs;
  if (op.kind == Kind::kAuth) {
    PdAuthRequest req = op.auth;
    req.rpc_id = p.rpc;
    transport_.Send(NodeId{NodeKind::kPd, to}, std::move(req));
    return;
  }
  PdAdminRequest req = op.admin;
  req.rpc_id = p.rpc;
  transport_.Send(NodeId{NodeKind::kPd, to}, std::move(req));
}

void Router::Retry(Op& op, size_t i, bool backoff) {
  Part& p = op.parts[i];
  if (p.outstanding) Forget(p.rpc);
  p.outstanding = false;
  ++p.attempts;
  ++stats_.retries;
  p.next_try_ms = clock_.NowMs() + (backoff ? Backoff(p.attempts) : 0);
}

void Router::PartDone(Op& op, size_t i, Status s) {
  Part& p = op.parts[i];
  if (p.done) return;
  if (p.outstanding) Forget(p.rpc);
  p.outstanding = false;
  p.done = true;
  if (IsWrite(op.kind)) EraseInflight(p.command.request.seq);
  if (!s.ok() && op.status.ok()) op.status = std::move(s);
  if (!op.status.ok()) return Finish(op);
  if (--op.remaining > 0) return;
  if (op.kind == Kind::kSearch) {
    // Some shards changed: the answer is searched afresh, so the shards that answered
    // unchanged (and sent no hits) are asked again for theirs. Also after a split rerouted
    // a part (which drops the cached read points: every part is then searched afresh).
    size_t unchanged = 0;
    for (const Part& q : op.parts) unchanged += q.unchanged ? 1 : 0;
    if (unchanged > 0 && unchanged < op.parts.size()) {
      for (Part& q : op.parts) {
        if (!q.unchanged) continue;
        q.unchanged = false;
        q.done = false;
        q.no_token = true;
        q.attempts = 0;
        q.next_try_ms = 0;
        ++op.remaining;
      }
      uint64_t op_id = op.id;
      for (size_t j = 0; j < op.parts.size() && ops_.count(op_id); ++j)
        if (!op.parts[j].done && !op.parts[j].outstanding) SendPart(op, j);
      return;
    }
  }
  Finish(op);
}

void Router::Finish(Op& op) {
  uint64_t id = op.id;
  for (Part& p : op.parts) {
    if (p.outstanding) Forget(p.rpc);
    if (IsWrite(op.kind) && !p.done) EraseInflight(p.command.request.seq);
  }
  if (!op.status.ok()) ++stats_.ops_failed;
  Status st = op.status;
  switch (op.kind) {
    case Kind::kAdmin:
      // This gateway reads its own default pipeline change at once (the map refresh
      // that brings it from the PD comes later).
      if (st.ok() && op.admin.kind == PdAdminRequest::Kind::kSetDefaultRerank)
        if (auto it = map_.collections.find(op.admin.name); it != map_.collections.end())
          it->second.rerank = op.admin.metadata;
      if (op.status_fn) op.status_fn(st);
      break;
    case Kind::kWrite:
    case Kind::kRate:
      if (op.status_fn) op.status_fn(st);
      break;
    case Kind::kRatingStats:
      if (st.ok()) op.rating_stats_fn(std::move(op.rating_stats));
      else op.rating_stats_fn(st);
      break;
    case Kind::kRatings:
      if (st.ok()) op.ratings_fn(std::move(op.ratings));
      else op.ratings_fn(st);
      break;
    case Kind::kBroadcast:
      if (op.count_fn) {
        if (st.ok()) op.count_fn(op.count);
        else op.count_fn(st);
      } else if (op.status_fn) {
        op.status_fn(st);
      }
      break;
    case Kind::kGet:
      if (st.ok()) op.points_fn(std::move(op.points));
      else op.points_fn(st);
      break;
    case Kind::kSearch:
      if (op.versioned_fn) {
        if (!st.ok()) {
          op.versioned_fn(st);
          break;
        }
        VersionedHits out;
        out.unchanged = !op.parts.empty() && std::all_of(op.parts.begin(), op.parts.end(),
                                                         [](const Part& q) { return q.unchanged; });
        if (out.unchanged) {
          out.read_at = op.known;
        } else {
          std::sort(op.hits.begin(), op.hits.end(),
                    [](const Hit& a, const Hit& b) { return a.score != b.score ? a.score < b.score : a.id < b.id; });
          if (op.hits.size() > static_cast<size_t>(std::max(0, op.read.search.k)))
            op.hits.resize(static_cast<size_t>(op.read.search.k));
          out.hits = std::move(op.hits);
          // After a split mid-search the shard positions moved: nothing to vouch for.
          if (!op.rerouted) out.read_at = std::move(op.read_at);
        }
        op.versioned_fn(std::move(out));
      } else if (st.ok()) {
        std::sort(op.hits.begin(), op.hits.end(),
                  [](const Hit& a, const Hit& b) { return a.score != b.score ? a.score < b.score : a.id < b.id; });
        if (op.hits.size() > static_cast<size_t>(std::max(0, op.read.search.k)))
          op.hits.resize(static_cast<size_t>(op.read.search.k));
        op.hits_fn(std::move(op.hits));
      } else {
        op.hits_fn(st);
      }
      break;
    case Kind::kCount:
      if (st.ok()) op.count_fn(op.count);
      else op.count_fn(st);
      break;
    case Kind::kIndexes: {
      if (st.ok() && op.indexes_disagree)
        st = Status::Internal("the shards of \"" + op.collection + "\" list a payload index with different types");
      if (!st.ok()) {
        op.indexes_fn(st);
        break;
      }
      std::vector<PayloadIndexInfo> out;
      for (const auto& [field, type] : op.indexes) out.push_back(PayloadIndexInfo{field, type});
      op.indexes_fn(std::move(out));
      break;
    }
    case Kind::kScroll: {
      if (!st.ok()) {
        op.page_fn(st);
        break;
      }
      // Each shard answered its first `limit` ids past the cursor: the first `limit` of
      // their union are the first `limit` of the collection.
      ScrollPage page;
      for (auto& p : op.points)
        if (p) page.points.push_back(std::move(*p));
      std::sort(page.points.begin(), page.points.end(), [](const Point& a, const Point& b) { return a.id < b.id; });
      const bool more = op.more || page.points.size() > op.read.limit;
      if (page.points.size() > op.read.limit) page.points.resize(op.read.limit);
      if (more && !page.points.empty()) page.next_cursor = page.points.back().id;
      op.page_fn(std::move(page));
      break;
    }
    case Kind::kAuth:
      if (op.auth_load_fn) {
        if (st.ok()) op.auth_load_fn(std::move(op.auth_records));
        else op.auth_load_fn(st);
      } else if (op.auth_commit_fn) {
        if (st.ok()) op.auth_commit_fn(op.auth_version);
        else op.auth_commit_fn(st);
      }
      break;
  }
  if (op.kind == Kind::kAdmin && st.ok()) RefreshMap();
  ops_.erase(id);
}

namespace {
// Answers that are worth another attempt (elsewhere or later); the rest are final.
bool Retryable(const Status& s, bool stale_epoch) {
  return stale_epoch || s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kAborted;
}
}  // namespace

void Router::OnWriteResponse(const ShardWriteResponse& r) {
  auto rp = rpcs_.find(r.rpc_id);
  if (rp == rpcs_.end()) return;
  auto [op_id, i] = rp->second;
  Op& op = *ops_.at(op_id);
  Part& p = op.parts[i];
  Heard(p.target);
  if (Retryable(r.status, r.stale_epoch)) {
    if (r.stale_epoch) {
      RefreshMap();
      p.reroute = true;
    }
    bool hinted = r.leader_hint != 0 && r.leader_hint != p.target;
    if (hinted) leaders_[p.group] = r.leader_hint;
    else leaders_.erase(p.group);
    return Retry(op, i, !hinted);
  }
  leaders_[p.group] = p.target;
  if (r.status.ok()) op.count += CountOnce(op, p.command.request.seq, r);
  PartDone(op, i, r.status);
}

uint64_t Router::CountOnce(Op& op, uint64_t seq, const ShardWriteResponse& r) {
  // One apply of a request is answered by every group descended from the group that
  // made it: each answers a duplicate with that group's route and whole count. The parts
  // of one request (the same seq) count each route once; a fresh outcome always counts
  // (two groups never apply one request fresh over the same route: each range is held by
  // one group at one epoch). A duplicate whose route is unknown (a record from before
  // routes were recorded) counts once per request.
  const bool known = r.applied_by.has_value();
  const ShardRoute route = r.applied_by.value_or(ShardRoute{});
  const bool first = op.counted.emplace(seq, known, route.start, route.end, route.epoch).second;
  return (first || !r.duplicate) ? r.deleted : 0;
}

void Router::OnReadResponse(const ShardReadResponse& r) {
  auto rp = rpcs_.find(r.rpc_id);
  if (rp == rpcs_.end()) return;
  auto [op_id, i] = rp->second;
  Op& op = *ops_.at(op_id);
  Part& p = op.parts[i];
  Heard(p.target);
  if (Retryable(r.status, r.stale_epoch)) {
    if (r.stale_epoch) {
      RefreshMap();
      p.reroute = true;
    }
    return Retry(op, i, true);
  }
  if (r.status.ok()) {
    if (op.kind == Kind::kGet) {
      if (r.points.size() != p.positions.size()) return PartDone(op, i, Status::Internal("a replica answered a get with the wrong number of points"));
      for (size_t j = 0; j < p.positions.size(); ++j) op.points[p.positions[j]] = r.points[j];
    } else if (op.kind == Kind::kRatingStats) {
      if (r.rating_stats.size() != p.positions.size())
        return PartDone(op, i, Status::Internal("a replica answered rating stats with the wrong number of points"));
      for (size_t j = 0; j < p.positions.size(); ++j) op.rating_stats[p.positions[j]] = r.rating_stats[j];
    } else if (op.kind == Kind::kRatings) {
      op.ratings = r.ratings;
    } else if (op.kind == Kind::kSearch) {
      if (r.unchanged) {
        // Only an answer to the token sent counts (a replica cannot vouch for another index).
        if (p.token == 0 || r.applied_index != p.token)
          return PartDone(op, i, Status::Internal("a replica answered a search 'unchanged' at another index"));
        p.unchanged = true;
      } else {
        op.hits.insert(op.hits.end(), r.hits.begin(), r.hits.end());
        p.unchanged = false;
      }
      if (p.shard < op.read_at.size()) op.read_at[p.shard] = ShardReadAt{p.group, r.applied_index};
    } else if (op.kind == Kind::kCount) {
      op.count += r.count;
    } else if (op.kind == Kind::kIndexes) {
      for (const PayloadIndexInfo& x : r.indexes) {
        auto [it, added] = op.indexes.emplace(x.field, x.type);
        if (!added && it->second != x.type) op.indexes_disagree = true;
      }
    } else if (op.kind == Kind::kScroll) {
      op.points.insert(op.points.end(), r.points.begin(), r.points.end());
      op.more = op.more || r.more;
    }
  }
  PartDone(op, i, r.status);
}

void Router::PdRetry(Op& op, uint64_t leader_hint) {
  bool hinted = leader_hint != 0 && leader_hint != op.parts[0].target;
  pd_leader_ = leader_hint;
  if (!hinted) ++pd_rotate_;
  Retry(op, 0, !hinted);
}

void Router::OnAdminResponse(const PdAdminResponse& r) {
  auto rp = rpcs_.find(r.rpc_id);
  if (rp == rpcs_.end()) return;
  Op& op = *ops_.at(rp->second.first);
  if (r.status.code() == StatusCode::kUnavailable) return PdRetry(op, r.pd_leader);
  // A map that lacks this change is stale (a PD that had not applied it yet served it):
  // no "does not exist" is concluded from one.
  min_map_version_ = std::max(min_map_version_, r.map_version);
  PartDone(op, 0, r.status);
}

void Router::OnAuthResponse(const PdAuthResponse& r) {
  auto rp = rpcs_.find(r.rpc_id);
  if (rp == rpcs_.end()) return;
  Op& op = *ops_.at(rp->second.first);
  if (op.kind != Kind::kAuth) return;
  if (r.status.code() == StatusCode::kUnavailable) return PdRetry(op, r.pd_leader);
  op.auth_version = r.version;
  op.auth_records.version = r.version;
  for (const auto& [k, v] : r.records) op.auth_records.records[k] = v;
  PartDone(op, 0, r.status);
}

void Router::Receive(const NodeId&, Envelope msg) {
  if (auto* w = std::get_if<ShardWriteResponse>(&msg)) {
    OnWriteResponse(*w);
  } else if (auto* r = std::get_if<ShardReadResponse>(&msg)) {
    OnReadResponse(*r);
  } else if (auto* a = std::get_if<PdAdminResponse>(&msg)) {
    OnAdminResponse(*a);
  } else if (auto* m = std::get_if<PdMapResponse>(&msg)) {
    OnMapResponse(*m);
  } else if (auto* au = std::get_if<PdAuthResponse>(&msg)) {
    OnAuthResponse(*au);
  }
}

void Router::RunOnce() {
  uint64_t now = clock_.NowMs();
  if (map_outstanding_ && now >= map_sent_ms_ + opt_.rpc_timeout_ms) {
    map_outstanding_ = false;
    pd_leader_ = 0;
    ++pd_rotate_;
  }
  if (!map_outstanding_ && now >= next_refresh_ms_) RefreshMap();
  bool awaiting_map = false;
  std::vector<uint64_t> ids;
  for (auto& [id, op] : ops_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = ops_.find(id);
    if (it == ops_.end()) continue;
    Op& op = *it->second;
    if (now >= op.deadline_ms) {
      op.status = Status::Unavailable(IsWrite(op.kind)
                                          ? "the write did not complete in time; it may or may not have been applied"
                                          : "no answer in time");
      Finish(op);
      continue;
    }
    if (!op.resolved) {
      Start(id);
      continue;
    }
    for (size_t i = 0; i < op.parts.size() && ops_.count(id); ++i) {
      Part& p = op.parts[i];
      if (p.done) continue;
      if (p.outstanding && now >= p.sent_ms + opt_.rpc_timeout_ms) {
        if (op.kind == Kind::kAdmin || op.kind == Kind::kAuth) {
          pd_leader_ = 0;
          ++pd_rotate_;
        } else {
          leaders_.erase(p.group);
          suspect_until_[p.target] = now + opt_.suspect_ms;
        }
        Retry(op, i, true);
      }
      if (!p.outstanding && now >= p.next_try_ms) {
        if (op.kind == Kind::kAdmin || op.kind == Kind::kAuth) SendAdmin(op);
        else SendPart(op, i);
      }
      // (Sending may have finished the operation, or appended parts: `p` may be gone.)
      if (!ops_.count(id)) break;
      if (const Part& q = op.parts[i]; !q.done && !q.outstanding && q.reroute) awaiting_map = true;
    }
  }
  // A part waiting for the map to show a split: ask for it often (PD records a split about
  // a heartbeat after its parent applied it), not only after the part's backoff.
  if (awaiting_map && !map_outstanding_ && now >= map_received_ms_ + opt_.reroute_refresh_ms) RefreshMap();
}

}  // namespace vectron::net::cluster
