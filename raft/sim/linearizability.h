// A Wing–Gong linearizability checker (with Lowe's memoization, as in Porcupine) for a
// key-value store of registers: Put(key, value) and Get(key) -> value.
//
// Linearizability is compositional, so each key's history is checked on its own. Histories
// are bounded: a key with more than `max_ops_per_key` operations, or a search exceeding
// `max_states`, is reported as inconclusive rather than as a violation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vectron::raft::sim {

// One client operation. Times are unique, increasing event numbers.
struct KvOp {
  uint64_t client = 0;
  uint64_t key = 0;
  bool is_write = false;
  uint64_t value = 0;        // Written value, or the value read (0 = absent).
  uint64_t call = 0;         // When the client issued it.
  uint64_t ret = UINT64_MAX; // When the client saw the result; UINT64_MAX = never (timed out).
};

enum class LinResult { kOk, kViolation, kInconclusive };

struct LinReport {
  LinResult result = LinResult::kOk;
  uint64_t keys_checked = 0;
  uint64_t keys_inconclusive = 0;
  std::string detail;  // For a violation: the key and its history, one op per line.
};

struct LinOptions {
  size_t max_ops_per_key = 400;
  uint64_t max_states = 2'000'000;
};

// Formats a register value: "none" for 0, "c<client>.<seq>" for the simulator's writes.
std::string ValueName(uint64_t v);

// Checks `history`. Reads that never returned are ignored (they had no effect); writes that
// never returned may take effect at any point after their call, or not at all.
LinReport CheckLinearizable(const std::vector<KvOp>& history, const LinOptions& options = {});

}  // namespace vectron::raft::sim
