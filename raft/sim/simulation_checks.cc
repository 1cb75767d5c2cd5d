// The Raft simulator's checks (simulation_internal.h): the invariants checked after every
// step, and the liveness and linearizability checks at the end of a run.
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/sim/linearizability.h"
#include "raft/sim/simulation_internal.h"

namespace vectron::raft::sim::detail {

void Simulation::CheckInvariants() {
  for (auto& [id, n] : nodes_) {
    // Election safety: at most one leader per term.
    if (n.up() && n.raft->role() == Role::kLeader) {
      uint64_t t = n.raft->term();
      auto [it, inserted] = leader_of_term_.emplace(t, id);
      if (inserted) {
        ++stats_.leaders;
        // Leader completeness: a new leader holds every entry committed in an earlier term.
        // (An entry seen committed by a node at term u was committed in a term <= u.)
        for (auto& [i, ct] : committed_term_) {
          if (ct.second >= t) continue;
          uint64_t lt = n.raft->TermAt(i);
          if (i > n.raft->last_index() || (lt != 0 && lt != ct.first))
            Fail("leader completeness: leader " + std::to_string(id) + " of term " + std::to_string(t) +
                 " has term " + std::to_string(lt) + " at index " + std::to_string(i) + " (last " +
                 std::to_string(n.raft->last_index()) + "), committed term " + std::to_string(ct.first));
        }
      } else if (it->second != id) {
        Fail("election safety: nodes " + std::to_string(it->second) + " and " + std::to_string(id) +
             " both leader in term " + std::to_string(t));
      }
    }
    // Log matching on the durable log: an (index, term) pair identifies the entry and its
    // predecessor's term, so equal pairs imply equal prefixes.
    MemoryStorage& st = *n.storage;
    uint64_t first = st.FirstIndex(), last = st.LastIndex();
    uint64_t commit = n.up() ? n.raft->committed() : st.hard_state().commit;
    uint64_t node_term = n.up() ? n.raft->term() : st.hard_state().term;
    if (last >= first) {
      std::vector<Entry> ents;
      Status s = st.Entries(first, last + 1, UINT64_MAX, &ents);
      if (!s.ok()) {
        Fail("storage read: " + s.ToString());
        return;
      }
      uint64_t prev_term = 0;
      (void)st.Term(first - 1, &prev_term);
      for (const Entry& e : ents) {
        auto key = std::make_pair(e.index, e.term);
        auto val = std::make_pair(HashEntry(e), prev_term);
        auto [it, inserted] = entry_seen_.emplace(key, val);
        if (!inserted && it->second != val) {
          Fail("log matching: node " + std::to_string(id) + " entry " + std::to_string(e.index) + "/" +
               std::to_string(e.term) + " differs from another log's entry with the same index and term");
        }
        if (e.term < prev_term) Fail("log terms decrease at index " + std::to_string(e.index) + " on node " + std::to_string(id));
        prev_term = e.term;
        if (e.index <= commit) {
          auto [ct, ins] = committed_term_.emplace(e.index, std::make_pair(e.term, node_term));
          if (!ins) ct->second.second = std::min(ct->second.second, node_term);
          if (!ins && ct->second.first != e.term)
            Fail("committed entry changed: node " + std::to_string(id) + " has term " + std::to_string(e.term) +
                 " at committed index " + std::to_string(e.index) + ", committed term was " +
                 std::to_string(ct->second.first));
        }
      }
    }
  }
  // Bound the checker maps: entries far below every node's log are no longer needed.
  uint64_t floor = UINT64_MAX;
  for (auto& [id, n] : nodes_) floor = std::min(floor, n.storage->FirstIndex());
  if (floor != UINT64_MAX && floor > 200) {
    committed_term_.erase(committed_term_.begin(), committed_term_.lower_bound(floor - 100));
    entry_seen_.erase(entry_seen_.begin(), entry_seen_.lower_bound({floor - 100, 0}));
  }
}

void Simulation::CheckFinal() {
  if (!failed_ && liveness_from_ < opt_.steps && writes_ok_after_liveness_ == 0) {
    Fail("liveness: no client write completed in the last " + std::to_string(opt_.steps - liveness_from_) +
         " steps after faults stopped");
  }
  if (!failed_) {
    std::vector<KvOp> h;
    for (size_t i = 0; i < history_.size(); ++i)
      if (!op_failed_[i]) h.push_back(history_[i]);
    LinReport lr = CheckLinearizable(h);
    stats_.lin_keys_inconclusive = lr.keys_inconclusive;
    if (lr.result == LinResult::kViolation) Fail("linearizability violation:\n" + lr.detail);
  }
}

}  // namespace vectron::raft::sim::detail
