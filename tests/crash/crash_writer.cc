// Writes batches MakeCrashBatch(seed, b) for b = start, start+1, ... forever, printing
// "ack b" after each Write returns OK. The crash test kills it with SIGKILL. With a 4th
// argument "maintain" it also saves a checkpoint after every 4th batch and compacts
// (index and files) after every 4th other, printing "checkpoint b" / "compact b" first,
// so the test can aim its kills inside them. With "feedback" instead, it rates the first
// (up to) 3 points of each batch after its ack (CrashRating), printing "rated b j" after
// each rating is acknowledged.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "workload.h"

using namespace vectron;
using namespace vectron::testing;

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: crash_writer DIR SEED START [maintain|feedback]\n");
    return 2;
  }
  uint64_t seed = std::strtoull(argv[2], nullptr, 10), b = std::strtoull(argv[3], nullptr, 10);
  auto db = Database::Open(argv[1]);
  if (!db.ok()) {
    std::fprintf(stderr, "open: %s\n", db.status().ToString().c_str());
    return 1;
  }
  auto col = (*db)->GetOrCreateCollection("crash", CrashConfig());
  if (!col.ok()) {
    std::fprintf(stderr, "collection: %s\n", col.status().ToString().c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  for (;; ++b) {
    CrashBatch cb = MakeCrashBatch(seed, b);
    WriteBatch wb;
    for (auto& id : cb.upserts) wb.Upsert(id, CrashVector(id, b), CrashMetadata(id, b));
    for (auto& id : cb.deletes) wb.Delete(id);
    Status s = (*col)->Write(wb);
    if (!s.ok()) {
      std::fprintf(stderr, "write %llu: %s\n", static_cast<unsigned long long>(b), s.ToString().c_str());
      return 1;
    }
    std::printf("ack %llu\n", static_cast<unsigned long long>(b));
    std::fflush(stdout);
    const bool feedback = argc == 5 && std::string(argv[4]) == "feedback";
    for (size_t j = 0; feedback && j < 3 && j < cb.upserts.size(); ++j) {
      if (Status s = (*col)->Feedback(cb.upserts[j], CrashRating(b, j)); !s.ok()) {
        std::fprintf(stderr, "feedback %llu: %s\n", static_cast<unsigned long long>(b), s.ToString().c_str());
        return 1;
      }
      std::printf("rated %llu %zu\n", static_cast<unsigned long long>(b), j);
      std::fflush(stdout);
    }
    if (argc == 5 && !feedback && b % 4 == 1) {
      std::printf("checkpoint %llu\n", static_cast<unsigned long long>(b));
      std::fflush(stdout);
      if (Status s = (*col)->Checkpoint(); !s.ok()) {
        std::fprintf(stderr, "checkpoint: %s\n", s.ToString().c_str());
        return 1;
      }
    }
    if (argc == 5 && !feedback && b % 4 == 3) {
      std::printf("compact %llu\n", static_cast<unsigned long long>(b));
      std::fflush(stdout);
      if (Status s = (*col)->Compact(); !s.ok()) {
        std::fprintf(stderr, "compact: %s\n", s.ToString().c_str());
        return 1;
      }
    }
  }
}
