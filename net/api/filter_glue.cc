#include "net/api/filter_glue.h"

namespace vectron::net {

Result<uint64_t> CountWhere(const Collection& c, std::string_view where) { return c.Count(where); }

Result<ScrollPage> ScrollWhere(const Collection& c, std::string_view cursor, size_t limit, const GetOptions& go,
                               std::string_view where) {
  return c.Scroll(cursor, limit, go, where);
}

Result<std::vector<Hit>> SearchWhere(const Collection& c, std::span<const float> q, SearchParams sp,
                                     std::string_view where) {
  sp.where = std::string(where);
  return c.Search(q, sp);
}

Result<std::vector<std::vector<Hit>>> SearchBatchWhere(const Collection& c, std::span<const float> q, SearchParams sp,
                                                       std::string_view where) {
  sp.where = std::string(where);
  return c.SearchBatch(q, sp, 1);
}

Result<uint64_t> DeleteWhere(Collection& c, std::string_view where) { return c.DeleteWhere(where); }

Status CreatePayloadIndex(Collection& c, std::string_view field, std::string_view type) {
  PayloadType t;
  if (!ParsePayloadType(type, &t))
    return Status::InvalidArgument("\"type\" must be keyword, integer, float or bool, got \"" + std::string(type) + "\"");
  return c.CreatePayloadIndex(field, t);
}

Status DropPayloadIndex(Collection& c, std::string_view field) { return c.DropPayloadIndex(field); }

Result<std::vector<std::pair<std::string, std::string>>> ListPayloadIndexes(const Collection& c) {
  VECTRON_ASSIGN_OR_RETURN(auto list, c.ListPayloadIndexes());
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& i : list) out.emplace_back(i.field, PayloadTypeName(i.type));
  return out;
}

}  // namespace vectron::net
