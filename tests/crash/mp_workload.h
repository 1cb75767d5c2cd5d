// The deterministic workload of the multi-process test: what writer `name` writes in
// batch b, and the set of ids that must exist after writers A and B wrote `batches`
// batches each on top of the base points.
#pragma once

#include <set>
#include <string>

#include "../lib/test_util.h"

namespace vectron::testing {

inline constexpr uint32_t kMpDim = 16;
inline constexpr int kMpBase = 200;

inline CollectionConfig MpConfig() {
  CollectionConfig c;
  c.dim = kMpDim;
  c.metric = Metric::kL2;
  c.shards = 2;               // spanning batches take the journal and write.lock
  c.flat_max_points = 60;     // HNSW from the start, so every checkpoint saves a graph
  c.checkpoint_every_ops = 50;
  return c;
}

inline std::string MpOwnId(const std::string& name, int b, int i) {
  return name + "-" + std::to_string(b) + "-" + std::to_string(i);
}

// Own ids name-b-0..7; shared ids s-2b, s-2b+1 that both writers write identically
// (same vector, same metadata); and a delete of the writer's own name-(b-1)-0.
inline WriteBatch MpBatch(const std::string& name, int b) {
  WriteBatch wb;
  for (int i = 0; i < 8; ++i) {
    std::string id = MpOwnId(name, b, i);
    wb.Upsert(id, VectorForId(id, kMpDim), "{\"w\":\"" + name + "\"}");
  }
  for (int i = 0; i < 2; ++i) {
    std::string id = "s-" + std::to_string(2 * b + i);
    wb.Upsert(id, VectorForId(id, kMpDim), "{\"shared\":true}");
  }
  if (b >= 1) wb.Delete(MpOwnId(name, b - 1, 0));
  return wb;
}

inline std::set<std::string> MpExpectedIds(int batches) {
  std::set<std::string> ids;
  for (int i = 0; i < kMpBase; ++i) ids.insert("base-" + std::to_string(i));
  for (const char* name : {"A", "B"}) {
    for (int b = 0; b < batches; ++b)
      for (int i = (b + 1 < batches ? 1 : 0); i < 8; ++i) ids.insert(MpOwnId(name, b, i));
  }
  for (int i = 0; i < 2 * batches; ++i) ids.insert("s-" + std::to_string(i));
  return ids;
}

}  // namespace vectron::testing
