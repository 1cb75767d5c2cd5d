// Metadata filters: a JSON `where` object (Chroma/MongoDB style) parsed into a typed
// tree and evaluated against a record's JSON metadata. The semantics are specified in
// docs/filter.md; this header is the whole public surface.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "filter/ast.h"
#include "vectron/status.h"

namespace vectron::filter {

// Limits that keep a hostile filter from exhausting stack, time or memory.
inline constexpr int kMaxDepth = 32;             // Nesting of tree nodes.
inline constexpr int kMaxNodes = 1024;           // Tree nodes in one filter.
inline constexpr size_t kMaxSetValues = 10'000;  // Values in one $in/$nin list.
// JSON text nested deeper than this is rejected before it is parsed; no valid filter
// needs more (each tree level takes at most two JSON levels).
inline constexpr int kMaxJsonDepth = 2 * kMaxDepth + 8;

// A parsed filter: an immutable tree, cheap to share by const reference across
// threads. Default-constructed, it matches everything.
class Filter {
 public:
  Filter() = default;
  // `root` must satisfy the invariants stated in ast.h, as parser output does; the
  // evaluator does not re-check them. Prefer Parse.
  explicit Filter(Node root) : root_(std::move(root)) {}

  // The tree; the invariants each node kind satisfies are stated in ast.h.
  const Node& root() const { return root_; }
  // True for the empty filter {} (lets callers skip evaluation).
  bool MatchesAll() const { return root_.kind == NodeKind::kTrue; }

 private:
  Node root_;
};

// Parses a where-object; JSON null means "no filter" (matches all). Errors:
// InvalidArgument "filter at $.<position>: <problem>".
Result<Filter> Parse(const nlohmann::json& where);

// Parses JSON text, then as Parse. Malformed JSON is InvalidArgument naming the byte.
Result<Filter> ParseText(std::string_view json_text);

// True if `metadata` passes `f`. A null or non-object metadata is an empty object.
// Does not allocate; safe to call concurrently.
bool Matches(const Filter& f, const nlohmann::json& metadata);

// Canonical compact JSON of `f`: ParseText(ToString(f)) yields the same tree and the
// same string. Multi-key objects print as $and, field-level $not as top-level $not.
std::string ToString(const Filter& f);

// Canonical compact JSON of one subtree, e.g. a conjunct, for logs and plans.
std::string ToString(const Node& n);

// The terms whose conjunction is `f`, for the planner: nested $and nodes are
// flattened, {} gives none, and any other root gives itself. Pointers live as long
// as `f`.
std::vector<const Node*> Conjuncts(const Filter& f);

// Every field path the filter reads, deduplicated and sorted by segments: lets the
// engine see which payload indexes could help before planning.
std::vector<FieldPath> ReferencedFields(const Filter& f);

}  // namespace vectron::filter
