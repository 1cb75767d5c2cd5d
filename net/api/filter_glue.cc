#include "net/api/filter_glue.h"

namespace vectron::net {
namespace {

Status NoFilters() {
  return Status::FailedPrecondition("metadata filters and payload indexes are not available in this build");
}

}  // namespace

Result<uint64_t> CountWhere(const Collection& c, std::string_view where) {
  if (!where.empty()) return NoFilters();
  return c.Count();
}

Result<ScrollPage> ScrollWhere(const Collection& c, std::string_view cursor, size_t limit, const GetOptions& go,
                               std::string_view where) {
  if (!where.empty()) return NoFilters();
  return c.Scroll(cursor, limit, go);
}

Result<std::vector<Hit>> SearchWhere(const Collection& c, std::span<const float> q, SearchParams sp,
                                     std::string_view where) {
  if (!where.empty()) return NoFilters();
  return c.Search(q, sp);
}

Result<std::vector<std::vector<Hit>>> SearchBatchWhere(const Collection& c, std::span<const float> q, SearchParams sp,
                                                       std::string_view where) {
  if (!where.empty()) return NoFilters();
  return c.SearchBatch(q, sp, 1);
}

Result<uint64_t> DeleteWhere(Collection&, std::string_view) { return NoFilters(); }

Status CreatePayloadIndex(Collection&, std::string_view, std::string_view) { return NoFilters(); }

Status DropPayloadIndex(Collection&, std::string_view) { return NoFilters(); }

Result<std::vector<std::pair<std::string, std::string>>> ListPayloadIndexes(const Collection&) {
  return std::vector<std::pair<std::string, std::string>>{};
}

}  // namespace vectron::net
