// Input checks shared by every write and search path, so that a bad request is refused
// before anything is written and with a message naming the problem.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "vectron/options.h"
#include "vectron/status.h"
#include "vectron/types.h"

namespace vectron {

// 1..kMaxIdBytes bytes of valid UTF-8 with no NUL.
Status ValidateId(std::string_view id);
// dim matches and every component is finite; for cosine, the vector is not all zeros.
Status ValidateVector(std::span<const float> v, uint32_t dim, Metric metric, std::string_view what);
// Empty, or a JSON object of at most kMaxMetadataBytes. On success `canonical` is the
// compact re-serialisation (or empty).
Status ValidateMetadata(std::string_view json, std::string* canonical);
// Every entry of the batch, and no id twice. Errors name the entry by position and id.
// `canonical_metadata` receives one canonical metadata string per entry.
Status ValidateBatch(const WriteBatch& batch, const CollectionConfig& config,
                     std::vector<std::string>* canonical_metadata);
Status ValidateSearch(std::span<const float> query, const SearchParams& params,
                      const CollectionConfig& config);

}  // namespace vectron
