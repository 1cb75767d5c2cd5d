#include "raft/raw_node.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace vectron::raft {

namespace {

// Broken invariants abort with a message (on in release builds, like VECTRON_CHECK).
#define RAFT_CHECK(cond, what)                                                       \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "raft: invariant failed at %s:%d: %s\n", __FILE__, __LINE__, \
                   std::string(what).c_str());                                       \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

uint64_t EntryBytes(const Entry& e) { return e.data.size() + 16; }

}  // namespace

Status Config::Validate() const {
  if (id == kNone) return Status(Error::kInvalidArgument, "Config.id must be nonzero");
  if (heartbeat_ticks <= 0) return Status(Error::kInvalidArgument, "Config.heartbeat_ticks must be > 0");
  if (election_ticks <= heartbeat_ticks)
    return Status(Error::kInvalidArgument, "Config.election_ticks must be > heartbeat_ticks");
  if (max_inflight_msgs == 0) return Status(Error::kInvalidArgument, "Config.max_inflight_msgs must be > 0");
  if (snapshot_chunk_bytes == 0) return Status(Error::kInvalidArgument, "Config.snapshot_chunk_bytes must be > 0");
  if (lease_ticks < 0 || lease_ticks >= election_ticks)
    return Status(Error::kInvalidArgument, "Config.lease_ticks must be in [0, election_ticks)");
  if (read_only == ReadOnlyOption::kLeaseBased && !check_quorum)
    return Status(Error::kInvalidArgument, "lease-based reads require check_quorum");
  return Status::Ok();
}

RawNode::RawNode(const Config& c, Storage* storage)
    : cfg_(c), storage_(storage), id_(c.id), rng_state_(c.seed * 0x9E3779B97F4A7C15ull + c.id) {
  if (cfg_.lease_ticks == 0) cfg_.lease_ticks = cfg_.election_ticks / 2;
}

Status RawNode::Create(const Config& config, Storage* storage, std::unique_ptr<RawNode>* out) {
  Status s = config.Validate();
  if (!s.ok()) return s;
  if (storage == nullptr) return Status(Error::kInvalidArgument, "storage is null");
  std::unique_ptr<RawNode> n(new RawNode(config, storage));
  s = n->Init();
  if (!s.ok()) return s;
  *out = std::move(n);
  return Status::Ok();
}

Status RawNode::Init() {
  HardState hs;
  ConfState cs;
  Status s = storage_->InitialState(&hs, &cs);
  if (!s.ok()) return s;
  uint64_t first = storage_->FirstIndex();
  uint64_t last = storage_->LastIndex();
  unstable_offset_ = last + 1;
  base_conf_ = cs;
  base_conf_index_ = first - 1;
  if (last >= first) {
    std::vector<Entry> ents;
    s = storage_->Entries(first, last + 1, UINT64_MAX, &ents);
    if (!s.ok()) return s;
    ApplyConfEntries(ents);
  }
  RecomputeConf();
  if (hs.commit > last) {
    return Status(Error::kCorruption, "hard state commit " + std::to_string(hs.commit) +
                                          " beyond last index " + std::to_string(last));
  }
  term_ = hs.term;
  vote_ = hs.vote;
  rejoined_empty_ = storage_->RejoinedEmpty();
  if (rejoined_empty_) dropped_end_ = storage_->DroppedLogEnd();
  committed_ = std::max(hs.commit, first - 1);
  if (cfg_.applied + 1 < first) {
    // Entries applied+1 .. first-1 exist only in the storage's snapshot: starting here would
    // skip them. The state machine must first install Storage::GetSnapshot().
    return Status(Error::kInvalidArgument,
                  "Config.applied " + std::to_string(cfg_.applied) + " is below the log's snapshot at " +
                      std::to_string(first - 1) +
                      ": the entries in between were compacted; install the storage's snapshot in the "
                      "state machine and start from its index");
  }
  applied_ = cfg_.applied;
  if (applied_ > committed_)
    return Status(Error::kInvalidArgument, "Config.applied " + std::to_string(applied_) + " is beyond the commit index " +
                                               std::to_string(committed_));
  prev_hard_state_ = HardState{term_, vote_, committed_};
  BecomeFollower(term_, kNone);
  prev_soft_state_ = SoftState{lead_, role_};
  return Status::Ok();
}

void RawNode::Log(const std::string& line) const {
  if (cfg_.logger) cfg_.logger(std::to_string(id_) + ": " + line);
}

uint64_t RawNode::NextRandom() {
  // splitmix64: deterministic across platforms, seeded per node.
  uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// ---------------------------------------------------------------------------------------------
// Log

uint64_t RawNode::FirstIndex() const {
  if (unstable_snapshot_) return unstable_snapshot_->metadata.index + 1;
  return storage_->FirstIndex();
}

uint64_t RawNode::last_index() const {
  if (!unstable_.empty()) return unstable_.back().index;
  if (unstable_snapshot_) return unstable_snapshot_->metadata.index;
  return unstable_offset_ - 1;
}

std::pair<bool, uint64_t> RawNode::TermOrErr(uint64_t i) const {
  if (i == 0) return {true, 0};
  if (i >= unstable_offset_) {
    if (i > last_index()) return {false, 0};
    return {true, unstable_[i - unstable_offset_].term};
  }
  if (unstable_snapshot_) {
    if (i == unstable_snapshot_->metadata.index) return {true, unstable_snapshot_->metadata.term};
    return {false, 0};
  }
  uint64_t t = 0;
  Status s = storage_->Term(i, &t);
  if (!s.ok()) return {false, 0};
  return {true, t};
}

uint64_t RawNode::TermAt(uint64_t i) const { return TermOrErr(i).second; }

Status RawNode::Slice(uint64_t lo, uint64_t hi, uint64_t max_bytes, uint64_t max_count,
                      std::vector<Entry>* out) const {
  if (lo >= hi) return Status::Ok();
  if (lo < FirstIndex()) return Status(Error::kCompacted, "slice below first index");
  RAFT_CHECK(hi <= last_index() + 1, "slice beyond last index");
  uint64_t bytes = 0;
  auto take = [&](const Entry& e) {
    bytes += EntryBytes(e);
    if (!out->empty() && (bytes > max_bytes || (max_count != 0 && out->size() >= max_count))) return false;
    out->push_back(e);
    return true;
  };
  if (lo < unstable_offset_) {
    std::vector<Entry> stored;
    Status s = storage_->Entries(lo, std::min(hi, unstable_offset_), max_bytes, &stored);
    if (!s.ok()) return s;
    for (const Entry& e : stored)
      if (!take(e)) return Status::Ok();
    if (stored.empty() || stored.back().index + 1 < std::min(hi, unstable_offset_)) return Status::Ok();
  }
  for (uint64_t i = std::max(lo, unstable_offset_); i < hi; ++i)
    if (!take(unstable_[i - unstable_offset_])) break;
  return Status::Ok();
}

void RawNode::AppendToLog(std::vector<Entry> ents) {
  if (ents.empty()) return;
  uint64_t first = ents.front().index;
  RAFT_CHECK(first > committed_, "truncating committed entry " + std::to_string(first));
  RAFT_CHECK(first <= last_index() + 1, "append leaves a gap");
  if (first < last_index() + 1) {
    // Truncation: conf changes beyond the truncation point are undone.
    conf_history_.erase(conf_history_.lower_bound(first), conf_history_.end());
  }
  if (first >= unstable_offset_) {
    unstable_.resize(first - unstable_offset_);
  } else {
    // Replaces stable entries too: storage's Append overwrites them.
    unstable_.clear();
    unstable_offset_ = first;
  }
  ApplyConfEntries(ents);
  for (Entry& e : ents) unstable_.push_back(std::move(e));
  RecomputeConf();
}

void RawNode::CommitTo(uint64_t index) {
  if (index <= committed_) return;
  RAFT_CHECK(index <= last_index(), "commit beyond last index");
  committed_ = index;
  // Fold committed conf changes into the base (bounded history).
  while (!conf_history_.empty() && conf_history_.begin()->first <= committed_) {
    base_conf_ = conf_history_.begin()->second;
    base_conf_index_ = conf_history_.begin()->first;
    conf_history_.erase(conf_history_.begin());
  }
}

bool RawNode::IsUpToDate(uint64_t last_index_in, uint64_t last_term_in) const {
  uint64_t lt = LastTerm();
  return last_term_in > lt || (last_term_in == lt && last_index_in >= last_index());
}

uint64_t RawNode::FindConflictByTerm(uint64_t index, uint64_t term) const {
  // Largest i <= index whose term is <= term (or the first index we cannot read).
  for (; index > 0; --index) {
    auto [ok, t] = TermOrErr(index);
    if (!ok || t <= term) break;
  }
  return index;
}

// ---------------------------------------------------------------------------------------------
// Membership

void RawNode::ApplyConfEntries(const std::vector<Entry>& ents) {
  for (const Entry& e : ents) {
    if (e.type != EntryType::kConfChange) continue;
    ConfChange cc;
    if (!ConfChange::Decode(e.data, &cc)) {
      Log("ignoring malformed conf change at " + std::to_string(e.index));
      continue;
    }
    ConfState prev = conf_history_.empty() ? base_conf_ : conf_history_.rbegin()->second;
    conf_history_[e.index] = ApplyConfChangeTo(prev, cc);
  }
}

void RawNode::RecomputeConf() {
  const ConfState& cs = conf_history_.empty() ? base_conf_ : conf_history_.rbegin()->second;
  if (!(cs == conf_)) SetConf(cs);
}

void RawNode::SetConf(const ConfState& cs) {
  Log("config " + cs.ToString());
  conf_ = cs;
  if (role_ != Role::kLeader) return;
  // Leader: add progress for new members, drop removed ones.
  for (auto it = prs_.begin(); it != prs_.end();) {
    if (!conf_.Contains(it->first)) {
      it = prs_.erase(it);
    } else {
      it->second.learner = conf_.IsLearner(it->first);
      ++it;
    }
  }
  auto add = [&](uint64_t id, bool learner) {
    if (prs_.count(id)) return;
    Progress pr;
    pr.next = last_index() + 1;
    pr.learner = learner;
    pr.recent_active = true;
    prs_[id] = std::move(pr);
    needs_broadcast_ = true;
  };
  for (uint64_t v : conf_.voters) add(v, false);
  for (uint64_t l : conf_.learners) add(l, true);
  if (lead_transferee_ != kNone && !conf_.IsVoter(lead_transferee_)) lead_transferee_ = kNone;
  // A smaller quorum may commit or confirm reads now.
  MaybeCommit();
  ReleaseReads();
}

// ---------------------------------------------------------------------------------------------
// Roles

void RawNode::ResetRandomizedTimeout() {
  randomized_election_timeout_ =
      cfg_.election_ticks + static_cast<int>(NextRandom() % static_cast<uint64_t>(cfg_.election_ticks));
}

void RawNode::Reset(uint64_t term) {
  if (term_ != term) {
    term_ = term;
    vote_ = kNone;
    leader_hb_seq_ = 0;
  }
  hibernating_ = false;
  lease_floor_tick_ = 0;
  awake_since_tick_ = ticks_;
  lead_ = kNone;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  ResetRandomizedTimeout();
  votes_.clear();
  prs_.clear();
  lead_transferee_ = kNone;
  pending_reads_.clear();
  reads_waiting_commit_.clear();
  lease_revoked_ = false;
  needs_broadcast_ = false;
  needs_heartbeat_ = false;
}

void RawNode::BecomeFollower(uint64_t term, uint64_t lead) {
  Reset(term);
  role_ = Role::kFollower;
  lead_ = lead;
}

void RawNode::BecomePreCandidate() {
  // Pre-vote does not change term or vote.
  hibernating_ = false;
  votes_.clear();
  prs_.clear();
  lead_ = kNone;
  role_ = Role::kPreCandidate;
}

void RawNode::BecomeCandidate() {
  Reset(term_ + 1);
  vote_ = id_;
  role_ = Role::kCandidate;
}

void RawNode::BecomeLeader() {
  RAFT_CHECK(role_ == Role::kCandidate, "leader from non-candidate");
  Reset(term_);
  role_ = Role::kLeader;
  lead_ = id_;
  for (uint64_t v : conf_.voters) prs_[v].learner = false;
  for (uint64_t l : conf_.learners) prs_[l].learner = true;
  for (auto& [pid, pr] : prs_) {
    pr.next = last_index() + 1;
    pr.recent_active = true;
  }
  prs_[id_].match = last_index();
  // Uncommitted conf changes in the log are pending until our no-op commits: a new leader
  // must commit an entry of its term before it may change membership.
  AppendLocal({Entry{term_, 0, EntryType::kNormal, {}}});
  pending_conf_index_ = last_index();
  Log("became leader at term " + std::to_string(term_));
}

void RawNode::Campaign() {
  WakeUp(false);
  if (role_ == Role::kLeader || !Promotable() || unstable_snapshot_) return;
  StartCampaign(cfg_.pre_vote, false);
}

void RawNode::StartCampaign(bool pre, bool force) {
  uint64_t vote_term;
  MessageType type;
  if (pre) {
    BecomePreCandidate();
    vote_term = term_ + 1;
    type = MessageType::kPreVote;
  } else {
    BecomeCandidate();
    vote_term = term_;
    type = MessageType::kVote;
  }
  Log(std::string(pre ? "pre-campaign" : "campaign") + " term " + std::to_string(vote_term));
  votes_[id_] = true;
  if (conf_.voters.size() == 1) {  // Single voter: won already.
    if (pre) {
      StartCampaign(false, force);
    } else {
      BecomeLeader();
    }
    return;
  }
  for (uint64_t v : conf_.voters) {
    if (v == id_) continue;
    Message m;
    m.type = type;
    m.to = v;
    m.term = vote_term;
    m.index = last_index();
    m.log_term = LastTerm();
    m.force = force;
    Send(std::move(m));
  }
}

bool RawNode::InLease() const {
  if (!cfg_.check_quorum) return false;
  if (role_ == Role::kLeader) return true;
  // The promise made by acknowledging a leader outlives our term: a message with a higher
  // term that is not a vote request clears lead_ but not this (see heard_leader_tick_).
  if (heard_leader_ && ticks_ - heard_leader_tick_ < static_cast<uint64_t>(cfg_.election_ticks)) return true;
  // After a restart we may have forgotten a leader we promised not to undercut; wait out one
  // election timeout before voting so a lease granted before the crash expires. A fresh
  // replica (Config::first_start) never acknowledged anyone.
  return cfg_.read_only == ReadOnlyOption::kLeaseBased && !cfg_.first_start &&
         ticks_ < static_cast<uint64_t>(cfg_.election_ticks);
}

// ---------------------------------------------------------------------------------------------
// Tick

void RawNode::Tick() {
  ++ticks_;
  if (hibernating_) {
    // The lease clock (ticks_) runs on; heartbeats only to peers yet to acknowledge the
    // hibernation; no check-quorum, no election timeout.
    if (role_ == Role::kLeader && ++heartbeat_elapsed_ >= cfg_.heartbeat_ticks) {
      heartbeat_elapsed_ = 0;
      bool all_acked = true;
      for (const auto& [pid, pr] : prs_) all_acked = all_acked && (pid == id_ || pr.hibernate_acked);
      if (!all_acked) BroadcastHeartbeat(true);
    }
    return;
  }
  if (role_ == Role::kLeader) {
    ++heartbeat_elapsed_;
    ++election_elapsed_;
    if (election_elapsed_ >= cfg_.election_ticks) {
      election_elapsed_ = 0;
      if (cfg_.check_quorum) {
        size_t active = 0;
        for (auto& [pid, pr] : prs_) {
          if (!pr.learner && (pid == id_ || pr.recent_active)) ++active;
          if (pid != id_) pr.recent_active = false;
        }
        if (active < conf_.voters.size() / 2 + 1) {
          Log("stepping down: no quorum active");
          BecomeFollower(term_, kNone);
          return;
        }
      }
      if (lead_transferee_ != kNone) {
        Log("leadership transfer to " + std::to_string(lead_transferee_) + " timed out");
        lead_transferee_ = kNone;
      }
    }
    if (heartbeat_elapsed_ >= cfg_.heartbeat_ticks) {
      heartbeat_elapsed_ = 0;
      BroadcastHeartbeat();
    }
    return;
  }
  ++election_elapsed_;
  if (Promotable() && election_elapsed_ >= randomized_election_timeout_) {
    election_elapsed_ = 0;
    if (!unstable_snapshot_) StartCampaign(cfg_.pre_vote, false);
  }
}

// ---------------------------------------------------------------------------------------------
// Step

Status RawNode::Step(const Message& m) {
  if (m.to != id_) return Status(Error::kInvalidArgument, "message for " + std::to_string(m.to) + " stepped into " + std::to_string(id_));
  if (hibernating_ && m.type != MessageType::kHeartbeatResp && !(m.type == MessageType::kHeartbeat && m.hibernate)) {
    // Woken by the leader's own traffic, the follower need not poke it.
    bool from_leader = m.from == lead_ && (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
                                           m.type == MessageType::kSnapshot);
    WakeUp(!from_leader);
  }
  if (m.term == 0) {
    // Forwarded proposals and reads carry no term.
  } else if (m.term > term_) {
    bool vote_req = m.type == MessageType::kVote || m.type == MessageType::kPreVote;
    if (vote_req && !m.force && InLease()) {
      // Leader stickiness: we heard from a leader recently, so a disruptive candidate (a
      // partitioned or removed node) is ignored without bumping our term.
      return Status::Ok();
    }
    if (m.type == MessageType::kPreVote) {
      // Do not change term for a pre-vote.
    } else if (m.type == MessageType::kPreVoteResp && !m.reject) {
      // Granted pre-votes carry the future term; counted below.
    } else if (m.type == MessageType::kVote) {
      // Raft's rule (Figure 2): the election timer restarts only when we hear from the
      // current leader or grant a vote (HandleVoteRequest does that). Stepping down to a
      // candidate's term must not restart it: a candidate with a stale log and a fast clock
      // would otherwise keep the up-to-date nodes from ever timing out (raft-sim seed 51672).
      int elapsed = election_elapsed_, timeout = randomized_election_timeout_;
      BecomeFollower(m.term, kNone);
      election_elapsed_ = elapsed;
      randomized_election_timeout_ = timeout;
    } else {
      bool from_leader = m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
                         m.type == MessageType::kSnapshot;
      BecomeFollower(m.term, from_leader ? m.from : kNone);
    }
  } else if (m.term < term_) {
    if (m.type == MessageType::kHeartbeat || m.type == MessageType::kAppend) {
      // A stale leader: tell it our term so it steps down (it ignores votes under pre-vote).
      // Also without pre-vote and check-quorum, where a voter ahead in term would campaign
      // and so raise everyone's term anyway: a learner never campaigns, and a learner ahead
      // of its leader's term (a replica created again from a tombstone of a later term than
      // the group has reached since) ignored its leader for good (cluster-sim seed 300123).
      Message r;
      r.type = MessageType::kAppendResp;
      r.to = m.from;
      Send(std::move(r));
    } else if (m.type == MessageType::kPreVote) {
      Message r;
      r.type = MessageType::kPreVoteResp;
      r.to = m.from;
      r.reject = true;
      Send(std::move(r));
    }
    return Status::Ok();
  }

  switch (m.type) {
    case MessageType::kPreVote:
    case MessageType::kVote:
      HandleVoteRequest(m);
      return Status::Ok();
    default:
      break;
  }

  if (role_ == Role::kLeader) {
    if (m.type == MessageType::kProposal) {
      if (lead_transferee_ != kNone) return Status::Ok();
      std::vector<Entry> ents = m.entries;
      for (Entry& e : ents) e.type = EntryType::kNormal;  // Conf changes are never forwarded.
      AppendLocal(std::move(ents));
      return Status::Ok();
    }
    if (m.type == MessageType::kReadIndex) {
      ProcessReadRequest(m.from, m.context);
      return Status::Ok();
    }
    auto it = prs_.find(m.from);
    if (it == prs_.end()) return Status::Ok();
    Progress& pr = it->second;
    switch (m.type) {
      case MessageType::kAppendResp:
        pr.recent_active = true;
        HandleAppendResp(m, pr);
        break;
      case MessageType::kHeartbeatResp:
        pr.recent_active = true;
        HandleHeartbeatResp(m, pr);
        break;
      case MessageType::kSnapshotResp:
        pr.recent_active = true;
        if (pr.state != Progress::State::kSnapshot || !pr.snapshot || m.index != pr.snapshot->metadata.index) break;
        pr.snapshot_chunk_sent = false;
        if (m.reject) {
          pr.snapshot_acked = std::min<uint64_t>(m.offset, pr.snapshot->data.size());
        } else {
          pr.snapshot_acked = std::max(pr.snapshot_acked, m.offset);
        }
        SendSnapshotChunk(m.from, pr);
        break;
      default:
        break;
    }
    return Status::Ok();
  }

  if (role_ == Role::kPreCandidate || role_ == Role::kCandidate) {
    switch (m.type) {
      case MessageType::kAppend:
      case MessageType::kHeartbeat:
      case MessageType::kSnapshot:
        // A leader of our term (or of a term we would pre-campaign for) exists.
        BecomeFollower(m.term, m.from);
        break;
      case MessageType::kPreVoteResp:
        if (role_ == Role::kPreCandidate) HandleVoteResp(m);
        return Status::Ok();
      case MessageType::kVoteResp:
        if (role_ == Role::kCandidate) HandleVoteResp(m);
        return Status::Ok();
      case MessageType::kProposal:
      case MessageType::kReadIndex:
      default:
        return Status::Ok();
    }
  }

  // Follower.
  switch (m.type) {
    case MessageType::kAppend:
      HeardFromLeader(m.from);
      HandleAppend(m);
      break;
    case MessageType::kHeartbeat:
      HeardFromLeader(m.from);
      HandleHeartbeat(m);
      break;
    case MessageType::kSnapshot:
      HeardFromLeader(m.from);
      HandleSnapshotChunk(m);
      break;
    case MessageType::kTimeoutNow:
      if (Promotable() && !unstable_snapshot_) {
        Log("received TimeoutNow; campaigning");
        StartCampaign(false, true);
      }
      break;
    case MessageType::kReadIndexResp:
      if (!m.reject) read_states_.push_back(ReadState{m.index, m.context});
      break;
    case MessageType::kProposal:
    case MessageType::kReadIndex:
      // Forwarded to a node that is no longer leader: dropped (not re-forwarded, so messages
      // cannot loop); the client times out and retries.
      break;
    default:
      break;
  }
  return Status::Ok();
}

void RawNode::HeardFromLeader(uint64_t leader) {
  election_elapsed_ = 0;
  lead_ = leader;
  heard_leader_ = true;
  heard_leader_tick_ = ticks_;
}

void RawNode::HandleVoteRequest(const Message& m) {
  bool pre = m.type == MessageType::kPreVote;
  bool can_vote = vote_ == m.from || (vote_ == kNone && lead_ == kNone) || (pre && m.term > term_);
  // Leader stickiness also holds within a term: we may have been moved to this term by a
  // message that was not a vote request while a leader we acknowledged still holds a lease.
  if (vote_ != m.from && !m.force && InLease()) can_vote = false;
  // A replica created again on a node that hosted the group before and dropped it, which
  // has received nothing since (no entry, no snapshot), may have acknowledged entries it no
  // longer has, and any candidate's log is "up to date" next to its empty one: judged by
  // that, a candidate with a stale membership that still lists it could win a majority of
  // that membership alongside the real leader (cluster-sim seed 101). So it judges by the
  // log it had: it votes only for a candidate whose log reaches where that one ended (its
  // tombstone keeps it), as its earlier self, down since the drop, would have. Every entry
  // it acknowledged is in that log, so Raft's argument holds (a committed entry is on a
  // member of every majority, which votes only for candidates that have it); and a group
  // left with one live replica with the log and this one elects the former (it refused
  // every vote until 2026-12-06, and such a group stayed leaderless). A replica that never
  // existed here votes even while empty: it acknowledged nothing (cluster-sim seed 100108).
  if (last_index() == 0 && rejoined_empty_ && LogEnd{m.log_term, m.index} < dropped_end_) can_vote = false;
  Message r;
  r.type = pre ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  r.to = m.from;
  if (can_vote && IsUpToDate(m.index, m.log_term)) {
    // Reply with the requested term so the candidate counts it (pre-votes do not bump ours).
    r.term = m.term;
    if (!pre) {
      election_elapsed_ = 0;
      vote_ = m.from;
    }
  } else {
    r.term = term_;
    r.reject = true;
  }
  Send(std::move(r));
}

void RawNode::HandleVoteResp(const Message& m) {
  votes_.emplace(m.from, !m.reject);
  size_t granted = 0, rejected = 0;
  for (uint64_t v : conf_.voters) {
    auto it = votes_.find(v);
    if (it == votes_.end()) continue;
    (it->second ? granted : rejected)++;
  }
  size_t quorum = conf_.voters.size() / 2 + 1;
  if (granted >= quorum) {
    if (role_ == Role::kPreCandidate) {
      StartCampaign(false, m.force);
    } else {
      BecomeLeader();
    }
  } else if (rejected >= quorum) {
    BecomeFollower(term_, kNone);
  }
}

// ---------------------------------------------------------------------------------------------
// Public API

Status RawNode::Propose(std::string data) {
  WakeUp(true);
  Entry e{0, 0, EntryType::kNormal, std::move(data)};
  if (role_ == Role::kLeader) {
    if (lead_transferee_ != kNone) return Status(Error::kProposalDropped, "leadership transfer in progress");
    AppendLocal({std::move(e)});
    return Status::Ok();
  }
  if (lead_ == kNone) return Status(Error::kProposalDropped, "no leader known");
  Message m;
  m.type = MessageType::kProposal;
  m.from = id_;
  m.to = lead_;
  m.entries.push_back(std::move(e));
  msgs_.push_back(std::move(m));
  return Status::Ok();
}

Status RawNode::ProposeConfChange(const ConfChange& cc) {
  WakeUp(false);
  if (role_ != Role::kLeader) return Status(Error::kNotLeader, "conf changes are proposed on the leader");
  if (lead_transferee_ != kNone) return Status(Error::kProposalDropped, "leadership transfer in progress");
  if (pending_conf_index_ > committed_)
    return Status(Error::kConfChangePending, "a membership change (or this leader's first entry) is not yet committed");
  if (cc.node_id == kNone) return Status(Error::kInvalidArgument, "conf change for node 0");
  if (cc.node_id == id_) return Status(Error::kInvalidArgument, "the leader cannot change its own membership; transfer leadership first");
  ConfState next = ApplyConfChangeTo(conf_, cc);
  if (next.voters.empty()) return Status(Error::kInvalidArgument, "change would leave no voter");
  AppendLocal({Entry{0, 0, EntryType::kConfChange, cc.Encode()}});
  pending_conf_index_ = last_index();
  return Status::Ok();
}

Status RawNode::TransferLeader(uint64_t target) {
  WakeUp(false);
  if (role_ != Role::kLeader) return Status(Error::kNotLeader, "not leader");
  if (target == id_) return Status::Ok();
  if (!conf_.IsVoter(target)) return Status(Error::kInvalidArgument, "transfer target is not a voter");
  if (lead_transferee_ == target) return Status::Ok();
  lead_transferee_ = target;
  election_elapsed_ = 0;  // The transfer must finish within one election timeout.
  Progress& pr = prs_[target];
  if (pr.match == last_index()) {
    Message t;
    t.type = MessageType::kTimeoutNow;
    t.to = target;
    lease_revoked_ = true;
    Send(std::move(t));
  } else {
    SendAppend(target, true);
  }
  return Status::Ok();
}

void RawNode::Send(Message m) {
  m.from = id_;
  if (m.term == 0 && m.type != MessageType::kProposal && m.type != MessageType::kReadIndex) m.term = term_;
  msgs_.push_back(std::move(m));
}

// ---------------------------------------------------------------------------------------------
// Ready / Advance

bool RawNode::HasReady(bool with_committed) {
  if (needs_broadcast_ && role_ == Role::kLeader) {
    needs_broadcast_ = false;
    BroadcastAppend();
  }
  if (needs_heartbeat_ && role_ == Role::kLeader) {
    BroadcastHeartbeat();
    heartbeat_elapsed_ = 0;
  }
  needs_heartbeat_ = false;
  needs_broadcast_ = false;
  if (!msgs_.empty() || !unstable_.empty() || unstable_snapshot_ || !read_states_.empty()) return true;
  if (!(HardState{term_, vote_, committed_} == prev_hard_state_)) return true;
  if (!(SoftState{lead_, role_} == prev_soft_state_)) return true;
  return with_committed && committed_ > applied_;
}

Ready RawNode::GetReady(bool with_committed) {
  HasReady(with_committed);  // Flushes deferred broadcasts (batching: one MsgApp for many proposals).
  Ready rd;
  rd.soft_state = SoftState{lead_, role_};
  HardState hs{term_, vote_, committed_};
  if (!(hs == prev_hard_state_)) rd.hard_state = hs;
  rd.entries = unstable_;
  if (unstable_snapshot_) rd.snapshot = *unstable_snapshot_;
  rd.messages = std::move(msgs_);
  msgs_.clear();
  rd.read_states = std::move(read_states_);
  read_states_.clear();
  uint64_t lo = std::max(applied_, unstable_snapshot_ ? unstable_snapshot_->metadata.index : 0) + 1;
  if (with_committed && committed_ >= lo) {
    Status s = Slice(lo, committed_ + 1, cfg_.max_committed_bytes_per_ready, 0, &rd.committed_entries);
    RAFT_CHECK(s.ok(), "committed entries unavailable: " + s.ToString());
  }
  return rd;
}

void RawNode::Advance(const Ready& rd) {
  prev_soft_state_ = rd.soft_state;
  if (rd.hard_state) prev_hard_state_ = *rd.hard_state;
  if (!rd.snapshot.empty() && unstable_snapshot_ && unstable_snapshot_->metadata.index == rd.snapshot.metadata.index) {
    applied_ = std::max(applied_, rd.snapshot.metadata.index);
    unstable_snapshot_.reset();
  }
  if (!rd.entries.empty()) {
    const Entry& last = rd.entries.back();
    // Only what was handed out and is still ours (same index and term) becomes stable.
    if (last.index >= unstable_offset_ && last.index <= last_index() && TermAt(last.index) == last.term) {
      uint64_t n = last.index + 1 - unstable_offset_;
      unstable_.erase(unstable_.begin(), unstable_.begin() + static_cast<long>(n));
      unstable_offset_ = last.index + 1;
    }
  }
  if (!rd.committed_entries.empty()) applied_ = std::max(applied_, rd.committed_entries.back().index);
}

}  // namespace vectron::raft
