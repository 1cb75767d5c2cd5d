#include "vectron/options.h"

#include <nlohmann/json.hpp>

#include "vectron/types.h"

namespace vectron {

std::string_view MetricName(Metric m) {
  switch (m) {
    case Metric::kL2: return "l2";
    case Metric::kCosine: return "cosine";
    case Metric::kIP: return "ip";
  }
  return "?";
}

Result<Metric> ParseMetric(std::string_view name) {
  if (name == "l2") return Metric::kL2;
  if (name == "cosine") return Metric::kCosine;
  if (name == "ip") return Metric::kIP;
  return Status::InvalidArgument("unknown metric \"" + std::string(name) +
                                 "\" (expected l2, cosine or ip)");
}

std::string_view DurabilityName(Durability d) {
  switch (d) {
    case Durability::kFull: return "full";
    case Durability::kNoMetaSync: return "nometasync";
    case Durability::kNoSync: return "nosync";
  }
  return "?";
}

std::string_view QuantizationName(Quantization q) {
  switch (q) {
    case Quantization::kNone: return "none";
    case Quantization::kSq8: return "sq8";
  }
  return "?";
}

Result<Durability> ParseDurability(std::string_view name) {
  if (name == "full") return Durability::kFull;
  if (name == "nometasync" || name == "no_meta_sync") return Durability::kNoMetaSync;
  if (name == "nosync" || name == "no_sync") return Durability::kNoSync;
  return Status::InvalidArgument("durability must be full, nometasync or nosync, got \"" + std::string(name) + "\"");
}

Result<Quantization> ParseQuantization(std::string_view name) {
  if (name == "none") return Quantization::kNone;
  if (name == "sq8") return Quantization::kSq8;
  return Status::InvalidArgument("unknown quantization \"" + std::string(name) + "\" (expected none or sq8)");
}

Status DatabaseOptions::Validate() const {
  if (map_size_bytes < (1ull << 20))
    return Status::InvalidArgument("map_size_bytes must be at least 1 MiB");
  if (threads > 1024) return Status::InvalidArgument("threads must be at most 1024");
  if (!(auto_compact_deleted_share >= 0 && auto_compact_deleted_share <= 1))
    return Status::InvalidArgument("auto_compact_deleted_share must be in [0, 1], got " +
                                   std::to_string(auto_compact_deleted_share));
  return Status::OK();
}

Status CollectionConfig::Validate() const {
  if (dim == 0 || dim > kMaxDim)
    return Status::InvalidArgument("dim must be between 1 and " + std::to_string(kMaxDim) +
                                   ", got " + std::to_string(dim));
  if (quantization != Quantization::kNone && quantization != Quantization::kSq8)
    return Status::InvalidArgument("quantization must be none or sq8, got " +
                                   std::to_string(static_cast<int>(quantization)));
  if (hnsw.m < 2 || hnsw.m > 256)
    return Status::InvalidArgument("hnsw M must be between 2 and 256, got " + std::to_string(hnsw.m));
  if (hnsw.ef_construction < 1 || hnsw.ef_construction > 10000)
    return Status::InvalidArgument("hnsw ef_construction must be between 1 and 10000, got " +
                                   std::to_string(hnsw.ef_construction));
  if (hnsw.ef_search < 1 || hnsw.ef_search > 100000)
    return Status::InvalidArgument("hnsw ef_search must be between 1 and 100000, got " +
                                   std::to_string(hnsw.ef_search));
  if (shards < 1 || shards > 256)
    return Status::InvalidArgument("shards must be between 1 and 256, got " + std::to_string(shards));
  if (checkpoint_every_ops < 1)
    return Status::InvalidArgument("checkpoint_every_ops must be at least 1");
  return Status::OK();
}

std::string CollectionConfig::ToJson() const {
  nlohmann::json j = {
      {"version", 1},
      {"dim", dim},
      {"metric", MetricName(metric)},
      {"hnsw", {{"m", hnsw.m}, {"ef_construction", hnsw.ef_construction},
                {"ef_search", hnsw.ef_search}, {"seed", hnsw.seed}}},
      {"quantization", QuantizationName(quantization)},
      {"shards", shards},
      {"flat_max_points", flat_max_points},
      {"checkpoint_every_ops", checkpoint_every_ops},
  };
  return j.dump();
}

Result<CollectionConfig> CollectionConfig::FromJson(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption("collection config is not a JSON object");
  try {
    if (j.value("version", 0) != 1)
      return Status::FailedPrecondition("collection config version " +
                                        std::to_string(j.value("version", 0)) + " is not supported");
    CollectionConfig c;
    c.dim = j.at("dim").get<uint32_t>();
    VECTRON_ASSIGN_OR_RETURN(c.metric, ParseMetric(j.at("metric").get<std::string>()));
    const auto& h = j.at("hnsw");
    c.hnsw.m = h.at("m").get<uint32_t>();
    c.hnsw.ef_construction = h.at("ef_construction").get<uint32_t>();
    c.hnsw.ef_search = h.at("ef_search").get<uint32_t>();
    c.hnsw.seed = h.at("seed").get<uint64_t>();
    // Configs written before quantization existed hold none.
    c.quantization = Quantization::kNone;
    if (j.contains("quantization")) {
      VECTRON_ASSIGN_OR_RETURN(c.quantization, ParseQuantization(j.at("quantization").get<std::string>()));
    }
    c.shards = j.at("shards").get<uint32_t>();
    c.flat_max_points = j.at("flat_max_points").get<uint64_t>();
    c.checkpoint_every_ops = j.at("checkpoint_every_ops").get<uint64_t>();
    VECTRON_RETURN_IF_ERROR(c.Validate());
    return c;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("collection config: ") + e.what());
  }
}

void WriteBatch::Upsert(std::string id, std::span<const float> vector, std::string metadata) {
  Entry e{Op::kUpsert, std::move(id), vectors_.size(), vector.size(), std::move(metadata)};
  vectors_.insert(vectors_.end(), vector.begin(), vector.end());
  entries_.push_back(std::move(e));
}

void WriteBatch::Delete(std::string id) { entries_.push_back(Entry{Op::kDelete, std::move(id), 0, 0, {}}); }

void WriteBatch::SetMetadata(std::string id, std::string metadata, bool merge) {
  entries_.push_back(Entry{merge ? Op::kMergeMetadata : Op::kSetMetadata, std::move(id), 0, 0, std::move(metadata)});
}

void WriteBatch::UpdateVector(std::string id, std::span<const float> vector) {
  Entry e{Op::kUpdateVector, std::move(id), vectors_.size(), vector.size(), {}};
  vectors_.insert(vectors_.end(), vector.begin(), vector.end());
  entries_.push_back(std::move(e));
}

void WriteBatch::Add(Op op, std::string id, std::span<const float> vector, std::string metadata) {
  switch (op) {
    case Op::kUpsert: Upsert(std::move(id), vector, std::move(metadata)); return;
    case Op::kDelete: Delete(std::move(id)); return;
    case Op::kSetMetadata: SetMetadata(std::move(id), std::move(metadata), false); return;
    case Op::kMergeMetadata: SetMetadata(std::move(id), std::move(metadata), true); return;
    case Op::kUpdateVector: UpdateVector(std::move(id), vector); return;
  }
}

void WriteBatch::Clear() {
  entries_.clear();
  vectors_.clear();
}

}  // namespace vectron

namespace vectron {

const char* PayloadTypeName(PayloadType type) {
  switch (type) {
    case PayloadType::kKeyword: return "keyword";
    case PayloadType::kInteger: return "integer";
    case PayloadType::kFloat: return "float";
    case PayloadType::kBool: return "bool";
  }
  return "unknown";
}

const char* FilterStrategyName(FilterStrategy strategy) {
  switch (strategy) {
    case FilterStrategy::kAuto: return "auto";
    case FilterStrategy::kExact: return "exact";
    case FilterStrategy::kGraph: return "graph";
    case FilterStrategy::kPostFilter: return "post_filter";
  }
  return "unknown";
}

Result<FilterStrategy> ParseFilterStrategy(std::string_view name) {
  for (FilterStrategy s : {FilterStrategy::kAuto, FilterStrategy::kExact, FilterStrategy::kGraph,
                           FilterStrategy::kPostFilter}) {
    if (name == FilterStrategyName(s)) return s;
  }
  if (name == "postfilter") return FilterStrategy::kPostFilter;
  return Status::InvalidArgument("filter_strategy must be 'auto', 'exact', 'graph' or 'post_filter', not '" +
                                 std::string(name) + "'");
}

bool ParsePayloadType(std::string_view name, PayloadType* type) {
  for (PayloadType t : {PayloadType::kKeyword, PayloadType::kInteger, PayloadType::kFloat,
                        PayloadType::kBool}) {
    if (name == PayloadTypeName(t)) {
      *type = t;
      return true;
    }
  }
  return false;
}

Result<PayloadType> ParsePayloadType(std::string_view name) {
  PayloadType t;
  if (!ParsePayloadType(name, &t))
    return Status::InvalidArgument("payload index type must be keyword, integer, float or bool, got \"" +
                                   std::string(name) + "\"");
  return t;
}

}  // namespace vectron
