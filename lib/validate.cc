#include "validate.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "util/untrusted_json.h"

namespace vectron {
namespace {

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) { n = 1; cp = c; }
    else if ((c >> 5) == 0x6) { n = 2; cp = c & 0x1f; }
    else if ((c >> 4) == 0xe) { n = 3; cp = c & 0x0f; }
    else if ((c >> 3) == 0x1e) { n = 4; cp = c & 0x07; }
    else return false;
    if (i + n > s.size()) return false;
    for (size_t j = 1; j < n; ++j) {
      unsigned char cc = static_cast<unsigned char>(s[i + j]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Reject overlong forms, surrogates and out-of-range code points.
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n;
  }
  return true;
}

std::string Quote(std::string_view id) {
  std::string s = "\"";
  for (char c : id.substr(0, 64)) s += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
  if (id.size() > 64) s += "...";
  return s + "\"";
}

}  // namespace

Status ValidateId(std::string_view id) {
  if (id.empty()) return Status::InvalidArgument("id is empty");
  if (id.size() > kMaxIdBytes)
    return Status::InvalidArgument("id is " + std::to_string(id.size()) + " bytes, the limit is " +
                                   std::to_string(kMaxIdBytes));
  if (id.find('\0') != std::string_view::npos) return Status::InvalidArgument("id contains a NUL byte");
  if (!IsValidUtf8(id)) return Status::InvalidArgument("id is not valid UTF-8");
  return Status::OK();
}

Status ValidateVector(std::span<const float> v, uint32_t dim, Metric metric, std::string_view what) {
  if (v.size() != dim)
    return Status::InvalidArgument(std::string(what) + " has dimension " + std::to_string(v.size()) +
                                   ", the collection's is " + std::to_string(dim));
  bool all_zero = true;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i]))
      return Status::InvalidArgument(std::string(what) + " has a non-finite value (" +
                                     (std::isnan(v[i]) ? "NaN" : "Inf") + ") at position " +
                                     std::to_string(i));
    if (v[i] != 0) all_zero = false;
  }
  if (metric == Metric::kCosine && all_zero)
    return Status::InvalidArgument(std::string(what) + " is all zeros, which has no direction for cosine");
  return Status::OK();
}

Status ValidateMetadata(std::string_view json, std::string* canonical) {
  canonical->clear();
  if (json.empty()) return Status::OK();
  if (json.size() > kMaxMetadataBytes)
    return Status::InvalidArgument("metadata is " + std::to_string(json.size()) + " bytes, the limit is " +
                                   std::to_string(kMaxMetadataBytes));
  // ordered_json keeps the user's key order in what Get returns. The seam bounds the
  // nesting (the dump below and payload indexing recurse) and refuses repeated keys.
  Result<nlohmann::ordered_json> parsed = ParseUntrustedOrderedJson(json, "metadata");
  if (!parsed.ok()) return parsed.status();
  const nlohmann::ordered_json& j = *parsed;
  if (!j.is_object())
    return Status::InvalidArgument(std::string("metadata must be a JSON object, got ") + j.type_name());
  try {
    *canonical = j.dump();
  } catch (const nlohmann::json::type_error& e) {
    return Status::InvalidArgument(std::string("metadata is not valid UTF-8 JSON: ") + e.what());
  }
  return Status::OK();
}

Status ValidateBatch(const WriteBatch& batch, const CollectionConfig& config,
                     std::vector<std::string>* canonical_metadata) {
  canonical_metadata->assign(batch.size(), std::string());
  std::unordered_set<std::string_view> seen;
  seen.reserve(batch.size() * 2);
  const auto& entries = batch.entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    auto where = [&](const Status& s) {
      std::string ctx = "batch entry " + std::to_string(i);
      if (!e.id.empty() && s.message().rfind("id ", 0) != 0) ctx += " (id " + Quote(e.id) + ")";
      return s.WithContext(ctx);
    };
    if (Status s = ValidateId(e.id); !s.ok()) return where(s);
    if (!seen.insert(e.id).second)
      return Status::InvalidArgument("batch entry " + std::to_string(i) + ": id " + Quote(e.id) +
                                     " appears more than once in the batch");
    const bool has_vector = e.op == WriteBatch::Op::kUpsert || e.op == WriteBatch::Op::kUpdateVector;
    const bool has_metadata = e.op == WriteBatch::Op::kUpsert || e.op == WriteBatch::Op::kSetMetadata ||
                              e.op == WriteBatch::Op::kMergeMetadata;
    if (e.op != WriteBatch::Op::kDelete && !has_vector && !has_metadata)
      return where(Status::InvalidArgument("unknown write op " + std::to_string(static_cast<int>(e.op))));
    if (has_vector) {
      if (Status s = ValidateVector(batch.vector(e), config.dim, config.metric, "vector"); !s.ok())
        return where(s);
    }
    if (has_metadata) {
      if (Status s = ValidateMetadata(e.metadata, &(*canonical_metadata)[i]); !s.ok()) return where(s);
    }
  }
  return Status::OK();
}

Result<std::string> UpdatedMetadata(std::string_view id, std::string_view stored, std::string_view update,
                                    bool merge) {
  if (!merge) return std::string(update);
  if (update.empty()) return std::string(stored);  // An empty patch changes nothing.
  // Both texts were validated (the stored one when written), so parse cannot fail.
  nlohmann::ordered_json target =
      stored.empty() ? nlohmann::ordered_json::object() : nlohmann::ordered_json::parse(stored, nullptr, false);
  nlohmann::ordered_json patch = nlohmann::ordered_json::parse(update, nullptr, false);
  if (target.is_discarded() || !target.is_object() || patch.is_discarded())
    return Status::Corruption("point " + Quote(id) + " has unparsable metadata");
  target.merge_patch(patch);
  std::string next = target.dump();
  if (next.size() > kMaxMetadataBytes)
    return Status::InvalidArgument("merged metadata of point " + Quote(id) + " is " + std::to_string(next.size()) +
                                   " bytes, the limit is " + std::to_string(kMaxMetadataBytes));
  return next;
}

void TrimHits(std::vector<Hit>& hits, const SearchParams& params) {
  const size_t skip = std::min(hits.size(), static_cast<size_t>(params.offset));
  hits.erase(hits.begin(), hits.begin() + static_cast<ptrdiff_t>(skip));
  if (hits.size() > static_cast<size_t>(params.k)) hits.resize(static_cast<size_t>(params.k));
  if (params.score_threshold) {
    const float t = *params.score_threshold;
    auto it = std::find_if(hits.begin(), hits.end(), [t](const Hit& h) { return h.score > t; });
    hits.erase(it, hits.end());
  }
}

Status ValidateSearch(std::span<const float> query, const SearchParams& params,
                      const CollectionConfig& config) {
  if (params.k <= 0) return Status::InvalidArgument("k must be at least 1, got " + std::to_string(params.k));
  if (params.k > 100000) return Status::InvalidArgument("k must be at most 100000, got " + std::to_string(params.k));
  if (params.ef < 0) return Status::InvalidArgument("ef must be >= 0, got " + std::to_string(params.ef));
  if (params.offset < 0)
    return Status::InvalidArgument("offset must be >= 0, got " + std::to_string(params.offset));
  if (static_cast<int64_t>(params.k) + params.offset > 100000)
    return Status::InvalidArgument("k + offset must be at most 100000, got " +
                                   std::to_string(static_cast<int64_t>(params.k) + params.offset));
  if (params.score_threshold && std::isnan(*params.score_threshold))
    return Status::InvalidArgument("score_threshold is NaN");
  return ValidateVector(query, config.dim, config.metric, "query vector");
}

}  // namespace vectron
