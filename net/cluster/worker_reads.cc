// WorkerNode's reads (docs/cluster.md, "Shard groups"): a read waits for its ReadIndex
// (or answers from a fresh enough follower), then runs on the executor (or, light and
// alone, on the loop thread: InlineRead), and is checked against the group's epoch before
// and after it ran.
#include <algorithm>

#include "net/cluster/codec.h"
#include "net/cluster/worker_node.h"

namespace vectron::net::cluster {

namespace {
constexpr uint64_t kReadQueueBit = uint64_t{1} << 63;  // Executor queues of reads (groups are below).

std::string ReadContext(uint64_t read_id) {
  ByteWriter w;
  w.U64(read_id);
  return w.Take();
}

// Runs read `req` on `shard` (at `applied`, the group at `epoch_before` when it was
// checked): on the executor, or on the loop thread for an inline read.
ShardReadResponse RunRead(Shard& shard, uint64_t applied, uint64_t epoch_before, const ShardReadRequest& req) {
  ShardReadResponse r;
  r.rpc_id = req.rpc_id;
  r.applied_index = applied;
  switch (req.kind) {
    case ShardReadRequest::Kind::kGet: {
      auto res = shard.Get(req.ids, req.get);
      if (res.ok()) r.points = std::move(res).value();
      else r.status = res.status();
      break;
    }
    case ShardReadRequest::Kind::kSearch: {
      auto res = shard.Search(req.query, req.search);
      if (res.ok()) r.hits = std::move(res).value();
      else r.status = res.status();
      break;
    }
    case ShardReadRequest::Kind::kCount: {
      auto res = shard.Count(req.where);
      if (res.ok()) r.count = *res;
      else r.status = res.status();
      break;
    }
    case ShardReadRequest::Kind::kScroll: {
      auto res = shard.Scroll(req.after, req.limit, req.get, req.where);
      if (!res.ok()) {
        r.status = res.status();
        break;
      }
      r.more = !res->next_cursor.empty();
      r.points.reserve(res->points.size());
      for (Point& p : res->points) r.points.emplace_back(std::move(p));
      break;
    }
    case ShardReadRequest::Kind::kIndexes: {
      auto res = shard.ListPayloadIndexes();
      if (res.ok()) r.indexes = std::move(res).value();
      else r.status = res.status();
      break;
    }
    case ShardReadRequest::Kind::kRatingStats: {
      auto res = shard.RatingStatsOf(req.ids);
      if (res.ok()) r.rating_stats = std::move(res).value();
      else r.status = res.status();
      break;
    }
    case ShardReadRequest::Kind::kRatings: {
      const size_t limit = std::min(req.limit, kMaxRatingsPerRead);
      // Stops the scan once the page is full (not an error of the read).
      const Status page_full = Status::Cancelled("ratings page full");
      Status s = shard.ScanRatingsAfter(req.after, [&](const Rating& rt, std::string_view key) -> Status {
        if (r.ratings.size() >= limit) return page_full;
        r.ratings.push_back(RatingRecord{std::string(key), rt});
        return Status::OK();
      });
      if (!s.ok() && r.ratings.size() < limit) {
        r.status = s;
        r.ratings.clear();
      }
      break;
    }
  }
  // A split applied while this read ran may have taken part of what it read: checked
  // after the read (the group's new route is set before its points go).
  Result<ShardRoute> route = shard.Route();
  const uint64_t now_epoch = route.ok() && route->epoch != 0 ? route->epoch : epoch_before;
  if (now_epoch != req.epoch) {
    r = ShardReadResponse{};
    r.rpc_id = req.rpc_id;
    r.stale_epoch = true;
    r.status = Status::FailedPrecondition("group " + std::to_string(req.group) + " was split during the read");
  }
  return r;
}

}  // namespace

uint64_t ReadServeLimit(const GroupRole& now, uint64_t applied, uint64_t readable, uint64_t read_leader_term) {
  if (readable <= applied || now.role != raft::Role::kLeader || read_leader_term == 0 || read_leader_term != now.term)
    return applied;
  return readable;
}

void WorkerNode::RefuseRead(const NodeId& to, uint64_t rpc_id, Status s, uint64_t leader_hint, bool stale_epoch) {
  ShardReadResponse r;
  r.rpc_id = rpc_id;
  r.status = std::move(s);
  r.leader_hint = leader_hint;
  r.stale_epoch = stale_epoch;
  transport_.Send(to, std::move(r));
}

void WorkerNode::OnRead(const NodeId& from, ShardReadRequest req) {
  if (!Routable(req.group, req.epoch)) {
    return RefuseRead(from, req.rpc_id,
                      Status::FailedPrecondition("group " + std::to_string(req.group) + " epoch " +
                                                 std::to_string(req.epoch) + " is not hosted here"),
                      0, /*stale_epoch=*/true);
  }
  if (from != read_sender_) {
    read_sender_ = from;
    read_sender_since_ms_ = clock_.NowMs();
  }
  uint64_t group = req.group;
  PendingRead pr{from, std::move(req), clock_.NowMs() + opt_.request_timeout_ms};
  uint64_t read_id = next_read_id_++;
  if (pr.req.read.max_staleness_ms > 0 && host_->FreshWithin(group, pr.req.read.max_staleness_ms)) {
    return Execute(read_id, std::move(pr));
  }
  Status s = host_->ReadIndex(group, ReadContext(read_id));
  if (!s.ok()) return RefuseRead(from, pr.req.rpc_id, s, host_->group_role(group).lead);
  reads_.emplace(read_id, std::move(pr));
}

std::map<uint64_t, WorkerNode::PendingRead>::iterator WorkerNode::PendingReadOf(std::string_view context) {
  ByteReader r(context);
  uint64_t read_id = r.U64();
  return r.done() ? reads_.find(read_id) : reads_.end();
}

void WorkerNode::OnReadState(uint64_t group, const raft::ReadState& rs) {
  auto it = PendingReadOf(rs.context);
  if (it == reads_.end()) return;
  it->second.have_index = true;
  it->second.index = rs.index;
  // A read state reaches a leader only from its own read rounds (a forwarded read's answer
  // from an earlier leader carries an older term and is dropped by Raft).
  if (const GroupRole st = host_->group_role(group); st.role == raft::Role::kLeader)
    it->second.leader_term = st.term;
  ServeReads(group);
}

void WorkerNode::OnReadRefused(uint64_t group, const std::string& context, const Status& s) {
  // Held for the next loop (the group was busy, or a tick was due) and refused there: no
  // leader known. The gateway retries it at another replica at once, not after its timeout.
  auto it = PendingReadOf(context);
  if (it == reads_.end()) return;
  RefuseRead(it->second.from, it->second.req.rpc_id, s, host_->group_role(group).lead);
  reads_.erase(it);
}

void WorkerNode::ServeReads(uint64_t group) {
  auto g = groups_.find(group);
  if (g == groups_.end()) return;
  // While a split applies, reads may be served up to readable_index(), past the applied
  // index, but only those this worker confirmed as the group's leader in its current term.
  // Those are linearizable: a write the new group acknowledged needs PD to have recorded
  // the split, which needs a worker that led this group to report it applied. Not this
  // one in this term (it is still applying). One of a later term: then this leader could
  // not have confirmed the read (its quorum moved on, its lease ran out). One of an earlier
  // term: then this leader's term is later than the split entry's, and its read rounds
  // wait for its first entry, which ends the run (ShardStateMachine::NoOpRunEnd keeps to
  // the split's term). A follower still copying while its leader has finished and PD has
  // recorded the split would answer from before the split and miss that write.
  const uint64_t applied = g->second.sm->applied_index();
  uint64_t readable = g->second.sm->readable_index();
  const GroupRole now = readable > applied ? host_->group_role(group) : GroupRole{};
  if (now.role == raft::Role::kLeader) {
    // Writes keep committing during the copies (routed with the epoch the split ends, so
    // they will change nothing): the run the reads may be served at extends over them.
    uint64_t want = 0;
    for (const auto& [id, pr] : reads_)
      if (pr.req.group == group && pr.have_index && ReadServeLimit(now, applied, readable, pr.leader_term) > applied)
        want = std::max(want, pr.index);
    if (want > readable)
      readable = g->second.sm->ExtendReadable(host_->CommittedEntries(group, readable + 1, want + 1, 4 << 20));
  }
  for (auto it = reads_.begin(); it != reads_.end();) {
    const uint64_t limit = ReadServeLimit(now, applied, readable, it->second.leader_term);
    if (it->second.req.group == group && it->second.have_index && it->second.index <= limit) {
      if (it->second.index > applied) ++reads_served_early_;
      uint64_t id = it->first;
      PendingRead pr = std::move(it->second);
      it = reads_.erase(it);
      Execute(id, std::move(pr));
    } else {
      ++it;
    }
  }
}

void WorkerNode::Execute(uint64_t read_id, PendingRead pr) {
  auto g = groups_.find(pr.req.group);
  if (g == groups_.end()) return;
  std::shared_ptr<Shard> shard_ref = g->second.sm->shard();
  uint64_t applied = g->second.sm->applied_index();
  if (pr.req.kind == ShardReadRequest::Kind::kSearch && pr.req.unchanged_if_applied != 0 &&
      pr.req.unchanged_if_applied == applied) {
    // The gateway holds an answer computed at this index: nothing was applied since
    // (every log entry moves the index), so it is still the answer.
    ShardReadResponse r;
    r.rpc_id = pr.req.rpc_id;
    r.applied_index = applied;
    r.unchanged = true;
    return transport_.Send(pr.from, std::move(r));
  }
  const uint64_t epoch_before = g->second.sm->epoch();
  if (epoch_before != pr.req.epoch) {
    return RefuseRead(pr.from, pr.req.rpc_id,
                      Status::FailedPrecondition("group " + std::to_string(pr.req.group) + " is at epoch " +
                                                 std::to_string(epoch_before) + ", not " +
                                                 std::to_string(pr.req.epoch)),
                      0, /*stale_epoch=*/true);
  }
  if (InlineRead(pr.from, pr.req)) {
    ++reads_inlined_;
    return transport_.Send(pr.from, RunRead(*shard_ref, applied, epoch_before, pr.req));
  }
  ++reads_in_executor_;
  executor_.Post(kReadQueueBit | read_id, [this, shard_ref, applied, epoch_before, pr = std::move(pr)]() mutable {
    ShardReadResponse r = RunRead(*shard_ref, applied, epoch_before, pr.req);
    loop_.Post([this, from = pr.from, r = std::move(r)]() mutable {
      --reads_in_executor_;
      transport_.Send(from, std::move(r));
    });
  });
}

bool WorkerNode::InlineRead(const NodeId& from, const ShardReadRequest& req) const {
  constexpr size_t kInlineGetIds = 64;
  if (!opt_.inline_reads || !req.lone || reads_in_executor_ > 0) return false;
  // Each gateway's lone reads may overlap another's: only the one gateway that has been
  // sending reads alone for a while gets the loop.
  if (from != read_sender_ || clock_.NowMs() < read_sender_since_ms_ + kInlineSoleSenderMs) return false;
  return (req.kind == ShardReadRequest::Kind::kSearch && !req.search.exact) ||
         (req.kind == ShardReadRequest::Kind::kGet && req.ids.size() <= kInlineGetIds);
}

}  // namespace vectron::net::cluster
