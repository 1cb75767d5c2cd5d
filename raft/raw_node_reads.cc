// RawNode's linearizable reads: ReadIndex, a leader's lease (LeaseValid), and serving
// read requests once the leader's commit index is confirmed (ProcessReadRequest,
// ReleaseReads).
#include <cstdint>
#include <string>
#include <utility>

#include "raft/raw_node.h"

namespace vectron::raft {

bool RawNode::LeaseValid() const {
  if (role_ != Role::kLeader || lease_revoked_ || cfg_.read_only != ReadOnlyOption::kLeaseBased) return false;
  if (!CommittedInTerm()) return false;
  uint64_t now = ticks_;
  uint64_t q = QuorumValue([&](uint64_t pid, const Progress& pr) { return pid == id_ ? now : pr.lease_tick_acked; });
  return q != 0 && q >= lease_floor_tick_ && q + static_cast<uint64_t>(cfg_.lease_ticks) > now;
}

// Heartbeats sent earlier in this tick carry the same send tick: only later ticks count.
void RawNode::ExpireLease() { lease_floor_tick_ = ticks_ + 1; }

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

}  // namespace vectron::raft
