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
// The metadata of point `id` after a set (`merge` false: `update` replaces `stored`) or
// an RFC 7396 merge patch (`update` into `stored`); both are canonical JSON-object text
// or empty. Errors: InvalidArgument (the result is over kMaxMetadataBytes), Corruption
// (`stored` unparsable).
Result<std::string> UpdatedMetadata(std::string_view id, std::string_view stored, std::string_view update,
                                    bool merge);
// Every entry of the batch, and no id twice. Errors name the entry by position and id.
// `canonical_metadata` receives one canonical metadata string per entry.
Status ValidateBatch(const WriteBatch& batch, const CollectionConfig& config,
                     std::vector<std::string>* canonical_metadata);
// Applies params.offset and params.score_threshold to `hits` (nearest first, k +
// offset of them at most): drops the first offset hits and those above the threshold.
void TrimHits(std::vector<Hit>& hits, const SearchParams& params);
Status ValidateSearch(std::span<const float> query, const SearchParams& params,
                      const CollectionConfig& config);

}  // namespace vectron
