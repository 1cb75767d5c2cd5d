#include "raft/sim/linearizability.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <unordered_set>

namespace vectron::raft::sim {

namespace {

// Bitset of linearized operations plus the register value: the memoization key.
struct StateKey {
  std::vector<uint64_t> bits;
  uint64_t value;
  bool operator==(const StateKey&) const = default;
};

struct StateKeyHash {
  size_t operator()(const StateKey& k) const {
    uint64_t h = k.value * 0x9E3779B97F4A7C15ull;
    for (uint64_t b : k.bits) h = (h ^ b) * 0x100000001B3ull + (h >> 29);
    return static_cast<size_t>(h);
  }
};

class KeyChecker {
 public:
  KeyChecker(std::vector<KvOp> ops, uint64_t max_states) : ops_(std::move(ops)), max_states_(max_states) {
    // Order by call time: candidates are scanned in this order.
    std::sort(ops_.begin(), ops_.end(), [](const KvOp& a, const KvOp& b) { return a.call < b.call; });
    done_.assign((ops_.size() + 63) / 64, 0);
  }

  // Returns kOk, kViolation, or kInconclusive (state budget exceeded).
  LinResult Run() {
    std::vector<Frame> stack;
    stack.push_back(Frame{0, 0});
    uint64_t value = 0;
    // Iterative DFS: frame.next = next candidate position to try at this depth.
    std::vector<size_t> chosen;
    std::vector<uint64_t> values{0};
    while (!stack.empty()) {
      if (AllRequiredDone()) return LinResult::kOk;
      Frame& f = stack.back();
      value = values.back();
      uint64_t min_ret = MinPendingRet();
      bool advanced = false;
      for (size_t i = f.next; i < ops_.size(); ++i) {
        if (IsDone(i)) continue;
        if (ops_[i].call > min_ret) break;  // Sorted by call: no later op can go first.
        const KvOp& op = ops_[i];
        uint64_t nv = value;
        if (op.is_write) {
          nv = op.value;
        } else if (op.value != value) {
          continue;
        }
        SetDone(i, true);
        if (!visited_.insert(StateKey{done_, nv}).second) {
          SetDone(i, false);
          continue;
        }
        if (visited_.size() > max_states_) return LinResult::kInconclusive;
        f.next = i + 1;
        chosen.push_back(i);
        values.push_back(nv);
        stack.push_back(Frame{0, 0});
        advanced = true;
        break;
      }
      if (advanced) continue;
      // Backtrack.
      stack.pop_back();
      if (chosen.empty()) break;
      SetDone(chosen.back(), false);
      chosen.pop_back();
      values.pop_back();
    }
    return LinResult::kViolation;
  }

 private:
  struct Frame {
    size_t next;
    int unused;
  };
  bool IsDone(size_t i) const { return (done_[i / 64] >> (i % 64)) & 1; }
  void SetDone(size_t i, bool on) {
    if (on) {
      done_[i / 64] |= uint64_t{1} << (i % 64);
    } else {
      done_[i / 64] &= ~(uint64_t{1} << (i % 64));
    }
  }
  // Every completed op linearized (timed-out writes are optional).
  bool AllRequiredDone() const {
    for (size_t i = 0; i < ops_.size(); ++i)
      if (!IsDone(i) && ops_[i].ret != UINT64_MAX) return false;
    return true;
  }
  // The earliest return among ops not yet linearized: any op called after it cannot be next.
  uint64_t MinPendingRet() const {
    uint64_t m = UINT64_MAX;
    for (size_t i = 0; i < ops_.size(); ++i)
      if (!IsDone(i)) m = std::min(m, ops_[i].ret);
    return m;
  }

  std::vector<KvOp> ops_;
  uint64_t max_states_;
  std::vector<uint64_t> done_;
  std::unordered_set<StateKey, StateKeyHash> visited_;
};

// Values written by the simulator are (client << 32 | seq): show them as "c<client>.<seq>".
}  // namespace

std::string ValueName(uint64_t v) {
  if (v == 0) return "none";
  std::string out;
  if (v >> 32) {
    out = "c";
    out += std::to_string(v >> 32);
    out += '.';
    out += std::to_string(v & 0xffffffffu);
  } else {
    out = std::to_string(v);
  }
  return out;
}

namespace {

std::string Describe(uint64_t key, const std::vector<KvOp>& ops) {
  std::ostringstream os;
  os << "key " << key << " history, by call time (event numbers call..return):\n";
  for (const KvOp& op : ops) {
    os << "  client " << op.client << (op.is_write ? " put " : " get -> ") << ValueName(op.value) << "  [" << op.call << ".."
       << (op.ret == UINT64_MAX ? std::string("timeout") : std::to_string(op.ret)) << "]\n";
  }
  return os.str();
}

}  // namespace

LinReport CheckLinearizable(const std::vector<KvOp>& history, const LinOptions& options) {
  std::map<uint64_t, std::vector<KvOp>> by_key;
  for (const KvOp& op : history) {
    if (!op.is_write && op.ret == UINT64_MAX) continue;  // A read that never returned.
    by_key[op.key].push_back(op);
  }
  LinReport report;
  for (auto& [key, ops] : by_key) {
    ++report.keys_checked;
    if (ops.size() > options.max_ops_per_key) {
      ++report.keys_inconclusive;
      continue;
    }
    KeyChecker checker(ops, options.max_states);
    LinResult r = checker.Run();
    if (r == LinResult::kInconclusive) {
      ++report.keys_inconclusive;
    } else if (r == LinResult::kViolation) {
      report.result = LinResult::kViolation;
      std::sort(ops.begin(), ops.end(), [](const KvOp& a, const KvOp& b) { return a.call < b.call; });
      report.detail = Describe(key, ops);
      return report;
    }
  }
  if (report.keys_inconclusive > 0) report.result = LinResult::kInconclusive;
  return report;
}

}  // namespace vectron::raft::sim
