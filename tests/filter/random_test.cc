// Randomized differential test: random metadata and random filters, comparing
// Matches with a brute-force reference evaluator written here from docs/filter.md.
// The reference walks the filter JSON directly (not the parsed tree) and compares
// numbers as long double, which holds every int64, uint64 and double exactly on
// x86-64 (64-bit mantissa), so it shares no code with the library's exact compare.

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "filter/filter.h"
#include "gen.h"

namespace vectron::filter {
namespace {

using nlohmann::json;
using testing::Gen;

// ---- Reference evaluator ---------------------------------------------------------

std::vector<std::string> Split(const std::string& dotted) {
  std::vector<std::string> out(1);
  for (char c : dotted) {
    if (c == '.') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

void Resolve(const json& node, const std::vector<std::string>& path, size_t i, std::vector<json>& out) {
  if (i == path.size()) {
    out.push_back(node);
  } else if (node.is_object()) {
    if (node.contains(path[i])) Resolve(node.at(path[i]), path, i + 1, out);
  } else if (node.is_array()) {
    for (const json& e : node) {
      if (e.is_object()) Resolve(e, path, i, out);
    }
  }
}

long double AsLongDouble(const json& j) {
  if (j.is_number_unsigned()) return static_cast<long double>(j.get<uint64_t>());
  if (j.is_number_integer()) return static_cast<long double>(j.get<int64_t>());
  return static_cast<long double>(j.get<double>());
}

// -1, 0, 1, or 2 if the two values do not compare (different types, or non-scalars).
int RefCompare(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    const long double x = AsLongDouble(a);
    const long double y = AsLongDouble(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.get<std::string>().compare(b.get<std::string>());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_boolean() && b.is_boolean()) return a.get<bool>() == b.get<bool>() ? 0 : 2;
  if (a.is_null() && b.is_null()) return 0;
  return 2;
}

bool RefWhere(const json& where, const json& meta);

bool RefOp(const std::string& field, const std::string& op, const json& operand, const json& meta) {
  std::vector<json> values;
  Resolve(meta, Split(field), 0, values);
  if (op == "$exists") return !values.empty() == operand.get<bool>();
  if (op == "$ne") return !RefOp(field, "$eq", operand, meta);
  if (op == "$nin") return !RefOp(field, "$in", operand, meta);
  if (op == "$not") {
    for (const auto& [op2, operand2] : operand.items()) {
      if (!RefOp(field, op2, operand2, meta)) return true;
    }
    return false;
  }
  std::vector<json> candidates;
  for (const json& v : values) {
    if (v.is_array()) {
      for (const json& e : v) candidates.push_back(e);
    } else {
      candidates.push_back(v);
    }
  }
  for (const json& c : candidates) {
    if (op == "$in") {
      for (const json& x : operand) {
        if (RefCompare(c, x) == 0) return true;
      }
      continue;
    }
    const int o = RefCompare(c, operand);
    if (o == 2) continue;
    if ((op == "$eq" && o == 0) || (op == "$gt" && o > 0) || (op == "$gte" && o >= 0) ||
        (op == "$lt" && o < 0) || (op == "$lte" && o <= 0)) {
      return true;
    }
  }
  return false;
}

bool RefWhere(const json& where, const json& meta) {
  for (const auto& [key, value] : where.items()) {
    bool ok = true;
    if (key == "$and") {
      for (const json& w : value) ok = ok && RefWhere(w, meta);
    } else if (key == "$or") {
      ok = false;
      for (const json& w : value) ok = ok || RefWhere(w, meta);
    } else if (key == "$not") {
      ok = !RefWhere(value, meta);
    } else if (value.is_object()) {
      for (const auto& [op, operand] : value.items()) ok = ok && RefOp(key, op, operand, meta);
    } else {
      ok = RefOp(key, "$eq", value, meta);
    }
    if (!ok) return false;
  }
  return true;
}

TEST_CASE("Matches agrees with a brute-force reference on random filters and metadata") {
  if (std::numeric_limits<long double>::digits < 64) {
    MESSAGE("skipped: the reference needs a 64-bit long double mantissa");
    return;
  }
  Gen gen(20261122);
  std::vector<json> metadata;
  for (int i = 0; i < 64; ++i) metadata.push_back(gen.Metadata());

  int matched = 0;
  int total = 0;
  for (int i = 0; i < 4000; ++i) {
    const json where = gen.Where(0);
    auto parsed = Parse(where);
    INFO("filter: ", where.dump());
    REQUIRE_MESSAGE(parsed.ok(), parsed.status().message());
    const Filter& f = *parsed;

    // The canonical text must parse to a filter that behaves the same.
    auto reparsed = ParseText(ToString(f));
    REQUIRE(reparsed.ok());
    CHECK(ToString(*reparsed) == ToString(f));

    for (const json& m : metadata) {
      INFO("metadata: ", m.dump());
      const bool want = RefWhere(where, m.is_object() ? m : json::object());
      const bool got = Matches(f, m);
      CHECK(got == want);
      CHECK(Matches(*reparsed, m) == want);
      matched += got;
      ++total;
    }
  }
  // Guard against a generator whose filters are all trivially true or false.
  CHECK(matched > total / 20);
  CHECK(matched < total - total / 20);
}

}  // namespace
}  // namespace vectron::filter
