// WorkerNode's heartbeats to PD, driven by a manual clock (the rest of the worker is
// covered by the whole-cluster simulator and the real-process tests).
#include <doctest/doctest.h>

#include <variant>
#include <vector>

#include "net/cluster/worker_node.h"
#include "tests/net/temp_dir.h"
#include "tests/sim/sim_log_store.h"

namespace vectron::net::cluster {
namespace {

using net::testing::ScopedTempDir;

// Keeps the heartbeats a worker sends.
class HeartbeatLog final : public Transport {
 public:
  void Send(const NodeId&, Envelope msg) override {
    if (auto* hb = std::get_if<PdHeartbeat>(&msg)) sent.push_back(*hb);
  }
  std::vector<PdHeartbeat> sent;
};

struct OneWorker {
  ScopedTempDir tmp{"worker-node"};
  ManualClock clock{1'000'000};
  HeartbeatLog transport;
  sim::SimLogStore store;
  InlineExecutor executor;
  std::unique_ptr<WorkerNode> worker;
  OneWorker() {
    WorkerNodeOptions o;
    o.id = 1;
    o.data_dir = tmp.path;
    o.pd_members = {100};
    o.heartbeat_ms = 500;
    worker = std::make_unique<WorkerNode>(o, clock, transport, store, executor);
    REQUIRE(worker->Start().ok());
  }
  // Answers the last heartbeat with `again_ms`, then runs the worker each millisecond until
  // it sends the next one; returns how many ms that took.
  uint64_t NextHeartbeatAfter(uint32_t again_ms) {
    REQUIRE(!transport.sent.empty());
    PdHeartbeatResponse r;
    r.rpc_id = transport.sent.back().rpc_id;
    r.pd_leader = 100;
    r.registered = true;
    r.again_ms = again_ms;
    worker->Receive(NodeId{NodeKind::kPd, 100}, r);
    const size_t before = transport.sent.size();
    for (uint64_t ms = 1; ms <= 1000; ++ms) {
      clock.Advance(1);
      REQUIRE(worker->RunOnce().ok());
      if (transport.sent.size() > before) return ms;
    }
    FAIL("no heartbeat within 1 s");
    return 0;
  }
};

TEST_CASE("a worker heartbeats PD again as soon as PD asks, but never more often than every 20 ms") {
  OneWorker w;
  REQUIRE(w.worker->RunOnce().ok());
  REQUIRE(w.transport.sent.size() == 1);  // The first heartbeat goes at once.
  CHECK(w.NextHeartbeatAfter(0) == 500);    // Its own period.
  CHECK(w.NextHeartbeatAfter(50) == 50);    // PD has an order waiting (a split's).
  CHECK(w.NextHeartbeatAfter(5000) == 500); // Never later than its own period.
  // A misbehaving PD asking for 1 ms would otherwise make every loop heartbeat.
  CHECK(w.NextHeartbeatAfter(1) == kMinHeartbeatAgainMs);
}

}  // namespace
}  // namespace vectron::net::cluster
