// Parser: the tree built for each operator, canonical printing, and every kind of
// malformed filter with the position and problem it reports.

#include <string>

#include <doctest/doctest.h>

#include "filter/filter.h"
#include "test_util.h"

namespace vectron::filter {
namespace {

using nlohmann::json;
using testing::MustParse;
using testing::ParseError;

// Canonical form of a filter text.
std::string Canon(std::string_view text) { return ToString(MustParse(text)); }

TEST_CASE("the empty object and null parse to a filter that matches everything") {
  CHECK(MustParse("{}").MatchesAll());
  CHECK(MustParse("null").MatchesAll());
  CHECK(Parse(json()).ok());
  CHECK(Filter().MatchesAll());
  CHECK(ToString(Filter()) == "{}");
}

TEST_CASE("a scalar field value is an implicit $eq comparison") {
  const Filter f = MustParse(R"({"genre": "jazz"})");
  const Node& n = f.root();
  CHECK(n.kind == NodeKind::kCompare);
  CHECK(n.compare_op == CompareOp::kEq);
  CHECK(n.path.segments == std::vector<std::string>{"genre"});
  CHECK(std::get<std::string>(n.value) == "jazz");
  CHECK(ToString(f) == R"({"genre":{"$eq":"jazz"}})");
}

TEST_CASE("every comparison operator parses to a compare node with its operand") {
  const std::pair<const char*, CompareOp> ops[] = {{"$eq", CompareOp::kEq},   {"$ne", CompareOp::kNe},
                                                   {"$gt", CompareOp::kGt},   {"$gte", CompareOp::kGte},
                                                   {"$lt", CompareOp::kLt},   {"$lte", CompareOp::kLte}};
  for (const auto& [name, op] : ops) {
    const std::string text = std::string(R"({"price": {")") + name + R"(": 5}})";
    const Filter f = MustParse(text);
    CHECK(f.root().kind == NodeKind::kCompare);
    CHECK(f.root().compare_op == op);
    CHECK(OpName(op) == name);
    CHECK(std::get<Number>(f.root().value).int_value() == 5);
    CHECK(ToString(f) == text.substr(0, 0) + R"({"price":{")" + name + R"(":5}})");
  }
}

TEST_CASE("$eq and $ne accept strings, numbers, booleans and null") {
  for (const char* v : {"\"x\"", "1", "-1", "1.5", "true", "false", "null"}) {
    CHECK(Canon(std::string(R"({"a": {"$eq": )") + v + "}}") == std::string(R"({"a":{"$eq":)") + v + "}}");
    CHECK(Canon(std::string(R"({"a": {"$ne": )") + v + "}}") == std::string(R"({"a":{"$ne":)") + v + "}}");
  }
}

TEST_CASE("range operators accept numbers and strings") {
  CHECK(Canon(R"({"a": {"$gt": "m"}})") == R"({"a":{"$gt":"m"}})");
  CHECK(Canon(R"({"a": {"$lte": -2.5}})") == R"({"a":{"$lte":-2.5}})");
}

TEST_CASE("integers keep their exact value beyond 2^53 and floats stay floats") {
  CHECK(Canon(R"({"a": 9007199254740993})") == R"({"a":{"$eq":9007199254740993}})");
  CHECK(Canon(R"({"a": 18446744073709551615})") == R"({"a":{"$eq":18446744073709551615}})");
  CHECK(Canon(R"({"a": -9223372036854775808})") == R"({"a":{"$eq":-9223372036854775808}})");
  CHECK(Canon(R"({"a": 2.0})") == R"({"a":{"$eq":2.0}})");
  const Filter f = MustParse(R"({"a": 5})");
  CHECK(std::get<Number>(f.root().value).kind() == Number::Kind::kInt);
}

TEST_CASE("$in and $nin take a list that is deduplicated and sorted canonically") {
  const Filter f = MustParse(R"({"a": {"$in": ["b", 2, true, null, "a", 1.0, 1, false, "b"]}})");
  const Node& n = f.root();
  CHECK(n.kind == NodeKind::kIn);
  CHECK(n.set_op == SetOp::kIn);
  CHECK(n.set.values.size() == 7);
  CHECK(n.set.has_null);
  CHECK(n.set.has_true);
  CHECK(n.set.has_false);
  CHECK(n.set.numbers.size() == 2);
  CHECK(n.set.strings == std::vector<std::string>{"a", "b"});
  CHECK(ToString(f) == R"({"a":{"$in":[null,false,true,1.0,2,"a","b"]}})");
  CHECK(Canon(R"({"a": {"$nin": [3]}})") == R"({"a":{"$nin":[3]}})");
  CHECK(MustParse(R"({"a": {"$nin": [3]}})").root().set_op == SetOp::kNin);
}

TEST_CASE("$exists takes a boolean") {
  const Filter f = MustParse(R"({"a.b": {"$exists": false}})");
  CHECK(f.root().kind == NodeKind::kExists);
  CHECK_FALSE(f.root().exists);
  CHECK(f.root().path.segments == std::vector<std::string>{"a", "b"});
  CHECK(ToString(f) == R"({"a.b":{"$exists":false}})");
}

TEST_CASE("several keys in one object form an $and") {
  const Filter f = MustParse(R"({"a": 1, "b": {"$gt": 2, "$lt": 5}})");
  CHECK(f.root().kind == NodeKind::kAnd);
  REQUIRE(f.root().children.size() == 2);
  CHECK(f.root().children[1].kind == NodeKind::kAnd);
  CHECK(ToString(f) == R"({"$and":[{"a":{"$eq":1}},{"$and":[{"b":{"$gt":2}},{"b":{"$lt":5}}]}]})");
}

TEST_CASE("$and, $or and $not build logical nodes") {
  CHECK(MustParse(R"({"$and": [{"a": 1}, {"b": 2}]})").root().kind == NodeKind::kAnd);
  CHECK(MustParse(R"({"$or": [{"a": 1}]})").root().kind == NodeKind::kOr);
  const Filter n = MustParse(R"({"$not": {"a": 1}})");
  CHECK(n.root().kind == NodeKind::kNot);
  CHECK(n.root().children.at(0).kind == NodeKind::kCompare);
  CHECK(Canon(R"({"$or": [{"a": 1}, {"$not": {}}]})") == R"({"$or":[{"a":{"$eq":1}},{"$not":{}}]})");
}

TEST_CASE("a field-level $not negates its operators and prints as a top-level $not") {
  const Filter f = MustParse(R"({"a": {"$not": {"$gt": 1, "$lt": 3}}})");
  CHECK(f.root().kind == NodeKind::kNot);
  CHECK(f.root().children.at(0).kind == NodeKind::kAnd);
  CHECK(ToString(f) == R"({"$not":{"$and":[{"a":{"$gt":1}},{"a":{"$lt":3}}]}})");
}

TEST_CASE("Conjuncts flattens nested $and for the planner") {
  const Filter f = MustParse(R"({"$and": [{"a": 1, "b": {"$in": [1, 2]}}, {"$or": [{"c": 1}]}], "d": 2})");
  const auto terms = Conjuncts(f);
  REQUIRE(terms.size() == 4);
  CHECK(terms[0]->path.Dotted() == "a");
  CHECK(terms[1]->kind == NodeKind::kIn);
  CHECK(terms[1]->set.values.size() == 2);
  CHECK(terms[2]->kind == NodeKind::kOr);
  CHECK(terms[3]->path.Dotted() == "d");
  CHECK(ToString(*terms[1]) == R"({"b":{"$in":[1,2]}})");
  CHECK(Conjuncts(MustParse("{}")).empty());
  CHECK(Conjuncts(MustParse(R"({"$and": [{}, {"a": 1}]})")).size() == 1);
  CHECK(Conjuncts(MustParse(R"({"x": 1})")).size() == 1);
}

TEST_CASE("ReferencedFields lists each field path once, sorted") {
  const auto fields = ReferencedFields(
      MustParse(R"({"b": 1, "$or": [{"a.c": 1}, {"$not": {"b": {"$exists": true}}}], "a": {"$in": [1]}})"));
  REQUIRE(fields.size() == 3);
  CHECK(fields[0].Dotted() == "a");
  CHECK(fields[1].Dotted() == "a.c");
  CHECK(fields[2].Dotted() == "b");
  CHECK(ReferencedFields(MustParse("{}")).empty());
}

TEST_CASE("ToString output parses back to the same canonical string") {
  for (const char* text : {
           R"({"a": 1, "b": {"$gt": 2, "$lt": 5}})",
           R"({"$or": [{"a.b": {"$in": [1, "x", null]}}, {"c": {"$exists": true}}]})",
           R"({"a": {"$not": {"$ne": false}}})",
           R"({"$not": {"$and": [{"x": {"$nin": [1.5, -0.0]}}]}})",
           R"({"s": "\u00e9\n\"q\""})",
           R"({"n": 1e300, "m": -1.25e-300})",
       }) {
    const std::string once = Canon(text);
    CHECK(Canon(once) == once);
  }
}

TEST_CASE("ToString replaces invalid UTF-8 from a json built in code instead of throwing") {
  auto r = Parse(json{{"a", "\xff"}});
  REQUIRE(r.ok());
  CHECK(ToString(*r) == "{\"a\":{\"$eq\":\"\xef\xbf\xbd\"}}");
}

TEST_CASE("Parse accepts a json value built in code") {
  json where = {{"genre", "jazz"}, {"year", {{"$gte", 1950}}}};
  auto r = Parse(where);
  REQUIRE(r.ok());
  CHECK(r->root().kind == NodeKind::kAnd);
}

// ---- Malformed filters -----------------------------------------------------------

TEST_CASE("invalid JSON text is reported with the byte offset") {
  const std::string e = ParseError(R"({"a": 1,})");
  CHECK(e.find("filter is not valid JSON: error at byte 9") == 0);
  CHECK(ParseError("").find("not valid JSON") != std::string::npos);
  CHECK(ParseError("{\"a\": \"\xff\"}").find("not valid JSON") != std::string::npos);
  CHECK(ParseError("{} {}").find("not valid JSON") != std::string::npos);
  CHECK(ParseError(R"({"a": 1e400})") == "filter is not valid JSON: number overflow parsing '1e400'");
}

TEST_CASE("a filter that is not an object is rejected") {
  CHECK(ParseError("[1]") == "filter at $: expected a filter object, got array");
  CHECK(ParseError("3") == "filter at $: expected a filter object, got number");
  CHECK(ParseError("\"a\"") == "filter at $: expected a filter object, got string");
  CHECK(ParseError("true") == "filter at $: expected a filter object, got boolean");
}

TEST_CASE("unknown operators are rejected where they appear") {
  CHECK(ParseError(R"({"$nor": []})") == "filter at $.$nor: unknown operator $nor");
  CHECK(ParseError(R"({"a": {"$regex": "x"}})") == "filter at $.a.$regex: unknown operator $regex");
  CHECK(ParseError(R"({"a": {"$": 1}})") == "filter at $.a.$: unknown operator $");
}

TEST_CASE("field operators at the top level are rejected with a hint") {
  CHECK(ParseError(R"({"$gt": 5})") ==
        R"(filter at $.$gt: $gt must be applied to a field, as in {"price": {"$gt": ...}})");
  CHECK(ParseError(R"({"$in": [1]})").find("must be applied to a field") != std::string::npos);
  CHECK(ParseError(R"({"$exists": true})").find("must be applied to a field") != std::string::npos);
}

TEST_CASE("$and and $or inside a field's operators are rejected") {
  CHECK(ParseError(R"({"a": {"$and": [{"$gt": 1}]}})") ==
        "filter at $.a.$and: $and is not allowed inside a field's operators; put it at the top level");
  CHECK(ParseError(R"({"a": {"$or": []}})").find("not allowed inside a field") != std::string::npos);
}

TEST_CASE("$and and $or require a non-empty array of objects") {
  CHECK(ParseError(R"({"$and": {"a": 1}})") == "filter at $.$and: $and expects a non-empty array of objects, got object");
  CHECK(ParseError(R"({"$or": []})") == "filter at $.$or: $or expects a non-empty array of objects, got an empty array");
  CHECK(ParseError(R"({"$or": [{"a": 1}, 2]})") == "filter at $.$or[1]: $or elements must be objects, got number");
  CHECK(ParseError(R"({"$and": null})").find("got null") != std::string::npos);
}

TEST_CASE("$not requires an object") {
  CHECK(ParseError(R"({"$not": [{"a": 1}]})") == "filter at $.$not: $not expects an object, got array");
  CHECK(ParseError(R"({"a": {"$not": 5}})") == "filter at $.a.$not: $not expects an object of operators, got number");
  CHECK(ParseError(R"({"a": {"$not": {"b": 5}}})").find("nested objects are not matched directly") !=
        std::string::npos);
}

TEST_CASE("operands of the wrong type are rejected naming operator and type") {
  CHECK(ParseError(R"({"$and": [{"a": 1}, {"price": {"$gt": [1]}}]})") ==
        "filter at $.$and[1].price.$gt: $gt expects a number or string, got array");
  CHECK(ParseError(R"({"a": {"$gte": true}})") == "filter at $.a.$gte: $gte expects a number or string, got boolean");
  CHECK(ParseError(R"({"a": {"$lt": null}})") == "filter at $.a.$lt: $lt expects a number or string, got null");
  CHECK(ParseError(R"({"a": {"$lte": {}}})") == "filter at $.a.$lte: $lte expects a number or string, got object");
  CHECK(ParseError(R"({"a": {"$eq": [1]}})") ==
        "filter at $.a.$eq: $eq expects a number, string, boolean or null, got array");
  CHECK(ParseError(R"({"a": {"$ne": {"x": 1}}})") ==
        "filter at $.a.$ne: $ne expects a number, string, boolean or null, got object");
  CHECK(ParseError(R"({"a": {"$exists": 1}})") == "filter at $.a.$exists: $exists expects a boolean, got number");
  CHECK(ParseError(R"({"a": {"$exists": "true"}})").find("got string") != std::string::npos);
}

TEST_CASE("$in and $nin require a non-empty array of scalars") {
  CHECK(ParseError(R"({"a": {"$in": 1}})") == "filter at $.a.$in: $in expects a non-empty array of scalars, got number");
  CHECK(ParseError(R"({"a": {"$nin": []}})") ==
        "filter at $.a.$nin: $nin expects a non-empty array of scalars, got an empty array");
  CHECK(ParseError(R"({"a": {"$in": [1, [2]]}})") ==
        "filter at $.a.$in[1]: $in element expects a number, string, boolean or null, got array");
  CHECK(ParseError(R"({"a": {"$nin": [{}]}})").find("$.a.$nin[0]") != std::string::npos);
}

TEST_CASE("array and object field values are rejected with a hint") {
  CHECK(ParseError(R"({"tags": ["a", "b"]})") ==
        "filter at $.tags: an array cannot be matched directly; use $in to match any of several values");
  CHECK(ParseError(R"({"a": {"b": 1}})") ==
        R"(filter at $.a: nested objects are not matched directly; use a dotted field name such as "a.b" or operators such as $eq)");
  CHECK(ParseError(R"({"a": {"$eq": 1, "b": 1}})").find("nested objects") != std::string::npos);
  CHECK(ParseError(R"({"a": {}})") == R"(filter at $.a: empty operator object; expected operators such as {"$eq": ...})");
}

TEST_CASE("bad field names are rejected") {
  CHECK(ParseError(R"({"": 1})") == R"(filter at $[""]: field name is empty)");
  CHECK(ParseError(R"({"a..b": 1})").find("has an empty segment") != std::string::npos);
  CHECK(ParseError(R"({".a": 1})").find("has an empty segment") != std::string::npos);
  CHECK(ParseError(R"({"a.": 1})").find("has an empty segment") != std::string::npos);
  CHECK(ParseError(R"({"a.$b": 1})") == R"(filter at $.a.$b: field name "a.$b" has a segment starting with '$')");
  CHECK(ParseError(R"({"with space": {"$gt": []}})") ==
        R"(filter at $["with space"].$gt: $gt expects a number or string, got array)");
}

TEST_CASE("nesting deeper than the limit is rejected") {
  std::string deep;
  for (int i = 0; i < kMaxDepth; ++i) deep += R"({"$not": )";
  deep += R"({"a": 1})";
  for (int i = 0; i < kMaxDepth; ++i) deep += "}";
  CHECK(ParseError(deep).find("nested deeper than 32 levels") != std::string::npos);

  std::string ok;
  for (int i = 0; i < kMaxDepth - 1; ++i) ok += R"({"$not": )";
  ok += R"({"a": 1})";
  for (int i = 0; i < kMaxDepth - 1; ++i) ok += "}";
  CHECK(ParseText(ok).ok());

  std::string very_deep(100000, '[');
  CHECK(ParseError(very_deep) == "filter JSON is nested deeper than 72 levels at byte 72");
}

TEST_CASE("the deepest allowed filter round-trips through its canonical text") {
  // Nested $and prints two JSON levels per tree level, the most any form needs.
  json where = {{"a", {{"$in", {1, 2}}}}};
  for (int i = 1; i < kMaxDepth; ++i) where = json{{"$and", json::array({where})}};
  auto r = Parse(where);
  REQUIRE(r.ok());
  auto again = ParseText(ToString(*r));
  REQUIRE_MESSAGE(again.ok(), again.status().message());
  CHECK(ToString(*again) == ToString(*r));
  CHECK_FALSE(Parse(json{{"$and", json::array({where})}}).ok());
}

TEST_CASE("a json built in code nested far beyond the limit is rejected without recursion") {
  json where = {{"a", 1}};
  for (int i = 0; i < 100000; ++i) where = json{{"$not", std::move(where)}};
  auto r = Parse(where);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("nested deeper than 32 levels") != std::string::npos);
}

TEST_CASE("filters with too many conditions or $in values are rejected") {
  json many = json::object();
  for (int i = 0; i < kMaxNodes; ++i) many[std::string("f").append(std::to_string(i))] = i;
  auto r = Parse(many);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("more than 1024 conditions") != std::string::npos);

  json big = json::array();
  for (size_t i = 0; i <= kMaxSetValues; ++i) big.push_back(i);
  auto r2 = Parse(json{{"a", {{"$in", big}}}});
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.status().message() == "filter at $.a.$in: $in has 10001 values; the limit is 10000");
  big.erase(big.size() - 1);
  CHECK(Parse(json{{"a", {{"$in", big}}}}).ok());
}

TEST_CASE("non-finite numbers built in code are rejected") {
  auto r = Parse(json{{"a", {{"$gt", std::numeric_limits<double>::infinity()}}}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "filter at $.a.$gt: $gt expects a finite number");
  CHECK_FALSE(Parse(json{{"a", std::nan("")}}).ok());
}

}  // namespace
}  // namespace vectron::filter
