// Payload indexes and filter allow-lists.
//
// A payload index maps the values one metadata field takes (of one type: keyword,
// integer, float or bool) to the labels holding them, as CRoaring bitmaps. LMDB holds
// the durable copy (written in the same transaction as the points, see
// docs/formats/storage.md); PayloadState is the in-memory form a shard searches with.
// ComputeAllow turns a parsed filter into the exact set of matching live labels, using
// the indexes for every predicate they can answer and evaluating the metadata JSON for
// the rest. See docs/filter.md ("Payload indexes and the planner").
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <roaring/roaring.hh>

#include "filter/filter.h"
#include "vectron/status.h"
#include "vectron/types.h"

namespace vectron::payload {

using Bitmap = Roaring;

// Labels are 32-bit inside bitmaps; a shard never hands out more labels than that.
inline constexpr uint64_t kMaxLabel = 0xffffffffull;

// One index definition, as stored in the shard's meta "payload_indexes" (a JSON array).
struct Definition {
  std::string field;  // Dotted path.
  PayloadType type;
  uint32_t slot;      // Key prefix in the LMDB "payload" and "payload_other" databases.
};

// Parses / prints the stored list. Errors: Corruption.
Result<std::vector<Definition>> ParseDefinitions(std::string_view json_text);
std::string DefinitionsToJson(const std::vector<Definition>& defs);

// Checks a field name for CreatePayloadIndex and returns its parsed path.
// Errors: InvalidArgument naming the problem.
Result<filter::FieldPath> ParseFieldName(std::string_view field);

// The index keys `metadata` holds for an index of `type` at `path` (deduplicated), and
// whether it also holds values the index could be asked about but cannot store (e.g.
// 2.5 in an integer index): those labels go to the "other" set and are evaluated from
// their JSON when such a predicate is asked.
void ExtractKeys(const nlohmann::json& metadata, const filter::FieldPath& path, PayloadType type,
                 std::vector<std::string>* keys, bool* other);

// LMDB keys: [u32 BE slot][value key][u64 BE label] in "payload",
// [u32 BE slot][u64 BE label] in "payload_other".
std::string PostingKey(uint32_t slot, std::string_view value_key, uint64_t label);
std::string OtherKey(uint32_t slot, uint64_t label);
std::string SlotPrefix(uint32_t slot);

// In-memory index of one field.
struct FieldIndex {
  Definition def;
  filter::FieldPath path;
  std::map<std::string, Bitmap, std::less<>> postings;  // value key -> labels
  Bitmap other;
  std::vector<std::string> fwd;  // label -> its value keys, each as [u8 len][key]

  void Remove(uint32_t label);
  void Add(uint32_t label, const std::vector<std::string>& keys, bool is_other);
  size_t memory_bytes() const;
};

// What a shard keeps in memory for filtering. Not thread-safe: the shard guards it with
// its state lock (shared for reads, exclusive for updates).
class PayloadState {
 public:
  // Replaces the definitions; indexes whose field and slot are unchanged keep their
  // contents, new ones start empty (the caller loads them).
  void SetDefinitions(std::vector<Definition> defs, std::string raw_json);
  const std::string& raw_definitions() const { return raw_defs_; }
  const std::vector<std::unique_ptr<FieldIndex>>& indexes() const { return indexes_; }
  FieldIndex* Find(std::string_view field);
  bool has_indexes() const { return !indexes_.empty(); }

  // Live labels (every point of the shard).
  const Bitmap& live() const { return live_; }
  void ClearAll();
  // A point was inserted or replaced with `metadata` (canonical JSON text or empty).
  void Upsert(uint64_t label, std::string_view metadata);
  void Remove(uint64_t label);
  // Loading from LMDB: the point exists (keys come through AddPosting/AddOther).
  void MarkLive(uint64_t label) { live_.add(static_cast<uint32_t>(label)); }
  void AddLoaded(FieldIndex& fi, uint64_t label, std::string_view key, bool is_other);

  size_t memory_bytes() const;
  // Bumped on every change; allow-list caches key on it.
  uint64_t version() const { return version_; }
  void set_version(uint64_t v) { version_ = v; }

 private:
  std::vector<std::unique_ptr<FieldIndex>> indexes_;
  std::string raw_defs_;
  Bitmap live_;
  uint64_t version_ = 0;
};

// Returns the metadata JSON text of `label` at the caller's snapshot, or nullopt if the
// point no longer exists.
using MetadataLoader = std::function<Result<std::optional<std::string_view>>(uint64_t label)>;

// What ComputeAllow did, for plans and tests.
struct AllowStats {
  uint64_t indexed_predicates = 0;  // Leaves answered from payload indexes.
  uint64_t json_evaluations = 0;    // Metadata documents parsed and evaluated.
};

// The exact set of live labels whose metadata matches `f`.
Result<Bitmap> ComputeAllow(const filter::Filter& f, const PayloadState& state, const MetadataLoader& load,
                            AllowStats* stats = nullptr);

}  // namespace vectron::payload
