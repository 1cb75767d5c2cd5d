#include "checkpoint_files.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "index/hnsw_index.h"
#include "util/files.h"

namespace vectron {
namespace {

std::optional<nlohmann::json> ReadMeta(const std::string& dir) {
  auto text = ReadFile(dir + "/index.meta");
  if (!text.ok()) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

}  // namespace

std::optional<uint64_t> SavedCheckpointSeq(const std::string& dir) {
  auto j = ReadMeta(dir);
  if (!j || !j->contains("seq") || !(*j)["seq"].is_number_unsigned()) return std::nullopt;
  return (*j)["seq"].get<uint64_t>();
}

std::string SavedCheckpointFile(const std::string& dir) {
  auto j = ReadMeta(dir);
  if (!j || !j->contains("file") || !(*j)["file"].is_string()) return "";
  return (*j)["file"].get<std::string>();
}

std::string UniqueSuffix() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%ld-%llu-%08llx", static_cast<long>(::getpid()),
                static_cast<unsigned long long>(counter.fetch_add(1)),
                static_cast<unsigned long long>(rng() & 0xffffffffull));
  return buf;
}

namespace {

constexpr char kHandoffFile[] = "/graph.handoff";
// An offer is taken seconds after it is made (the new group opens right after the split
// is applied); one that is not (the copy was abandoned) holds a whole graph's memory, so
// few are kept, and not for long.
constexpr size_t kHandoffsKept = 2;
constexpr auto kHandoffMaxAge = std::chrono::minutes(5);

struct Offer {
  std::string token;
  HandedGraph graph;
  std::chrono::steady_clock::time_point made;
};

struct Handoffs {
  std::mutex mu;
  std::deque<Offer> offers;  // oldest first
  // Drops the offers over the limits, into `dropped` (freed by the caller, unlocked).
  void Trim(size_t keep, std::vector<std::unique_ptr<HnswIndex>>* dropped) {
    const auto now = std::chrono::steady_clock::now();
    while (!offers.empty() && (offers.size() > keep || now - offers.front().made > kHandoffMaxAge)) {
      dropped->push_back(std::move(offers.front().graph.graph));
      offers.pop_front();
    }
  }
};

Handoffs& TheHandoffs() {
  static Handoffs* h = new Handoffs;  // Never destroyed: copies may open during exit.
  return *h;
}

}  // namespace

Status OfferGraph(const std::string& dir, HandedGraph g) {
  const std::string token = UniqueSuffix();
  VECTRON_RETURN_IF_ERROR(WriteFileAtomic(dir + kHandoffFile, token));
  Handoffs& h = TheHandoffs();
  std::vector<std::unique_ptr<HnswIndex>> dropped;  // freed outside the lock
  std::lock_guard lock(h.mu);
  h.Trim(kHandoffsKept - 1, &dropped);
  h.offers.push_back(Offer{token, std::move(g), std::chrono::steady_clock::now()});
  return Status::OK();
}

std::optional<HandedGraph> TakeGraph(const std::string& dir) {
  auto token = ReadFile(dir + kHandoffFile);
  if (!token.ok()) return std::nullopt;
  (void)RemoveAll(dir + kHandoffFile);
  Handoffs& h = TheHandoffs();
  std::vector<std::unique_ptr<HnswIndex>> dropped;
  std::lock_guard lock(h.mu);
  h.Trim(kHandoffsKept, &dropped);
  for (auto it = h.offers.begin(); it != h.offers.end(); ++it) {
    if (it->token != *token) continue;
    HandedGraph g = std::move(it->graph);
    h.offers.erase(it);
    return g;
  }
  return std::nullopt;
}

void RemoveStaleCheckpointFiles(const std::string& dir, const std::string& keep) {
  auto names = ListDir(dir);
  if (!names.ok()) return;
  for (const auto& n : *names)
    if (n != keep && n.rfind("index-", 0) == 0) (void)RemoveAll(dir + "/" + n);
}

}  // namespace vectron
