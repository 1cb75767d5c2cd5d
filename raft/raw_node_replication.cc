// RawNode's log replication: a follower's handling of appends, heartbeats and snapshot
// chunks; a leader's appends, commit rule, heartbeats and snapshot sending, and its
// handling of their responses.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "raft/raw_node.h"

namespace vectron::raft {

// ---------------------------------------------------------------------------------------------
// Follower

void RawNode::HandleAppend(const Message& m) {
  Message r;
  r.type = MessageType::kAppendResp;
  r.to = m.from;
  if (unstable_snapshot_) {
    // A received snapshot awaits persisting; ack what it covers.
    r.index = unstable_snapshot_->metadata.index;
    Send(std::move(r));
    return;
  }
  if (m.index < committed_) {
    r.index = committed_;
    Send(std::move(r));
    return;
  }
  if (MatchTerm(m.index, m.log_term)) {
    uint64_t last_new = m.index + m.entries.size();
    // Find the first entry that is new or conflicts; keep matching ones (idempotent retries).
    size_t k = 0;
    for (; k < m.entries.size(); ++k) {
      const Entry& e = m.entries[k];
      if (!MatchTerm(e.index, e.term)) break;
    }
    if (k < m.entries.size()) {
      std::vector<Entry> ents(m.entries.begin() + static_cast<long>(k), m.entries.end());
      AppendToLog(std::move(ents));
    }
    CommitTo(std::min(m.commit, last_new));
    r.index = last_new;
    Send(std::move(r));
    return;
  }
  // Reject with a hint: the largest index <= m.index whose term is <= m.log_term, so the
  // leader can skip a whole divergent term per round trip.
  uint64_t hint = std::min(m.index, last_index());
  hint = FindConflictByTerm(hint, m.log_term);
  r.index = m.index;
  r.reject = true;
  r.reject_hint = hint;
  r.log_term = TermAt(hint);
  Send(std::move(r));
}

void RawNode::HandleHeartbeat(const Message& m) {
  if (!unstable_snapshot_) CommitTo(std::min(m.commit, last_index()));
  Message r;
  r.type = MessageType::kHeartbeatResp;
  r.to = m.from;
  r.seq = m.seq;
  r.sent_tick = m.sent_tick;
  // Hibernate only when caught up with the leader's quiet log (its commit is its last
  // index), and not on a request older than a heartbeat already seen (the leader woke since).
  if (m.hibernate && m.seq >= leader_hb_seq_ && !unstable_snapshot_ && incoming_snapshot_total_ == 0 &&
      committed_ == m.commit && committed_ == last_index()) {
    hibernating_ = true;
    r.hibernate = true;
  }
  leader_hb_seq_ = std::max(leader_hb_seq_, m.seq);
  Send(std::move(r));
}

void RawNode::HandleSnapshotChunk(const Message& m) {
  const SnapshotMetadata& md = m.snapshot.metadata;
  Message r;
  r.type = MessageType::kSnapshotResp;
  r.to = m.from;
  r.index = md.index;
  bool same = incoming_snapshot_.metadata == md && incoming_snapshot_total_ == m.total;
  if (m.offset == 0) {
    incoming_snapshot_ = Snapshot{md, {}};
    incoming_snapshot_total_ = m.total;
    same = true;
  }
  if (!same || m.offset != incoming_snapshot_.data.size()) {
    // Out of order or a chunk of another snapshot: ask for a resend from what we hold.
    r.offset = same ? incoming_snapshot_.data.size() : 0;
    r.reject = true;
    Send(std::move(r));
    return;
  }
  incoming_snapshot_.data += m.snapshot.data;
  if (!m.done) {
    r.offset = incoming_snapshot_.data.size();
    Send(std::move(r));
    return;
  }
  Snapshot snap = std::move(incoming_snapshot_);
  incoming_snapshot_ = Snapshot{};
  incoming_snapshot_total_ = 0;
  Message a;
  a.type = MessageType::kAppendResp;
  a.to = m.from;
  if (snap.data.size() != m.total) {
    r.offset = 0;
    r.reject = true;
    Send(std::move(r));
    return;
  }
  if (Restore(snap)) {
    Log("restored snapshot " + std::to_string(snap.metadata.index));
    a.index = last_index();
  } else {
    a.index = committed_;
  }
  Send(std::move(a));
}

bool RawNode::Restore(const Snapshot& snap) {
  const SnapshotMetadata& md = snap.metadata;
  if (md.index <= committed_) return false;
  if (unstable_snapshot_) return false;
  if (MatchTerm(md.index, md.term)) {
    // Our log already has it: fast-forward the commit index instead.
    CommitTo(md.index);
    return false;
  }
  unstable_.clear();
  unstable_offset_ = md.index + 1;
  unstable_snapshot_ = snap;
  committed_ = md.index;
  base_conf_ = md.conf_state;
  base_conf_index_ = md.index;
  conf_history_.clear();
  RecomputeConf();
  return true;
}

// ---------------------------------------------------------------------------------------------
// Leader

void RawNode::AppendLocal(std::vector<Entry> ents) {
  uint64_t li = last_index();
  for (size_t i = 0; i < ents.size(); ++i) {
    ents[i].term = term_;
    ents[i].index = li + 1 + i;
  }
  AppendToLog(std::move(ents));
  prs_[id_].match = last_index();
  prs_[id_].next = last_index() + 1;
  needs_broadcast_ = true;
  MaybeCommit();
}

uint64_t RawNode::QuorumValue(const std::function<uint64_t(uint64_t, const Progress&)>& value) const {
  std::vector<uint64_t> vals;
  for (uint64_t v : conf_.voters) {
    auto it = prs_.find(v);
    if (it == prs_.end()) {
      vals.push_back(0);
    } else {
      vals.push_back(value(v, it->second));
    }
  }
  if (vals.empty()) return 0;
  std::sort(vals.begin(), vals.end(), std::greater<uint64_t>());
  return vals[vals.size() / 2];
}

bool RawNode::MaybeCommit() {
  if (role_ != Role::kLeader) return false;
  uint64_t q = QuorumValue([](uint64_t, const Progress& pr) { return pr.match; });
  // Only entries of the current term are committed by counting replicas (Raft §5.4.2).
  if (q > committed_ && TermAt(q) == term_) {
    bool first_in_term = !CommittedInTerm();
    CommitTo(q);
    needs_broadcast_ = true;
    if (first_in_term) {
      auto waiting = std::move(reads_waiting_commit_);
      reads_waiting_commit_.clear();
      for (auto& [from, ctx] : waiting) ProcessReadRequest(from, std::move(ctx));
    }
    return true;
  }
  return false;
}

void RawNode::BroadcastAppend() {
  // A new commit index goes out even without new entries, so followers apply promptly.
  bool send_if_empty = committed_ > last_broadcast_commit_;
  last_broadcast_commit_ = committed_;
  for (auto& [pid, pr] : prs_) {
    if (pid == id_) continue;
    // Keep sending while the window allows and there is more to send (pipelining).
    bool more = SendAppend(pid, send_if_empty);
    for (int guard = 0; guard < 1024 && more; ++guard) more = SendAppend(pid, false);
  }
}

bool RawNode::SendAppend(uint64_t to, bool send_if_empty) {
  Progress& pr = prs_[to];
  bool paused = false;
  switch (pr.state) {
    case Progress::State::kProbe: paused = pr.probe_sent; break;
    case Progress::State::kReplicate: paused = pr.inflights.size() >= cfg_.max_inflight_msgs; break;
    case Progress::State::kSnapshot: paused = true; break;
  }
  if (paused) return false;
  uint64_t prev = pr.next - 1;
  auto [ok, prev_term] = TermOrErr(prev);
  std::vector<Entry> ents;
  Status s = ok ? Slice(pr.next, last_index() + 1, cfg_.max_bytes_per_msg, cfg_.max_entries_per_msg, &ents)
                : Status(Error::kCompacted, "prev compacted");
  if (!s.ok()) {
    // The follower needs entries we compacted: stream the latest snapshot.
    auto snap = std::make_shared<Snapshot>();
    Status gs = storage_->GetSnapshot(snap.get());
    if (!gs.ok() || snap->empty()) {
      Log("cannot send snapshot to " + std::to_string(to) + ": " + gs.ToString());
      return false;
    }
    pr.state = Progress::State::kSnapshot;
    pr.snapshot = std::move(snap);
    pr.snapshot_acked = 0;
    pr.snapshot_chunk_sent = false;
    pr.inflights.clear();
    Log("sending snapshot " + std::to_string(pr.snapshot->metadata.index) + " to " + std::to_string(to));
    SendSnapshotChunk(to, pr);
    return false;
  }
  if (ents.empty() && !send_if_empty) return false;
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.index = prev;
  m.log_term = prev_term;
  m.commit = committed_;
  if (!ents.empty()) {
    uint64_t last = ents.back().index;
    if (pr.state == Progress::State::kReplicate) {
      pr.next = last + 1;
      pr.inflights.push_back(last);
    } else {
      pr.probe_sent = true;
    }
  } else if (pr.state == Progress::State::kProbe) {
    pr.probe_sent = true;
  }
  m.entries = std::move(ents);
  Send(std::move(m));
  return pr.state == Progress::State::kReplicate && pr.next <= last_index();
}

void RawNode::SendSnapshotChunk(uint64_t to, Progress& pr) {
  if (pr.snapshot_chunk_sent || !pr.snapshot) return;
  const Snapshot& snap = *pr.snapshot;
  uint64_t total = snap.data.size();
  uint64_t off = std::min(pr.snapshot_acked, total);
  uint64_t len = std::min<uint64_t>(cfg_.snapshot_chunk_bytes, total - off);
  Message m;
  m.type = MessageType::kSnapshot;
  m.to = to;
  m.snapshot.metadata = snap.metadata;
  m.snapshot.data = snap.data.substr(off, len);
  m.offset = off;
  m.total = total;
  m.done = off + len == total;
  pr.snapshot_chunk_sent = true;
  Send(std::move(m));
}

void RawNode::BroadcastHeartbeat(bool hibernate) {
  ++read_seq_;
  for (auto& [pid, pr] : prs_) {
    if (pid == id_ || (hibernate && pr.hibernate_acked)) continue;
    Message m;
    m.type = MessageType::kHeartbeat;
    m.to = pid;
    m.commit = std::min(pr.match, committed_);
    m.index = committed_;  // Informational: lets a follower bound its staleness (follower reads).
    m.seq = read_seq_;
    m.sent_tick = ticks_;
    m.hibernate = hibernate;
    Send(std::move(m));
  }
}

void RawNode::HandleAppendResp(const Message& m, Progress& pr) {
  if (m.reject) {
    bool changed = false;
    if (pr.state == Progress::State::kReplicate) {
      if (m.index > pr.match) {
        pr.state = Progress::State::kProbe;
        pr.next = pr.match + 1;
        pr.inflights.clear();
        changed = true;
      }
    } else if (pr.state == Progress::State::kProbe && pr.next - 1 == m.index) {
      uint64_t next_probe = m.reject_hint;
      if (m.log_term > 0) next_probe = FindConflictByTerm(m.reject_hint, m.log_term);
      pr.next = std::max(std::min(m.index, next_probe + 1), pr.match + 1);
      pr.probe_sent = false;
      changed = true;
    }
    if (changed) SendAppend(m.from, true);
    return;
  }
  bool updated = false;
  if (m.index > pr.match) {
    pr.match = m.index;
    updated = true;
  }
  if (pr.next < m.index + 1) pr.next = m.index + 1;
  pr.probe_sent = false;
  while (!pr.inflights.empty() && pr.inflights.front() <= m.index) pr.inflights.pop_front();
  switch (pr.state) {
    case Progress::State::kProbe:
      if (updated || pr.match + 1 == pr.next) {
        pr.state = Progress::State::kReplicate;
        pr.next = pr.match + 1;
        pr.inflights.clear();
      }
      break;
    case Progress::State::kSnapshot:
      if (pr.match + 1 >= FirstIndex() || (pr.snapshot && pr.match >= pr.snapshot->metadata.index)) {
        pr.state = Progress::State::kReplicate;
        pr.next = pr.match + 1;
        pr.snapshot.reset();
        pr.inflights.clear();
      }
      break;
    case Progress::State::kReplicate:
      break;
  }
  if (MaybeCommit()) {
    needs_broadcast_ = true;
  } else {
    for (int guard = 0; guard < 1024 && SendAppend(m.from, false); ++guard) {
    }
  }
  if (m.from == lead_transferee_ && pr.match == last_index()) {
    Message t;
    t.type = MessageType::kTimeoutNow;
    t.to = m.from;
    lease_revoked_ = true;
    Send(std::move(t));
  }
}

void RawNode::HandleHeartbeatResp(const Message& m, Progress& pr) {
  if (hibernating_ && m.hibernate && m.seq >= hibernate_seq_) pr.hibernate_acked = true;
  pr.hb_seq_acked = std::max(pr.hb_seq_acked, m.seq);
  pr.lease_tick_acked = std::max(pr.lease_tick_acked, m.sent_tick);
  // Retransmissions at most once per heartbeat interval. Heartbeats also go out for every
  // read round (hundreds a second under read load), and a follower busy installing a
  // snapshot answers every heartbeat it queued at once: resending on each answer sent the
  // same MiB of entries hundreds of times in one batch (a learner after its install got
  // 277 MB; its leader's loop spent 2 s encoding it and lost its leadership), and the
  // lost-append check below fired between two answers of one round.
  if (ticks_ < pr.retransmit_tick) {
    ReleaseReads();
    return;
  }
  pr.retransmit_tick = ticks_ + static_cast<uint64_t>(cfg_.heartbeat_ticks);
  pr.probe_sent = false;
  if (pr.state == Progress::State::kSnapshot) {
    pr.snapshot_chunk_sent = false;  // Resend the outstanding chunk: it may have been lost.
    SendSnapshotChunk(m.from, pr);
  } else if (pr.match < last_index() || pr.state == Progress::State::kProbe) {
    if (pr.state == Progress::State::kReplicate && pr.match == pr.match_at_heartbeat) {
      // The follower is alive but acknowledged nothing for a whole heartbeat round while
      // entries are outstanding: appends were lost. Retransmit from its match index.
      pr.inflights.clear();
      pr.state = Progress::State::kProbe;
      pr.next = pr.match + 1;
    }
    SendAppend(m.from, pr.state == Progress::State::kProbe);
  }
  pr.match_at_heartbeat = pr.match;
  ReleaseReads();
}

}  // namespace vectron::raft
