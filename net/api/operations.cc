#include "net/api/operations.h"

#include "vectron/status.h"

namespace vectron::net {

namespace {

constexpr RouteAccess kRead{Access::kRead};
constexpr RouteAccess kReadOrConsole{Access::kRead, /*console=*/true};
constexpr RouteAccess kWrite{Access::kWrite};
constexpr RouteAccess kAdmin{Access::kAdmin};
constexpr RouteAccess kFeedback{Access::kFeedback};

Status OutOfRange(const char* field, int64_t v, int64_t lo, int64_t hi) {
  return Status::InvalidArgument(std::string("\"") + field + "\" must be an integer in " + std::to_string(lo) + ".." +
                                 std::to_string(hi) + ", got " + std::to_string(v));
}

}  // namespace

const std::vector<OpSpec>& DataOps() {
  static const std::vector<OpSpec> kOps = {
      {OpId::kCreateCollection, "create_collection", "POST", "/v1/collections", kAdmin, false},
      {OpId::kListCollections, "list_collections", "GET", "/v1/collections", kReadOrConsole, false},
      {OpId::kDescribeCollection, "describe_collection", "GET", "/v1/collections/{name}", kReadOrConsole, false},
      {OpId::kDropCollection, "drop_collection", "DELETE", "/v1/collections/{name}", kAdmin, false},
      {OpId::kSetCollectionMetadata, "set_collection_metadata", "PUT", "/v1/collections/{name}/metadata", kAdmin, false},
      {OpId::kRenameCollection, "rename_collection", "POST", "/v1/collections/{name}/rename", kAdmin, false},
      {OpId::kUpsert, "upsert", "PUT", "/v1/collections/{name}/points", kWrite, true},
      {OpId::kGet, "get", "POST", "/v1/collections/{name}/points/get", kRead, true},
      {OpId::kDelete, "delete", "POST", "/v1/collections/{name}/points/delete", kWrite, true},
      {OpId::kUpdateMetadata, "update_metadata", "POST", "/v1/collections/{name}/points/metadata", kWrite, true},
      {OpId::kUpdateVectors, "update_vectors", "POST", "/v1/collections/{name}/points/vectors", kWrite, true},
      {OpId::kList, "list", "POST", "/v1/collections/{name}/points/list", kRead, true},
      {OpId::kCount, "count", "POST", "/v1/collections/{name}/count", kRead, true},
      {OpId::kScroll, "scroll", "POST", "/v1/collections/{name}/scroll", kRead, true},
      {OpId::kSearch, "search", "POST", "/v1/collections/{name}/search", kRead, true},
      {OpId::kCreateIndex, "create_index", "POST", "/v1/collections/{name}/indexes", kWrite, false},
      {OpId::kListIndexes, "list_indexes", "GET", "/v1/collections/{name}/indexes", kRead, false},
      {OpId::kDropIndex, "drop_index", "DELETE", "/v1/collections/{name}/indexes/{field}", kWrite, false},
      // Feedback (docs/rerank.md): rating takes the feedback or the write scope.
      {OpId::kFeedback, "feedback", "POST", "/v1/collections/{name}/feedback", kFeedback, false},
      {OpId::kFeedbackStats, "feedback_stats", "GET", "/v1/collections/{name}/feedback", kRead, false},
      {OpId::kExportFeedback, "export_feedback", "GET", "/v1/collections/{name}/feedback/export", kRead, false},
      // A collection's default rerank pipeline (docs/rerank.md).
      {OpId::kGetRerank, "get_rerank", "GET", "/v1/collections/{name}/rerank", kRead, false},
      {OpId::kPutRerank, "put_rerank", "PUT", "/v1/collections/{name}/rerank", kWrite, false},
      {OpId::kDeleteRerank, "delete_rerank", "DELETE", "/v1/collections/{name}/rerank", kWrite, false},
  };
  return kOps;
}

const OpSpec& SpecOf(OpId id) {
  const auto& ops = DataOps();
  const size_t i = static_cast<size_t>(id);
  VECTRON_CHECK(i < ops.size() && ops[i].id == id);
  return ops[i];
}

Status CheckSearch(const OpLimits& limits, int64_t k, int64_t offset, int64_t ef, size_t nq) {
  if (k < 1 || k > limits.max_k) return OutOfRange("k", k, 1, limits.max_k);
  if (offset < 0 || offset > limits.max_k) return OutOfRange("offset", offset, 0, limits.max_k);
  if (ef < 0 || ef > limits.max_ef) return OutOfRange("ef", ef, 0, limits.max_ef);
  if (nq == 0) return Status::InvalidArgument("the search holds no query");
  if (nq > limits.max_batch_queries)
    return Status::InvalidArgument("\"vectors\" holds " + std::to_string(nq) + " queries; the limit is " +
                                   std::to_string(limits.max_batch_queries));
  return Status::OK();
}

Status CheckScrollLimit(const OpLimits& limits, int64_t limit) {
  const auto hi = static_cast<int64_t>(limits.max_scroll_limit);
  return limit < 1 || limit > hi ? OutOfRange("limit", limit, 1, hi) : Status::OK();
}

Status CheckListLimit(const OpLimits& limits, int64_t limit) {
  const auto hi = static_cast<int64_t>(limits.max_list_limit);
  return limit < 1 || limit > hi ? OutOfRange("limit", limit, 1, hi) : Status::OK();
}

Status CheckListOffset(const OpLimits& limits, int64_t offset) {
  const auto hi = static_cast<int64_t>(limits.max_list_offset);
  if (offset >= 0 && offset <= hi) return Status::OK();
  Status s = OutOfRange("offset", offset, 0, hi);
  if (offset < 0) return s;
  return Status::InvalidArgument(s.message() + "; page deeper with POST .../scroll and its cursor");
}

Status CheckStaleness(const OpLimits& limits, int64_t max_staleness_ms) {
  const auto hi = static_cast<int64_t>(limits.max_staleness_ms);
  return max_staleness_ms < 0 || max_staleness_ms > hi ? OutOfRange("max_staleness_ms", max_staleness_ms, 0, hi)
                                                       : Status::OK();
}

Status CheckQueries(size_t floats, size_t nq, size_t dim) {
  if (nq != 0 && floats == nq * dim) return Status::OK();
  if (nq == 1) {
    return Status::InvalidArgument("query vector has dimension " + std::to_string(floats) +
                                   ", the collection's is " + std::to_string(dim));
  }
  std::string sent = nq != 0 && floats % nq == 0 ? std::to_string(floats / nq) : "?";
  return Status::InvalidArgument("each query has dimension " + sent + ", the collection's is " +
                                 std::to_string(dim) + " (the queries hold " + std::to_string(floats) +
                                 " numbers; expected nq (" + std::to_string(nq) + ") x dim (" + std::to_string(dim) +
                                 "))");
}

}  // namespace vectron::net
