#include "net/cluster/wire.h"

#include <array>

#include "cluster_generated.h"

namespace vectron::net::cluster {

namespace fb = vectron::cluster::wire;
using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

namespace {

// ---- Encoding helpers ----

Offset<flatbuffers::Vector<uint8_t>> Bytes(FlatBufferBuilder& b, std::string_view s) {
  return b.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
Offset<fb::Status> EncStatus(FlatBufferBuilder& b, const Status& s) {
  return fb::CreateStatus(b, static_cast<uint8_t>(s.code()), b.CreateString(s.message()));
}
Offset<fb::ConfState> EncConf(FlatBufferBuilder& b, const raft::ConfState& c) {
  return fb::CreateConfState(b, b.CreateVector(c.voters), b.CreateVector(c.learners));
}
Offset<fb::RaftMessage> EncRaft(FlatBufferBuilder& b, const raft::Message& m) {
  std::vector<Offset<fb::Entry>> ents;
  for (const raft::Entry& e : m.entries)
    ents.push_back(fb::CreateEntry(b, e.term, e.index, static_cast<uint8_t>(e.type), Bytes(b, e.data)));
  auto ev = b.CreateVector(ents);
  auto conf = EncConf(b, m.snapshot.metadata.conf_state);
  auto sdata = Bytes(b, m.snapshot.data);
  auto ctx = Bytes(b, m.context);
  fb::RaftMessageBuilder r(b);
  r.add_type(static_cast<uint8_t>(m.type));
  r.add_from(m.from);
  r.add_to(m.to);
  r.add_term(m.term);
  r.add_log_term(m.log_term);
  r.add_index(m.index);
  r.add_commit(m.commit);
  r.add_reject(m.reject);
  r.add_reject_hint(m.reject_hint);
  r.add_entries(ev);
  r.add_snap_index(m.snapshot.metadata.index);
  r.add_snap_term(m.snapshot.metadata.term);
  r.add_snap_conf(conf);
  r.add_snap_data(sdata);
  r.add_offset(m.offset);
  r.add_done(m.done);
  r.add_total(m.total);
  r.add_seq(m.seq);
  r.add_sent_tick(m.sent_tick);
  r.add_force(m.force);
  r.add_hibernate(m.hibernate);
  r.add_context(ctx);
  return r.Finish();
}
Offset<flatbuffers::Vector<Offset<flatbuffers::String>>> Strings(FlatBufferBuilder& b, const std::vector<std::string>& v) {
  std::vector<Offset<flatbuffers::String>> o;
  for (const std::string& s : v) o.push_back(b.CreateString(s));
  return b.CreateVector(o);
}

struct Encoder {
  FlatBufferBuilder& b;
  Offset<void> operator()(const RaftBatch& m) {
    std::vector<Offset<fb::GroupMessage>> v;
    for (const GroupMessage& g : m.messages) v.push_back(fb::CreateGroupMessage(b, g.group, EncRaft(b, g.msg)));
    return fb::CreateRaftBatch(b, b.CreateVector(v), m.incarnation).Union();
  }
  Offset<void> operator()(const SnapshotFetchRequest& m) {
    return fb::CreateSnapshotFetchRequest(b, m.group, m.fetch_id, m.min_index, m.offset, m.max_bytes).Union();
  }
  Offset<void> operator()(const SnapshotFetchResponse& m) {
    auto st = EncStatus(b, m.status);
    auto data = Bytes(b, m.data);
    Offset<fb::ConfState> conf;
    if (m.term != 0) conf = EncConf(b, m.conf);
    return fb::CreateSnapshotFetchResponse(b, m.group, m.fetch_id, st, m.index, m.total, m.offset, data, m.done,
                                           m.term, conf)
        .Union();
  }
  Offset<void> operator()(const ShardWriteRequest& m) {
    auto cmd = Bytes(b, EncodeShardCommand(m.command));
    return fb::CreateShardWriteRequest(b, m.rpc_id, m.group, m.epoch, cmd).Union();
  }
  Offset<void> operator()(const ShardWriteResponse& m) {
    auto st = EncStatus(b, m.status);
    Offset<fb::Route> applied_by;
    if (m.applied_by) applied_by = fb::CreateRoute(b, m.applied_by->start, m.applied_by->end, m.applied_by->epoch);
    return fb::CreateShardWriteResponse(b, m.rpc_id, st, m.leader_hint, m.stale_epoch, m.deleted, m.duplicate,
                                        applied_by)
        .Union();
  }
  Offset<void> operator()(const ShardReadRequest& m) {
    auto ids = Strings(b, m.ids);
    auto q = b.CreateVector(m.query);
    auto where = b.CreateString(m.search.where);
    auto cw = b.CreateString(m.where);
    auto after = b.CreateString(m.after);
    fb::ShardReadRequestBuilder r(b);
    r.add_rpc_id(m.rpc_id);
    r.add_group(m.group);
    r.add_epoch(m.epoch);
    r.add_kind(static_cast<uint8_t>(m.kind));
    r.add_max_staleness_ms(m.read.max_staleness_ms);
    r.add_ids(ids);
    r.add_include_vector(m.get.include_vector);
    r.add_include_metadata(m.get.include_metadata);
    r.add_query(q);
    r.add_k(m.search.k);
    r.add_ef(m.search.ef);
    r.add_exact(m.search.exact);
    r.add_s_include_vector(m.search.include_vector);
    r.add_s_include_metadata(m.search.include_metadata);
    r.add_where(where);
    r.add_filter_strategy(static_cast<uint8_t>(m.search.filter_strategy));
    r.add_count_where(cw);
    r.add_after(after);
    r.add_limit(m.limit);
    r.add_unchanged_if_applied(m.unchanged_if_applied);
    r.add_lone(m.lone);
    return r.Finish().Union();
  }
  Offset<void> operator()(const ShardReadResponse& m) {
    auto st = EncStatus(b, m.status);
    std::vector<Offset<fb::Point>> pts;
    for (const auto& p : m.points) {
      if (p) pts.push_back(fb::CreatePoint(b, b.CreateString(p->id), b.CreateVector(p->vector), b.CreateString(p->metadata), true));
      else pts.push_back(fb::CreatePoint(b, 0, 0, 0, false));
    }
    auto pv = b.CreateVector(pts);
    std::vector<Offset<fb::Hit>> hits;
    for (const Hit& h : m.hits)
      hits.push_back(fb::CreateHit(b, b.CreateString(h.id), h.score, b.CreateVector(h.vector), b.CreateString(h.metadata)));
    auto hv = b.CreateVector(hits);
    std::vector<Offset<fb::PayloadIndex>> indexes;
    for (const PayloadIndexInfo& x : m.indexes)
      indexes.push_back(fb::CreatePayloadIndex(b, b.CreateString(x.field), static_cast<uint8_t>(x.type)));
    auto iv = b.CreateVector(indexes);
    std::vector<Offset<fb::RatingSummary>> summaries;
    for (const RatingStats& x : m.rating_stats)
      summaries.push_back(fb::CreateRatingSummary(b, b.CreateVector(x.histogram.data(), x.histogram.size())));
    auto sv = b.CreateVector(summaries);
    std::vector<Offset<fb::RatingRecord>> ratings;
    for (const RatingRecord& x : m.ratings) {
      auto key = b.CreateVector(reinterpret_cast<const uint8_t*>(x.key.data()), x.key.size());
      ratings.push_back(fb::CreateRatingRecord(b, key, b.CreateString(x.rating.point_id),
                                               static_cast<uint8_t>(x.rating.rating), x.rating.time_ms,
                                               b.CreateString(x.rating.query_id), b.CreateString(x.rating.comment)));
    }
    auto rv = b.CreateVector(ratings);
    return fb::CreateShardReadResponse(b, m.rpc_id, st, m.leader_hint, m.stale_epoch, pv, hv, m.count, m.applied_index,
                                       m.more, iv, sv, rv, m.unchanged)
        .Union();
  }
  Offset<void> operator()(const PdHeartbeat& m) {
    std::vector<Offset<fb::ReplicaReport>> reps;
    for (const ReplicaReport& r : m.replicas) {
      auto voters = b.CreateVector(r.voters);
      auto learners = b.CreateVector(r.learners);
      reps.push_back(fb::CreateReplicaReport(b, r.group, r.applied_index, r.leader, r.term, voters, learners, r.conf_index,
                                             r.epoch, r.range_end, r.points, r.bytes));
    }
    auto addr = b.CreateString(m.addr);
    auto rv = b.CreateVector(reps);
    return fb::CreatePdHeartbeat(b, m.rpc_id, m.worker, addr, rv).Union();
  }
  Offset<void> operator()(const PdHeartbeatResponse& m) {
    auto st = EncStatus(b, m.status);
    std::vector<Offset<fb::Blob>> as;
    for (const GroupAssignment& a : m.assignments) as.push_back(fb::CreateBlob(b, Bytes(b, EncodeGroupAssignment(a))));
    auto av = b.CreateVector(as);
    std::vector<Offset<fb::LeaderTransfer>> ts;
    for (const LeaderTransfer& t : m.transfers) ts.push_back(fb::CreateLeaderTransfer(b, t.group, t.target));
    auto tv = b.CreateVector(ts);
    std::vector<Offset<fb::ConfChangeOrder>> cs;
    for (const ConfChangeOrder& c : m.conf_changes)
      cs.push_back(fb::CreateConfChangeOrder(b, c.group, static_cast<uint8_t>(c.type), c.node));
    auto cv = b.CreateVector(cs);
    std::vector<Offset<fb::ShardSplitOrder>> ss;
    for (const ShardSplitOrder& o : m.splits) {
      auto voters = b.CreateVector(o.split.voters);
      ss.push_back(fb::CreateShardSplitOrder(b, o.group, o.epoch, o.split.new_group, o.split.start, o.split.end,
                                             o.split.key, voters));
    }
    auto sv = b.CreateVector(ss);
    return fb::CreatePdHeartbeatResponse(b, m.rpc_id, st, m.pd_leader, m.registered, av, tv, cv, sv, m.again_ms).Union();
  }
  Offset<void> operator()(const PdMapRequest& m) { return fb::CreatePdMapRequest(b, m.rpc_id, m.known_version).Union(); }
  Offset<void> operator()(const PdMapResponse& m) {
    auto st = EncStatus(b, m.status);
    Offset<flatbuffers::Vector<uint8_t>> map = 0;
    if (m.map) map = Bytes(b, EncodeClusterMap(*m.map));
    return fb::CreatePdMapResponse(b, m.rpc_id, st, m.pd_leader, map).Union();
  }
  Offset<void> operator()(const PdAdminRequest& m) {
    auto name = b.CreateString(m.name);
    auto cfg = b.CreateString(m.config_json);
    auto to = b.CreateString(m.new_name);
    auto meta = b.CreateString(m.metadata);
    return fb::CreatePdAdminRequest(b, m.rpc_id, m.request.client, m.request.seq, m.request.acked_below,
                                    static_cast<uint8_t>(m.kind), name, cfg, m.replication, to, meta)
        .Union();
  }
  Offset<void> operator()(const PdAdminResponse& m) {
    auto st = EncStatus(b, m.status);
    return fb::CreatePdAdminResponse(b, m.rpc_id, st, m.pd_leader, m.map_version).Union();
  }
  Offset<void> operator()(const PdAuthRequest& m) {
    std::vector<Offset<fb::AuthChange>> cs;
    for (const AuthChange& c : m.changes)
      cs.push_back(fb::CreateAuthChange(b, b.CreateString(c.key), c.value.has_value(), Bytes(b, c.value.value_or(""))));
    auto cv = b.CreateVector(cs);
    return fb::CreatePdAuthRequest(b, m.rpc_id, static_cast<uint8_t>(m.kind), m.request.client, m.request.seq,
                                   m.request.acked_below, m.if_version, cv)
        .Union();
  }
  Offset<void> operator()(const PdAuthResponse& m) {
    auto st = EncStatus(b, m.status);
    std::vector<Offset<fb::AuthRecord>> rs;
    for (const auto& [k, v] : m.records) rs.push_back(fb::CreateAuthRecord(b, b.CreateString(k), Bytes(b, v)));
    auto rv = b.CreateVector(rs);
    return fb::CreatePdAuthResponse(b, m.rpc_id, st, m.pd_leader, m.version, rv).Union();
  }
};

// ---- Decoding helpers ----

std::string Str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }
std::string Str(const flatbuffers::Vector<uint8_t>* v) {
  return v ? std::string(reinterpret_cast<const char*>(v->data()), v->size()) : std::string();
}
template <typename T>
std::vector<T> Vec(const flatbuffers::Vector<T>* v) {
  return v ? std::vector<T>(v->begin(), v->end()) : std::vector<T>();
}
bool DecStatus(const fb::Status* s, Status* out) {
  if (!s || s->code() == 0) {
    *out = Status::OK();
    return true;
  }
  if (s->code() > static_cast<uint8_t>(StatusCode::kCancelled)) return false;
  *out = Status(static_cast<StatusCode>(s->code()), Str(s->message()));
  return true;
}
bool DecRaft(const fb::RaftMessage* m, raft::Message* out) {
  if (!m || m->type() > static_cast<uint8_t>(raft::MessageType::kReadIndexResp)) return false;
  out->type = static_cast<raft::MessageType>(m->type());
  out->from = m->from();
  out->to = m->to();
  out->term = m->term();
  out->log_term = m->log_term();
  out->index = m->index();
  out->commit = m->commit();
  out->reject = m->reject();
  out->reject_hint = m->reject_hint();
  if (m->entries()) {
    for (const fb::Entry* e : *m->entries()) {
      if (e->type() > static_cast<uint8_t>(raft::EntryType::kConfChange)) return false;
      out->entries.push_back(raft::Entry{e->term(), e->index(), static_cast<raft::EntryType>(e->type()), Str(e->data())});
    }
  }
  out->snapshot.metadata.index = m->snap_index();
  out->snapshot.metadata.term = m->snap_term();
  if (m->snap_conf()) {
    out->snapshot.metadata.conf_state.voters = Vec(m->snap_conf()->voters());
    out->snapshot.metadata.conf_state.learners = Vec(m->snap_conf()->learners());
  }
  out->snapshot.data = Str(m->snap_data());
  out->offset = m->offset();
  out->done = m->done();
  out->total = m->total();
  out->seq = m->seq();
  out->sent_tick = m->sent_tick();
  out->force = m->force();
  out->hibernate = m->hibernate();
  out->context = Str(m->context());
  return true;
}

Status Bad(const char* what) { return Status::Corruption(std::string("cluster message: ") + what); }

Status DecodeBody(const fb::Envelope* e, Envelope* out) {
  switch (e->body_type()) {
    case fb::Body::RaftBatch: {
      RaftBatch m;
      m.incarnation = e->body_as_RaftBatch()->incarnation();
      if (auto* v = e->body_as_RaftBatch()->messages()) {
        for (const fb::GroupMessage* g : *v) {
          GroupMessage gm;
          gm.group = g->group();
          if (!DecRaft(g->msg(), &gm.msg)) return Bad("bad Raft message");
          m.messages.push_back(std::move(gm));
        }
      }
      *out = std::move(m);
      return Status::OK();
    }
    case fb::Body::SnapshotFetchRequest: {
      auto* s = e->body_as_SnapshotFetchRequest();
      *out = SnapshotFetchRequest{s->group(), s->fetch_id(), s->min_index(), s->offset(), s->max_bytes()};
      return Status::OK();
    }
    case fb::Body::SnapshotFetchResponse: {
      auto* s = e->body_as_SnapshotFetchResponse();
      SnapshotFetchResponse m;
      m.group = s->group();
      m.fetch_id = s->fetch_id();
      if (!DecStatus(s->status(), &m.status)) return Bad("bad status");
      m.index = s->index();
      m.total = s->total();
      m.offset = s->offset();
      m.data = Str(s->data());
      m.done = s->done();
      m.term = s->term();
      if (s->conf()) {
        m.conf.voters = Vec(s->conf()->voters());
        m.conf.learners = Vec(s->conf()->learners());
      }
      *out = std::move(m);
      return Status::OK();
    }
    case fb::Body::ShardWriteRequest: {
      auto* s = e->body_as_ShardWriteRequest();
      ShardWriteRequest m;
      m.rpc_id = s->rpc_id();
      m.group = s->group();
      m.epoch = s->epoch();
      VECTRON_RETURN_IF_ERROR(DecodeShardCommand(Str(s->command()), &m.command));
      *out = std::move(m);
      return Status::OK();
    }
    case fb::Body::ShardWriteResponse: {
      auto* s = e->body_as_ShardWriteResponse();
      ShardWriteResponse m;
      m.rpc_id = s->rpc_id();
      if (!DecStatus(s->status(), &m.status)) return Bad("bad status");
      m.leader_hint = s->leader_hint();
      m.stale_epoch = s->stale_epoch();
      m.deleted = s->deleted();
      m.duplicate = s->duplicate();
      if (const fb::Route* r = s->applied_by()) m.applied_by = ShardRoute{r->start(), r->end(), r->epoch()};
      *out = std::move(m);
      return Status::OK();
    }
    case fb::Body::ShardReadRequest: {
      auto* s = e->body_as_ShardReadRequest();
      ShardReadRequest m;
      if (s->kind() > static_cast<uint8_t>(ShardReadRequest::Kind::kRatings)) return Bad("bad read kind");
      if (s->filter_strategy() > static_cast<uint8_t>(FilterStrategy::kPostFilter)) return Bad("bad filter strategy");
      m.rpc_id = s->rpc_id();
      m.group = s->group();
      m.epoch = s->epoch();
      m.kind = static_cast<ShardReadRequest::Kind>(s->kind());
      m.read.max_staleness_ms = s->max_staleness_ms();
      if (s->ids())
        for (const flatbuffers::String* id : *s->ids()) m.ids.push_back(id->str());
      m.get.include_vector = s->include_vector();
      m.get.include_metadata = s->include_metadata();
      m.query = Vec(s->query());
      m.search.k = s->k();
      m.search.ef = s->ef();
      m.search.exact = s->exact();
      m.search.include_vector = s->s_include_vector();
      m.search.include_metadata = s->s_include_metadata();
      m.search.where = Str(s->where());
      m.search.filter_strategy = static_cast<FilterStrategy>(s->filter_strategy());
      m.where = Str(s->count_where());
      m.after = Str(s->after());
      m.limit = s->limit();
      m.unchanged_if_applied = s->unchanged_if_applied();
      m.lone = s->lone();
      *out = std::move(m);
      return Status::OK();
    }
    case fb::Body::ShardReadResponse: {
      auto* s = e->body_as_ShardReadResponse();
      ShardReadResponse m;
      m.rpc_id = s->rpc_id();
      if (!DecStatus(s->status(), &m.status)) return Bad("bad status");
      m.leader_hint = s->leader_hint();
      m.stale_epoch = s->stale_epoch();
      if (s->points()) {
        for (const fb::Point* p : *s->points()) {
          if (!p->present()) {
            m.points.push_back(std::nullopt);
            continue;
          }
          m.points.push_back(Point{Str(p->id()), Vec(p->vector()), Str(p->metadata())});
        }
      }
      if (s->hits())
        for (const fb::Hit* h : *s->hits()) m.hits.push_back(Hit{Str(h->id()), h->score(), Vec(h->vector()), Str(h->metadata())});
      m.count = s->count();
      m.applied_index = s->applied_index();
      m.more = s->more();
      m.unchanged = s->unchanged();
      if (s->indexes()) {
        for (const fb::PayloadIndex* x : *s->indexes()) {
          if (x->type() < static_cast<uint8_t>(PayloadType::kKeyword) || x->type() > static_cast<uint8_t>(PayloadType::kBool)) return Bad("bad payload index type");
          m.indexes.push_back(PayloadIndexInfo{Str(x->field()), static_cast<PayloadType>(x->type())});
        }
      }
      if (s->rating_stats()) {
        for (const fb::RatingSummary* x : *s->rating_stats()) {
          if (!x->histogram() || x->histogram()->size() != 5) return Bad("bad rating summary");
          std::array<uint64_t, 5> h{};
          for (size_t i = 0; i < 5; ++i) h[i] = x->histogram()->Get(static_cast<flatbuffers::uoffset_t>(i));
          m.rating_stats.push_back(SummarizeRatings(h));
        }
      }
      if (s->ratings()) {
        for (const fb::RatingRecord* x : *s->ratings()) {
          if (x->time_ms() < 0) return Bad("bad rating time");
          RatingRecord rec;
          rec.key = Str(x->key());
          rec.rating.point_id = Str(x->point_id());
          rec.rating.rating = x->rating();
          rec.rating.time_ms = x->time_ms();
          rec.rating.query_id = Str(x->query_id());
          rec.rating.comment = Str(x->comment());
          m.ratings.push_back(std::move(rec));
        }
      }
      *out = std::move(m);
      return Status::OK();
    }
    case fb::Body::PdHeartbeat: {
      auto* s = e->body_as_PdHeartbeat();
      PdHeartbeat m;
      m.rpc_id = s->rpc_id();
      m.worker = s->worker();
      m.addr = Str(s->addr());
      if (s->replicas())
        for (const fb::ReplicaReport* r : *s->replicas()) {
          ReplicaReport rep{r->group(), r->applied_index(), r->leader(), r->term(), {}, {}, r->conf_index(),
                            r->epoch(), r->range_end(), r->points(), r->bytes()};
          if (r->voters()) rep.voters.assign(r->voters()->begin(), r->voters()->end());
          if (r->learners()) rep.learners.assign(r->learners()->begin(), r->learners()->end());
          m.replicas.push_back(std::move(rep));
        }
      *out = std::move(m);
      return Status::OK();
    }
    case fb::Body::PdHeartbeatResponse: {
      auto* s = e->body_as_PdHeartbeatResponse();
      PdHeartbeatResponse m;
      m.rpc_id = s->rpc_id();
      if (!DecStatus(s->status(), &m.status)) return Bad("bad status");
      m.pd_leader = s->pd_leader();
      m.registered = s->registered();
      m.again_ms = s->again_ms();
      if (s->assignments()) {
        for (const fb::Blob* a : *s->assignments()) {
          GroupAssignment ga;
          VECTRON_RETURN_IF_ERROR(DecodeGroupAssignment(Str(a->data()), &ga));
          m.assignments.push_back(std::move(ga));
        }
      }
      if (s->transfers())
        for (const fb::LeaderTransfer* t : *s->transfers()) m.transfers.push_back(LeaderTransfer{t->group(), t->target()});
      if (s->conf_changes()) {
        for (const fb::ConfChangeOrder* c : *s->conf_changes()) {
          if (c->type() > static_cast<uint8_t>(raft::ConfChangeType::kAddLearner)) return Bad("bad conf change type");
          m.conf_changes.push_back(ConfChangeOrder{c->group(), static_cast<raft::ConfChangeType>(c->type()), c->node()});
        }
      }
      if (s->splits()) {
        for (const fb::ShardSplitOrder* o : *s->splits()) {
          ShardSplitOrder so;
          so.group = o->group();
          so.epoch = o->epoch();
          so.split.new_group = o->new_group();
          so.split.start = o->start();
          so.split.end = o->end();
          so.split.key = o->key();
          if (o->voters()) so.split.voters.assign(o->voters()->begin(), o->voters()->end());
          m.splits.push_back(std::move(so));
        }
      }
      *out = std::move(m);
      return Status::OK();
    }
    case fb::Body::PdMapRequest: {
      auto* s = e->body_as_PdMapRequest();
      *out = PdMapRequest{s->rpc_id(), s->known_version()};
      return Status::OK();
    }
    case fb::Body::PdMapResponse: {
      auto* s = e->body_as_PdMapResponse();
      PdMapResponse m;
      m.rpc_id = s->rpc_id();
      if (!DecStatus(s->status(), &m.status)) return Bad("bad status");
      m.pd_leader = s->pd_leader();
      if (s->map()) {
        ClusterMap map;
        VECTRON_RETURN_IF_ERROR(DecodeClusterMap(Str(s->map()), &map));
        m.map = std::move(map);
      }
      *out = std::move(m);
      return Status::OK();
    }
    case fb::Body::PdAdminRequest: {
      auto* s = e->body_as_PdAdminRequest();
      PdAdminRequest m;
      if (s->kind() > static_cast<uint8_t>(PdAdminRequest::Kind::kSetDefaultRerank)) return Bad("bad admin kind");
      m.rpc_id = s->rpc_id();
      m.request = RequestId{s->client(), s->seq(), s->acked_below()};
      m.kind = static_cast<PdAdminRequest::Kind>(s->kind());
      m.name = Str(s->name());
      m.config_json = Str(s->config_json());
      m.new_name = Str(s->new_name());
      m.metadata = Str(s->metadata());
      m.replication = s->replication();
      *out = std::move(m);
      return Status::OK();
    }
    case fb::Body::PdAdminResponse: {
      auto* s = e->body_as_PdAdminResponse();
      PdAdminResponse m;
      m.rpc_id = s->rpc_id();
      if (!DecStatus(s->status(), &m.status)) return Bad("bad status");
      m.pd_leader = s->pd_leader();
      m.map_version = s->map_version();
      *out = std::move(m);
      return Status::OK();
    }
    case fb::Body::PdAuthRequest: {
      auto* s = e->body_as_PdAuthRequest();
      PdAuthRequest m;
      if (s->kind() > static_cast<uint8_t>(PdAuthRequest::Kind::kCommit)) return Bad("bad auth kind");
      m.rpc_id = s->rpc_id();
      m.kind = static_cast<PdAuthRequest::Kind>(s->kind());
      m.request = RequestId{s->client(), s->seq(), s->acked_below()};
      m.if_version = s->if_version();
      if (s->changes()) {
        for (const fb::AuthChange* c : *s->changes()) {
          AuthChange ac{Str(c->key()), std::nullopt};
          if (c->has_value()) ac.value = Str(c->value());
          m.changes.push_back(std::move(ac));
        }
      }
      *out = std::move(m);
      return Status::OK();
    }
    case fb::Body::PdAuthResponse: {
      auto* s = e->body_as_PdAuthResponse();
      PdAuthResponse m;
      m.rpc_id = s->rpc_id();
      if (!DecStatus(s->status(), &m.status)) return Bad("bad status");
      m.pd_leader = s->pd_leader();
      m.version = s->version();
      if (s->records())
        for (const fb::AuthRecord* r : *s->records()) m.records.emplace_back(Str(r->key()), Str(r->value()));
      *out = std::move(m);
      return Status::OK();
    }
    case fb::Body::NONE:
      break;
  }
  return Bad("unknown body");
}

}  // namespace

std::string EncodeEnvelope(const NodeId& from, const Envelope& msg) {
  FlatBufferBuilder b(256);
  Offset<void> body = std::visit(Encoder{b}, msg);
  auto type = static_cast<fb::Body>(msg.index() + 1);
  b.Finish(fb::CreateEnvelope(b, static_cast<uint8_t>(from.kind), from.id, type, body));
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

Status DecodeEnvelope(std::string_view data, NodeId* from, Envelope* out) {
  if (data.size() > kMaxWireBytes) return Bad("frame too large");
  // Depth 16 and 1M tables bound the verifier's work on a hostile frame.
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(data.data()), data.size(), 16, 1'000'000);
  if (!v.VerifyBuffer<fb::Envelope>(nullptr)) return Bad("not a valid Envelope flatbuffer");
  const fb::Envelope* e = flatbuffers::GetRoot<fb::Envelope>(data.data());
  if (e->from_kind() < 1 || e->from_kind() > 3) return Bad("bad sender kind");
  *from = NodeId{static_cast<NodeKind>(e->from_kind()), e->from_id()};
  return DecodeBody(e, out);
}

}  // namespace vectron::net::cluster
