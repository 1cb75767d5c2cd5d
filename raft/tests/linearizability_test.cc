#include <doctest/doctest.h>

#include "raft/sim/linearizability.h"

namespace vectron::raft::sim {
namespace {

KvOp Put(uint64_t client, uint64_t value, uint64_t call, uint64_t ret) { return KvOp{client, 1, true, value, call, ret}; }
KvOp Get(uint64_t client, uint64_t value, uint64_t call, uint64_t ret) { return KvOp{client, 1, false, value, call, ret}; }

TEST_CASE("a sequential history is linearizable") {
  CHECK(CheckLinearizable({Put(1, 5, 1, 2), Get(2, 5, 3, 4), Put(1, 6, 5, 6), Get(2, 6, 7, 8)}).result == LinResult::kOk);
}

TEST_CASE("a stale read after a completed write is a violation") {
  LinReport r = CheckLinearizable({Put(1, 5, 1, 2), Put(1, 6, 3, 4), Get(2, 5, 5, 6)});
  CHECK(r.result == LinResult::kViolation);
  CHECK(r.detail.find("key 1") != std::string::npos);
}

TEST_CASE("a read concurrent with a write may see either value") {
  CHECK(CheckLinearizable({Put(1, 5, 1, 2), Put(1, 6, 3, 10), Get(2, 5, 4, 5), Get(3, 6, 6, 7)}).result == LinResult::kOk);
  // But once a read saw the new value, a later read cannot see the old one.
  CHECK(CheckLinearizable({Put(1, 5, 1, 2), Put(1, 6, 3, 10), Get(2, 6, 4, 5), Get(3, 5, 6, 7)}).result ==
        LinResult::kViolation);
}

TEST_CASE("a timed-out write may take effect late or never") {
  CHECK(CheckLinearizable({Put(1, 5, 1, UINT64_MAX), Get(2, 0, 2, 3), Get(2, 5, 4, 5)}).result == LinResult::kOk);
  CHECK(CheckLinearizable({Put(1, 5, 1, UINT64_MAX), Get(2, 0, 2, 3)}).result == LinResult::kOk);
  // It cannot take effect before it was issued.
  CHECK(CheckLinearizable({Get(2, 5, 1, 2), Put(1, 5, 3, UINT64_MAX)}).result == LinResult::kViolation);
}

TEST_CASE("reading a value nobody wrote is a violation") {
  CHECK(CheckLinearizable({Put(1, 5, 1, 2), Get(2, 7, 3, 4)}).result == LinResult::kViolation);
}

TEST_CASE("keys are checked independently") {
  KvOp other = Get(3, 0, 1, 2);
  other.key = 2;
  CHECK(CheckLinearizable({Put(1, 5, 3, 4), other}).result == LinResult::kOk);
}

TEST_CASE("histories beyond the bound are reported inconclusive, not as violations") {
  std::vector<KvOp> h;
  for (uint64_t i = 0; i < 50; ++i) h.push_back(Put(1, i + 1, 2 * i + 1, 2 * i + 2));
  LinOptions o;
  o.max_ops_per_key = 10;
  CHECK(CheckLinearizable(h, o).result == LinResult::kInconclusive);
  CHECK(CheckLinearizable(h).result == LinResult::kOk);
}

}  // namespace
}  // namespace vectron::raft::sim
