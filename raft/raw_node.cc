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
  // election timeout before voting so a lease granted before the crash expires.
  return cfg_.read_only == ReadOnlyOption::kLeaseBased && ticks_ < static_cast<uint64_t>(cfg_.election_ticks);
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
    if ((cfg_.check_quorum || cfg_.pre_vote) &&
        (m.type == MessageType::kHeartbeat || m.type == MessageType::kAppend)) {
      // A stale leader: tell it our term so it steps down (it ignores votes under pre-vote).
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
  // has received nothing since (no entry, no snapshot), never votes: its earlier self may
  // have acknowledged entries it no longer has, and any candidate's log is "up to date" next
  // to its empty one, so a candidate with a stale membership that still lists it could win
  // a majority of that membership alongside the real leader (cluster-sim seed 101). A
  // replica that never existed here votes even while empty: it acknowledged nothing, so
  // its vote cannot hide a committed entry, and a group whose other members are one live
  // replica with the log and one that is empty still elects (cluster-sim seed 100108).
  if (last_index() == 0 && rejoined_empty_) can_vote = false;
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
// Follower handlers

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

bool RawNode::Quiescent() const {
  if (role_ != Role::kLeader || hibernating_ || committed_ != last_index()) return false;
  // A check-quorum round has passed since this leader was elected or last woke, so one woken
  // because its node lost touch with a quorum steps down before it could hibernate again.
  if (ticks_ <= awake_since_tick_ + static_cast<uint64_t>(cfg_.election_ticks)) return false;
  // Messages already queued (this tick's heartbeats) do not matter: the hibernation request
  // carries the commit index too.
  if (!unstable_.empty() || unstable_snapshot_ || !read_states_.empty()) return false;
  if (!pending_reads_.empty() || !reads_waiting_commit_.empty() || lead_transferee_ != kNone) return false;
  if (needs_broadcast_ || needs_heartbeat_ || !CommittedInTerm()) return false;
  for (const auto& [pid, pr] : prs_) {
    if (pid == id_) continue;
    if (pr.match != last_index() || pr.state != Progress::State::kReplicate || !pr.inflights.empty()) return false;
  }
  return true;
}

void RawNode::Hibernate() {
  if (!Quiescent()) return;
  Log("hibernating at " + std::to_string(last_index()));
  hibernating_ = true;
  hibernate_seq_ = read_seq_ + 1;
  for (auto& [pid, pr] : prs_) pr.hibernate_acked = false;
  heartbeat_elapsed_ = 0;
  BroadcastHeartbeat(true);
}

void RawNode::Wake() { WakeUp(true); }

void RawNode::WakeUp(bool poke_leader) {
  if (!hibernating_) return;
  hibernating_ = false;
  election_elapsed_ = 0;
  if (role_ == Role::kLeader) {
    Log("waking");
    // A fresh check-quorum window: peers must answer again within an election timeout.
    for (auto& [pid, pr] : prs_) {
      pr.hibernate_acked = false;
      if (pid != id_) pr.recent_active = false;
    }
    // The lease is treated as expired: only heartbeats sent from now on renew it.
    lease_floor_tick_ = ticks_;
    awake_since_tick_ = ticks_;
    needs_heartbeat_ = true;
    return;
  }
  if (poke_leader && role_ == Role::kFollower && lead_ != kNone) {
    // Entries up to our commit index are in the log of any leader of our term or later, so
    // this response is true; the leader wakes on it (it is not a heartbeat response).
    Message r;
    r.type = MessageType::kAppendResp;
    r.to = lead_;
    r.index = committed_;
    Send(std::move(r));
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
  pr.probe_sent = false;
  pr.hb_seq_acked = std::max(pr.hb_seq_acked, m.seq);
  pr.lease_tick_acked = std::max(pr.lease_tick_acked, m.sent_tick);
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

bool RawNode::LeaseValid() const {
  if (role_ != Role::kLeader || lease_revoked_ || cfg_.read_only != ReadOnlyOption::kLeaseBased) return false;
  if (!CommittedInTerm()) return false;
  uint64_t now = ticks_;
  uint64_t q = QuorumValue([&](uint64_t pid, const Progress& pr) { return pid == id_ ? now : pr.lease_tick_acked; });
  return q != 0 && q >= lease_floor_tick_ && q + static_cast<uint64_t>(cfg_.lease_ticks) > now;
}

void RawNode::ProcessReadRequest(uint64_t from, std::string context) {
  if (!CommittedInTerm()) {
    // Our commit index may be behind the last leader's until our no-op commits.
    reads_waiting_commit_.emplace_back(from, std::move(context));
    return;
  }
  auto respond = [&](uint64_t index, std::string ctx) {
    if (from == id_) {
      read_states_.push_back(ReadState{index, std::move(ctx)});
    } else {
      Message r;
      r.type = MessageType::kReadIndexResp;
      r.to = from;
      r.index = index;
      r.context = std::move(ctx);
      Send(std::move(r));
    }
  };
  if (conf_.voters.size() == 1 && conf_.IsVoter(id_)) {
    respond(committed_, std::move(context));
    return;
  }
  if (LeaseValid()) {
    respond(committed_, std::move(context));
    return;
  }
  // Confirm leadership with a fresh heartbeat round.
  // Reads arriving before the next Ready share one round (flushed in HasReady).
  pending_reads_.push_back(PendingRead{committed_, read_seq_ + 1, from, std::move(context)});
  needs_heartbeat_ = true;
}

void RawNode::ReleaseReads() {
  if (role_ != Role::kLeader || pending_reads_.empty()) return;
  uint64_t acked = QuorumValue([&](uint64_t pid, const Progress& pr) { return pid == id_ ? read_seq_ : pr.hb_seq_acked; });
  while (!pending_reads_.empty() && pending_reads_.front().seq <= acked) {
    PendingRead r = std::move(pending_reads_.front());
    pending_reads_.pop_front();
    if (r.from == id_) {
      read_states_.push_back(ReadState{r.index, std::move(r.context)});
    } else {
      Message m;
      m.type = MessageType::kReadIndexResp;
      m.to = r.from;
      m.index = r.index;
      m.context = std::move(r.context);
      Send(std::move(m));
    }
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

Status RawNode::ReadIndex(std::string context) {
  WakeUp(true);
  if (role_ == Role::kLeader) {
    ProcessReadRequest(id_, std::move(context));
    return Status::Ok();
  }
  if (lead_ == kNone) return Status(Error::kProposalDropped, "no leader known");
  Message m;
  m.type = MessageType::kReadIndex;
  m.from = id_;
  m.to = lead_;
  m.context = std::move(context);
  msgs_.push_back(std::move(m));
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

bool RawNode::HasReady() {
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
  return committed_ > applied_;
}

Ready RawNode::GetReady() {
  HasReady();  // Flushes deferred broadcasts (batching: one MsgApp for many proposals).
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
  if (committed_ >= lo) {
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
