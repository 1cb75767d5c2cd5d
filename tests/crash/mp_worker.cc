// A writer process for the multi-process test (multiprocess_test.cc). It opens the
// database, prints "ready", waits for a line on stdin, then writes batches
// MpBatch(name, b) for b = 0 .. batches-1, saving an index checkpoint after each, and
// prints "done". Any error is printed to stderr and exits with status 1.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "mp_workload.h"

using namespace vectron;
using namespace vectron::testing;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: mp_worker DIR NAME BATCHES\n");
    return 2;
  }
  const std::string name = argv[2];
  const int batches = std::atoi(argv[3]);
  auto db = Database::Open(argv[1]);
  if (!db.ok()) {
    std::fprintf(stderr, "open: %s\n", db.status().ToString().c_str());
    return 1;
  }
  auto col = (*db)->GetCollection("mp");
  if (!col.ok()) {
    std::fprintf(stderr, "collection: %s\n", col.status().ToString().c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  char line[64];
  if (!std::fgets(line, sizeof(line), stdin)) return 1;
  for (int b = 0; b < batches; ++b) {
    WriteBatch wb = MpBatch(name, b);
    if (Status s = (*col)->Write(wb); !s.ok()) {
      std::fprintf(stderr, "%s write %d: %s\n", name.c_str(), b, s.ToString().c_str());
      return 1;
    }
    if (Status s = (*col)->Checkpoint(); !s.ok()) {
      std::fprintf(stderr, "%s checkpoint %d: %s\n", name.c_str(), b, s.ToString().c_str());
      return 1;
    }
  }
  std::printf("done\n");
  std::fflush(stdout);
  return 0;
}
