// The operation table: every data operation a front end serves, once, with its name,
// its REST route, the access the caller's token needs (net/auth/access.h) and whether it
// carries bulk data (points, ids, vectors, filters: the server's body limit); and the
// limits on a request's size (OpLimits). The REST codec (rest_data.h) in `vectron serve`
// and in the gateway, the RPC server and the OpenAPI document all read this table, so
// an access rule or a limit cannot differ between them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "net/auth/access.h"
#include "vectron/collection.h"
#include "vectron/status.h"

namespace vectron::net {

enum class OpId : uint8_t {
  kCreateCollection,
  kListCollections,
  kDescribeCollection,
  kDropCollection,
  kSetCollectionMetadata,
  kRenameCollection,
  kUpsert,
  kGet,
  kDelete,
  kUpdateMetadata,
  kUpdateVectors,
  kList,
  kCount,
  kScroll,
  kSearch,
  kCreateIndex,
  kListIndexes,
  kDropIndex,
  kFeedback,
  kFeedbackStats,
  kExportFeedback,
  kGetRerank,
  kPutRerank,
  kDeleteRerank,
};

// One row of the table.
struct OpSpec {
  OpId id;
  const char* name;     // "search": metrics, logs, errors.
  const char* method;   // REST method and path pattern ({name}: the collection).
  const char* pattern;
  RouteAccess access;   // What the caller's token must allow (docs/auth.md).
  bool bulk;            // Carries points, ids, vectors or filters.
};

// Every operation, in OpId order.
const std::vector<OpSpec>& DataOps();
// The row of `id`.
const OpSpec& SpecOf(OpId id);

// A get of at most this many ids is light: the loop may run it itself when the server
// has nothing else to do (net/io/inline_gate.h).
inline constexpr size_t kLightGetIds = 256;

// The limits on one request, the same for every front end.
struct OpLimits {
  int max_k = 10000;                  // Largest k (and offset) a search may ask for.
  size_t max_batch_queries = 4096;    // Most queries in one batch search.
  size_t max_scroll_limit = 10000;    // Largest scroll page.
  size_t max_list_limit = kMaxListLimit;  // Largest points/list page.
  // Largest points/list offset: each request walks the points it skips, so deeper pages
  // go through scroll's cursor, which costs the same at any depth.
  uint64_t max_list_offset = 100000;
  int max_ef = 1 << 20;               // Largest ef of a search.
  uint64_t max_staleness_ms = 3600000;  // Largest follower-read staleness a read may accept.
  size_t max_export_ratings = 1'000'000;  // Largest feedback export page (?limit=).
  // A feedback export page ends once its body reaches this many bytes, whatever its
  // limit (a page of 1,000,000 ratings with 4 KiB comments would otherwise hold 4 GB).
  size_t export_page_bytes = 4 << 20;
};

// Each checks one request against `limits`. Errors: InvalidArgument naming the field,
// the value sent and the limit.
Status CheckSearch(const OpLimits& limits, int64_t k, int64_t offset, int64_t ef, size_t nq);
Status CheckScrollLimit(const OpLimits& limits, int64_t limit);
Status CheckListLimit(const OpLimits& limits, int64_t limit);
Status CheckListOffset(const OpLimits& limits, int64_t offset);
Status CheckStaleness(const OpLimits& limits, int64_t max_staleness_ms);
// `floats` numbers holding `nq` queries for a collection of dimension `dim`.
// Errors: InvalidArgument naming the dimension sent and the collection's.
Status CheckQueries(size_t floats, size_t nq, size_t dim);

}  // namespace vectron::net
