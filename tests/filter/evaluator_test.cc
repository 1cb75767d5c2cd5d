// Evaluator: the documented semantics of each operator on hand-written metadata.

#include <doctest/doctest.h>

#include "filter/filter.h"
#include "test_util.h"

namespace vectron::filter {
namespace {

using nlohmann::json;
using testing::M;
using testing::MustParse;

TEST_CASE("implicit equality matches the same value only") {
  CHECK(M(R"({"genre": "jazz"})", R"({"genre": "jazz"})"));
  CHECK_FALSE(M(R"({"genre": "jazz"})", R"({"genre": "rock"})"));
  CHECK_FALSE(M(R"({"genre": "jazz"})", R"({})"));
  CHECK_FALSE(M(R"({"genre": "jazz"})", R"({"genre": null})"));
}

TEST_CASE("the empty filter matches every record including null metadata") {
  CHECK(M("{}", "{}"));
  CHECK(M("{}", "null"));
  CHECK(M("{}", R"({"a": 1})"));
}

TEST_CASE("null or non-object metadata behaves as an empty object") {
  CHECK_FALSE(M(R"({"a": 1})", "null"));
  CHECK(M(R"({"a": {"$ne": 1}})", "null"));
  CHECK(M(R"({"a": {"$exists": false}})", "[1, 2]"));
  CHECK_FALSE(M(R"({"a": {"$exists": true}})", "5"));
}

TEST_CASE("values of different types are never equal") {
  CHECK_FALSE(M(R"({"a": 1})", R"({"a": "1"})"));
  CHECK_FALSE(M(R"({"a": 1})", R"({"a": true})"));
  CHECK_FALSE(M(R"({"a": true})", R"({"a": 1})"));
  CHECK_FALSE(M(R"({"a": 0})", R"({"a": null})"));
  CHECK_FALSE(M(R"({"a": ""})", R"({"a": null})"));
  CHECK(M(R"({"a": true})", R"({"a": true})"));
  CHECK_FALSE(M(R"({"a": false})", R"({"a": true})"));
}

TEST_CASE("integers and floats compare numerically") {
  CHECK(M(R"({"a": 1})", R"({"a": 1.0})"));
  CHECK(M(R"({"a": 1.0})", R"({"a": 1})"));
  CHECK(M(R"({"a": {"$gt": 1}})", R"({"a": 1.5})"));
  CHECK(M(R"({"a": {"$lt": 2}})", R"({"a": 1.5})"));
  CHECK(M(R"({"a": {"$gte": -1.5}})", R"({"a": -1})"));
  CHECK_FALSE(M(R"({"a": {"$gt": -1}})", R"({"a": -1.5})"));
  CHECK(M(R"({"a": -0.0})", R"({"a": 0})"));
}

TEST_CASE("integers beyond 2^53 compare exactly against integers and floats") {
  // 2^53 + 1 is not a double; it must not collapse to 2^53.
  CHECK_FALSE(M(R"({"a": 9007199254740993})", R"({"a": 9007199254740992})"));
  CHECK_FALSE(M(R"({"a": 9007199254740993})", R"({"a": 9007199254740992.0})"));
  CHECK(M(R"({"a": {"$gt": 9007199254740992.0}})", R"({"a": 9007199254740993})"));
  CHECK(M(R"({"a": 9007199254740992})", R"({"a": 9007199254740992.0})"));
  CHECK(M(R"({"a": {"$lt": 9223372036854775807}})", R"({"a": 9223372036854775806})"));
  CHECK(M(R"({"a": {"$gt": 9223372036854775807}})", R"({"a": 9223372036854775808})"));
  CHECK(M(R"({"a": {"$lt": 9223372036854775808.0}})", R"({"a": 9223372036854775807})"));
  CHECK(M(R"({"a": {"$gte": 9223372036854775808.0}})", R"({"a": 9223372036854775808})"));
  CHECK_FALSE(M(R"({"a": {"$gt": 9223372036854775808.0}})", R"({"a": 9223372036854775808})"));
  CHECK(M(R"({"a": {"$gt": 18446744073709551614}})", R"({"a": 18446744073709551615})"));
  CHECK(M(R"({"a": {"$lt": 1.8446744073709552e19}})", R"({"a": 18446744073709551615})"));
  CHECK(M(R"({"a": {"$lt": -9223372036854775807}})", R"({"a": -9223372036854775808})"));
  CHECK(M(R"({"a": {"$lt": -9223372036854775808}})", R"({"a": -1e30})"));
  CHECK(M(R"({"a": {"$gt": 1e30}})", R"({"a": 1e300})"));
}

TEST_CASE("strings compare as bytes, so uppercase sorts before lowercase") {
  CHECK(M(R"({"a": {"$gt": "B"}})", R"({"a": "a"})"));
  CHECK(M(R"({"a": {"$lt": "b"}})", R"({"a": "abc"})"));
  CHECK(M(R"({"a": {"$gte": "abc"}})", R"({"a": "abc"})"));
  CHECK(M(R"({"a": {"$gt": "z"}})", R"({"a": "\u00e9"})"));  // UTF-8 0xC3 > 'z'.
  CHECK_FALSE(M(R"({"a": {"$gt": "a"}})", R"({"a": ""})"));
}

TEST_CASE("range operators never match values of another type") {
  CHECK_FALSE(M(R"({"a": {"$gt": 1}})", R"({"a": "5"})"));
  CHECK_FALSE(M(R"({"a": {"$lt": "z"}})", R"({"a": 5})"));
  CHECK_FALSE(M(R"({"a": {"$gte": 0}})", R"({"a": true})"));
  CHECK_FALSE(M(R"({"a": {"$lte": 0}})", R"({"a": null})"));
  CHECK_FALSE(M(R"({"a": {"$gt": 0}})", R"({"a": {"b": 1}})"));
}

TEST_CASE("several operators on one field must all hold") {
  const char* f = R"({"a": {"$gt": 1, "$lt": 5}})";
  CHECK(M(f, R"({"a": 3})"));
  CHECK_FALSE(M(f, R"({"a": 5})"));
  CHECK_FALSE(M(f, R"({"a": 1})"));
}

TEST_CASE("several keys in one object must all hold") {
  const char* f = R"({"genre": "jazz", "year": {"$gte": 1950}})";
  CHECK(M(f, R"({"genre": "jazz", "year": 1959})"));
  CHECK_FALSE(M(f, R"({"genre": "jazz", "year": 1940})"));
  CHECK_FALSE(M(f, R"({"genre": "rock", "year": 1959})"));
}

TEST_CASE("$ne matches missing fields and values of other types") {
  CHECK(M(R"({"a": {"$ne": 1}})", R"({})"));
  CHECK(M(R"({"a": {"$ne": 1}})", R"({"a": "1"})"));
  CHECK(M(R"({"a": {"$ne": 1}})", R"({"a": 2})"));
  CHECK_FALSE(M(R"({"a": {"$ne": 1}})", R"({"a": 1.0})"));
}

TEST_CASE("null matches explicit null only, and $ne null matches missing fields") {
  CHECK(M(R"({"a": null})", R"({"a": null})"));
  CHECK_FALSE(M(R"({"a": null})", R"({})"));
  CHECK_FALSE(M(R"({"a": {"$ne": null}})", R"({"a": null})"));
  CHECK(M(R"({"a": {"$ne": null}})", R"({})"));
  CHECK(M(R"({"a": {"$ne": null}})", R"({"a": 0})"));
  CHECK(M(R"({"a": {"$in": [null]}})", R"({"a": [1, null]})"));
}

TEST_CASE("$in matches any listed value and $nin matches none of them") {
  const char* in = R"({"a": {"$in": ["x", 2, true]}})";
  CHECK(M(in, R"({"a": "x"})"));
  CHECK(M(in, R"({"a": 2.0})"));
  CHECK(M(in, R"({"a": true})"));
  CHECK_FALSE(M(in, R"({"a": false})"));
  CHECK_FALSE(M(in, R"({"a": "y"})"));
  CHECK_FALSE(M(in, R"({})"));
  const char* nin = R"({"a": {"$nin": ["x", 2]}})";
  CHECK(M(nin, R"({"a": "y"})"));
  CHECK(M(nin, R"({})"));
  CHECK_FALSE(M(nin, R"({"a": 2})"));
}

TEST_CASE("$in with large integers distinguishes neighbours beyond 2^53") {
  const char* in = R"({"a": {"$in": [9007199254740993, 18446744073709551615]}})";
  CHECK(M(in, R"({"a": 9007199254740993})"));
  CHECK_FALSE(M(in, R"({"a": 9007199254740992})"));
  CHECK_FALSE(M(in, R"({"a": 9007199254740992.0})"));
  CHECK(M(in, R"({"a": 18446744073709551615})"));
  CHECK_FALSE(M(in, R"({"a": 18446744073709551614})"));
}

TEST_CASE("$exists is true for any present value including null") {
  CHECK(M(R"({"a": {"$exists": true}})", R"({"a": null})"));
  CHECK(M(R"({"a": {"$exists": true}})", R"({"a": []})"));
  CHECK_FALSE(M(R"({"a": {"$exists": true}})", R"({"b": 1})"));
  CHECK(M(R"({"a": {"$exists": false}})", R"({"b": 1})"));
  CHECK_FALSE(M(R"({"a": {"$exists": false}})", R"({"a": false})"));
}

TEST_CASE("dotted paths reach into nested objects") {
  CHECK(M(R"({"a.b.c": 1})", R"({"a": {"b": {"c": 1}}})"));
  CHECK_FALSE(M(R"({"a.b.c": 1})", R"({"a": {"b": 1}})"));
  CHECK_FALSE(M(R"({"a.b": 1})", R"({"a.b": 1})"));  // Keys with dots are unreachable.
  CHECK(M(R"({"a.b": {"$exists": true}})", R"({"a": {"b": {}}})"));
  CHECK_FALSE(M(R"({"a.b": {"$exists": true}})", R"({"a": 5})"));
}

TEST_CASE("an array field matches if any element matches") {
  const char* tags = R"({"tags": ["jazz", "live", 3]})";
  CHECK(M(R"({"tags": "jazz"})", tags));
  CHECK(M(R"({"tags": {"$eq": "live"}})", tags));
  CHECK_FALSE(M(R"({"tags": "rock"})", tags));
  CHECK(M(R"({"tags": {"$gt": 2}})", tags));
  CHECK(M(R"({"tags": {"$lt": "k"}})", tags));
  CHECK_FALSE(M(R"({"tags": "jazz"})", R"({"tags": []})"));
  CHECK_FALSE(M(R"({"tags": "jazz"})", R"({"tags": [["jazz"]]})"));  // One level only.
}

TEST_CASE("$in on an array field matches if any element is in the set") {
  CHECK(M(R"({"tags": {"$in": ["rock", "live"]}})", R"({"tags": ["jazz", "live"]})"));
  CHECK_FALSE(M(R"({"tags": {"$in": ["rock", "pop"]}})", R"({"tags": ["jazz", "live"]})"));
}

TEST_CASE("$ne and $nin on an array field match only if no element is equal") {
  CHECK_FALSE(M(R"({"tags": {"$ne": "jazz"}})", R"({"tags": ["jazz", "live"]})"));
  CHECK(M(R"({"tags": {"$ne": "rock"}})", R"({"tags": ["jazz", "live"]})"));
  CHECK(M(R"({"tags": {"$ne": "rock"}})", R"({"tags": []})"));
  CHECK_FALSE(M(R"({"tags": {"$nin": ["live", "x"]}})", R"({"tags": ["jazz", "live"]})"));
  CHECK(M(R"({"tags": {"$nin": ["rock"]}})", R"({"tags": ["jazz", "live"]})"));
}

TEST_CASE("a range on an array field may be satisfied by different elements") {
  // As in MongoDB: each operator needs some element, not necessarily the same one.
  CHECK(M(R"({"a": {"$gt": 5, "$lt": 3}})", R"({"a": [1, 9]})"));
}

TEST_CASE("paths fan out over arrays of objects") {
  const char* items = R"({"items": [{"sku": "a1", "qty": 2}, {"sku": "b2", "qty": [7, 8]}, 5]})";
  CHECK(M(R"({"items.sku": "b2"})", items));
  CHECK(M(R"({"items.qty": 8})", items));
  CHECK_FALSE(M(R"({"items.sku": "c3"})", items));
  CHECK(M(R"({"items.sku": {"$ne": "c3"}})", items));
  CHECK_FALSE(M(R"({"items.sku": {"$ne": "a1"}})", items));
  CHECK(M(R"({"items.qty": {"$exists": true}})", items));
  CHECK_FALSE(M(R"({"items.price": {"$exists": true}})", items));
  CHECK_FALSE(M(R"({"items.0": {"$exists": true}})", items));  // No positional indexes.
}

TEST_CASE("$and, $or and $not combine conditions") {
  const char* m = R"({"a": 1, "b": 2})";
  CHECK(M(R"({"$and": [{"a": 1}, {"b": 2}]})", m));
  CHECK_FALSE(M(R"({"$and": [{"a": 1}, {"b": 3}]})", m));
  CHECK(M(R"({"$or": [{"a": 5}, {"b": 2}]})", m));
  CHECK_FALSE(M(R"({"$or": [{"a": 5}, {"b": 5}]})", m));
  CHECK(M(R"({"$not": {"a": 5}})", m));
  CHECK_FALSE(M(R"({"$not": {"a": 1, "b": 2}})", m));
  CHECK(M(R"({"$not": {"a": 1, "b": 3}})", m));
  CHECK_FALSE(M(R"({"$not": {}})", m));
}

TEST_CASE("a field-level $not matches missing fields, like $ne") {
  CHECK(M(R"({"a": {"$not": {"$gt": 5}}})", R"({"a": 3})"));
  CHECK_FALSE(M(R"({"a": {"$not": {"$gt": 5}}})", R"({"a": 7})"));
  CHECK(M(R"({"a": {"$not": {"$gt": 5}}})", R"({})"));
  CHECK(M(R"({"a": {"$not": {"$gt": 5}}})", R"({"a": "z"})"));
}

TEST_CASE("non-finite numbers in metadata built in code do not break comparisons") {
  const Filter f = MustParse(R"({"a": {"$in": [1, 2, 3]}})");
  CHECK_FALSE(Matches(f, json{{"a", std::nan("")}}));
  CHECK_FALSE(Matches(MustParse(R"({"a": {"$gt": 1}})"), json{{"a", std::nan("")}}));
  CHECK(Matches(MustParse(R"({"a": {"$ne": 1}})"), json{{"a", std::nan("")}}));
  CHECK(Matches(MustParse(R"({"a": {"$gt": 1e308}})"), json{{"a", std::numeric_limits<double>::infinity()}}));
  CHECK(Matches(MustParse(R"({"a": {"$gt": 18446744073709551615}})"),
                json{{"a", std::numeric_limits<double>::infinity()}}));
}

}  // namespace
}  // namespace vectron::filter
