// The REST handlers' calls into the engine's filter API (where, payload indexes), in
// one place.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vectron/collection.h"

namespace vectron::net {

// Each forwards to the Collection method of the same purpose; `where` is JSON filter
// text, empty for none. Errors: those of the engine call.
Result<uint64_t> CountWhere(const Collection& c, std::string_view where);
Result<ScrollPage> ScrollWhere(const Collection& c, std::string_view cursor, size_t limit, const GetOptions& go,
                               std::string_view where);
Result<std::vector<Hit>> SearchWhere(const Collection& c, std::span<const float> q, SearchParams sp,
                                     std::string_view where);
// Row-major queries; runs on the calling thread only.
Result<std::vector<std::vector<Hit>>> SearchBatchWhere(const Collection& c, std::span<const float> q, SearchParams sp,
                                                       std::string_view where);
Result<uint64_t> DeleteWhere(Collection& c, std::string_view where);
// `type` is "keyword", "integer", "float" or "bool". Errors: InvalidArgument naming it.
Status CreatePayloadIndex(Collection& c, std::string_view field, std::string_view type);
Status DropPayloadIndex(Collection& c, std::string_view field);
// (field, type name) pairs.
Result<std::vector<std::pair<std::string, std::string>>> ListPayloadIndexes(const Collection& c);

}  // namespace vectron::net
