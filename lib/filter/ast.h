// The typed syntax tree of a parsed filter. Built only by the parser, so every node
// satisfies the invariants stated here; the evaluator and planner rely on them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "filter/value.h"

namespace vectron::filter {

enum class NodeKind : uint8_t {
  kTrue,     // Matches every record: the empty filter {}.
  kAnd,      // All children match (at least one child).
  kOr,       // Some child matches (at least one child).
  kNot,      // The single child does not match.
  kCompare,  // path op value.
  kIn,       // path $in / $nin a set of scalars.
  kExists,   // path $exists true/false.
};

enum class CompareOp : uint8_t { kEq, kNe, kGt, kGte, kLt, kLte };
enum class SetOp : uint8_t { kIn, kNin };

// "$eq", "$in", ...: the spelling used in filters and by ToString.
std::string_view OpName(CompareOp op);
std::string_view OpName(SetOp op);

// A dotted field name split at the dots: "a.b.c" -> {"a", "b", "c"}. Segments are
// non-empty, contain no '.', and do not start with '$'.
struct FieldPath {
  std::vector<std::string> segments;

  // The dotted form, "a.b.c".
  std::string Dotted() const;
  friend bool operator==(const FieldPath&, const FieldPath&) = default;
};

// The operand list of $in/$nin, deduplicated and sorted by CompareScalars, plus the
// same values split by type so that membership is a binary search.
struct ScalarSet {
  std::vector<Scalar> values;        // Canonical order; never empty.
  bool has_null = false;
  bool has_false = false;
  bool has_true = false;
  std::vector<Number> numbers;       // Sorted by CompareNumbers, all finite.
  std::vector<std::string> strings;  // Sorted bytewise.

  // True if the scalar metadata value `v` equals a member (arrays/objects: false).
  bool Contains(const nlohmann::json& v) const;
};

// One node. Which fields are meaningful depends on `kind`; the others stay empty.
struct Node {
  NodeKind kind = NodeKind::kTrue;
  std::vector<Node> children;  // kAnd, kOr (>= 1), kNot (exactly 1).
  FieldPath path;              // kCompare, kIn, kExists.
  CompareOp compare_op = CompareOp::kEq;  // kCompare.
  Scalar value;                // kCompare. Range ops: only Number or std::string.
  SetOp set_op = SetOp::kIn;   // kIn.
  ScalarSet set;               // kIn.
  bool exists = true;          // kExists: the operand of $exists.
};

}  // namespace vectron::filter
