// The writer process of the log store's kill -9 test: runs the workload of
// log_crash_workload.h on an LmdbLogStore, one LogWriteBatch (one commit) per loop for all
// groups, and prints "ack L" after loop L is committed, until it is killed.
//
//   raft-log-crash-writer DIR SEED GROUPS FIRST_LOOP
//
// The store must hold exactly loops 1..FIRST_LOOP-1 (the checker makes sure of that).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "raft/lmdb_storage.h"
#include "raft/tests/log_crash_workload.h"

using namespace vectron::raft;

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s DIR SEED GROUPS FIRST_LOOP\n", argv[0]);
    return 2;
  }
  const uint64_t seed = std::strtoull(argv[2], nullptr, 10);
  const uint64_t ngroups = std::strtoull(argv[3], nullptr, 10);
  const uint64_t first = std::strtoull(argv[4], nullptr, 10);
  std::vector<crash::GroupModel> models(ngroups);
  std::vector<crash::Op> ops;
  for (uint64_t loop = 1; loop < first; ++loop) {
    for (uint64_t g = 0; g < ngroups; ++g) {
      ops.clear();
      if (!crash::PlanLoop(seed, g + 1, loop, models[g], &ops)) return 3;
    }
  }
  std::unique_ptr<LmdbLogStore> store;
  Status s = LmdbLogStore::Open(argv[1], {}, &store);
  if (!s.ok()) {
    std::fprintf(stderr, "open: %s\n", s.ToString().c_str());
    return 1;
  }
  std::vector<std::unique_ptr<LmdbStorage>> groups(ngroups);
  for (uint64_t g = 0; g < ngroups; ++g) {
    if (!(s = store->OpenGroup(g + 1, &groups[g])).ok()) {
      std::fprintf(stderr, "open group: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  for (uint64_t loop = first; loop < first + 1000000; ++loop) {
    LogWriteBatch batch;
    for (uint64_t g = 0; g < ngroups; ++g) {
      ops.clear();
      if (!crash::PlanLoop(seed, g + 1, loop, models[g], &ops)) return 3;
      for (crash::Op& op : ops) {
        switch (op.kind) {
          case crash::Op::Kind::kSave: batch.Save(groups[g].get(), std::move(op.entries), op.hs); break;
          case crash::Op::Kind::kApplySnapshot: batch.ApplySnapshot(groups[g].get(), std::move(op.snap)); break;
          case crash::Op::Kind::kCreateSnapshot: {
            uint64_t i = op.snap.metadata.index;
            batch.CreateSnapshot(groups[g].get(), i, op.snap.metadata.conf_state, std::move(op.snap.data), i);
            break;
          }
        }
      }
    }
    if (!(s = store->Write(batch)).ok()) {
      std::fprintf(stderr, "write loop %llu: %s\n", static_cast<unsigned long long>(loop), s.ToString().c_str());
      return 1;
    }
    std::printf("ack %llu\n", static_cast<unsigned long long>(loop));
    std::fflush(stdout);
  }
  return 0;
}
