// RawNode's hibernation (raw_node.h, "hibernating"): when a leader's group is quiet enough
// to hibernate (Quiescent), entering hibernation (Hibernate) and leaving it (Wake, WakeUp).
#include <cstdint>

#include "raft/raw_node.h"

namespace vectron::raft {

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

}  // namespace vectron::raft
