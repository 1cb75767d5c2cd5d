// The untrusted-JSON seam (lib/util/untrusted_json.h) and what it protects in the engine:
// over-deep metadata and filters are refused with InvalidArgument, not a stack overflow.
#include <doctest/doctest.h>

#include <string>

#include "test_util.h"
#include "util/untrusted_json.h"

using namespace vectron;
using testing::TempDir;
using testing::VectorForId;

namespace {

std::string Nested(int depth, std::string_view open, std::string_view leaf, std::string_view close) {
  std::string s;
  s.reserve(depth * (open.size() + close.size()) + leaf.size());
  for (int i = 0; i < depth; ++i) s += open;
  s += leaf;
  for (int i = 0; i < depth; ++i) s += close;
  return s;
}

// The same value types everywhere (== calls 3 and 3u equal; nlohmann's parser makes
// a non-negative integer unsigned, and code may ask is_number_unsigned()).
template <typename Json>
bool SameTypes(const Json& a, const Json& b) {
  if (a.type() != b.type() || a.size() != b.size()) return false;
  if (a.is_array()) {
    for (size_t i = 0; i < a.size(); ++i)
      if (!SameTypes(a[i], b[i])) return false;
  }
  if (a.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it)
      if (!b.contains(it.key()) || !SameTypes(it.value(), b.at(it.key()))) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("untrusted JSON nested past kMaxJsonNesting is refused before parsing, at any depth") {
  // At the limit: fine, with arrays and objects alike.
  CHECK(ParseUntrustedJson(Nested(kMaxJsonNesting, "[", "1", "]"), "body").ok());
  CHECK(ParseUntrustedJson(Nested(kMaxJsonNesting - 1, "{\"a\":", "{}", "}"), "body").ok());
  for (int depth : {kMaxJsonNesting + 1, 100000}) {
    CAPTURE(depth);
    auto r = ParseUntrustedJson(Nested(depth, "[", "1", "]"), "request body");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().IsInvalidArgument());
    CHECK(r.status().message() == "request body is nested deeper than " + std::to_string(kMaxJsonNesting) +
                                      " levels at byte " + std::to_string(kMaxJsonNesting));
    auto o = ParseUntrustedOrderedJson(Nested(depth, "{\"a\":", "1", "}"), "metadata");
    REQUIRE_FALSE(o.ok());
    CHECK(o.status().message().rfind("metadata is nested deeper than", 0) == 0);
  }
  // Brackets inside strings (with escaped quotes) are not nesting.
  std::string in_string = "[\"" + std::string(1000, '[') + "\\\"" + std::string(1000, '{') + "\"]";
  CHECK(ParseUntrustedJson(in_string, "body").ok());
  CHECK(FindJsonNestingAbove(in_string, 1) == std::nullopt);
  CHECK(FindJsonNestingAbove("[[[]]]", 2) == std::optional<size_t>(2));
}

TEST_CASE("untrusted JSON with a key repeated in one object is refused, naming the key and where") {
  auto top = ParseUntrustedJson(R"({"k": 1, "k": 2})", "request body");
  REQUIRE_FALSE(top.ok());
  CHECK(top.status().message() == "request body repeats the key \"k\" at $ (each key may appear once per object)");
  auto deep = ParseUntrustedJson(R"({"points": [{"id": "a"}, {"id": "b", "metadata": {"x": 1, "y": {}, "x": 2}}]})",
                                 "request body");
  REQUIRE_FALSE(deep.ok());
  CHECK(deep.status().message().find("\"x\" at $.points[1].metadata") != std::string::npos);
  auto ordered = ParseUntrustedOrderedJson(R"({"a": {"b": [1, {"c": 1, "c": 1}]}})", "metadata");
  REQUIRE_FALSE(ordered.ok());
  CHECK(ordered.status().message().find("\"c\" at $.a.b[1]") != std::string::npos);
  // The same key in different objects, and keys that look alike, are fine.
  CHECK(ParseUntrustedJson(R"({"a": {"k": 1}, "b": {"k": 1}, "K": [{"k": 0}, {"k": 1}]})", "body").ok());
  CHECK(ParseUntrustedJson(R"({"a:b": "c:d", "e": ":"})", "body").ok());
}

TEST_CASE("untrusted JSON errors echo at most a short excerpt of the input") {
  std::string long_token = "[" + std::string(100000, 'x') + "]";
  auto r = ParseUntrustedJson(long_token, "request body");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().rfind("request body is not valid JSON: error at byte", 0) == 0);
  CHECK(r.status().message().size() < 300);
  std::string long_key = "{\"" + std::string(100000, 'k') + "\": 1, \"" + std::string(100000, 'k') + "\": 2}";
  auto dup = ParseUntrustedJson(long_key, "request body");
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.status().message().size() < 300);
  CHECK(ParseUntrustedJson("1e400", "x").status().message() == "x is not valid JSON: number overflow parsing '1e400'");
  CHECK(Excerpt("abc") == "abc");
  CHECK(Excerpt(std::string(100, 'a'), 4) == "aaaa... (100 bytes)");
  CHECK(Excerpt("a\nb\x01") == "a?b?");
  CHECK(DescribeJson(nlohmann::json::parse("[1,2,3]")) == "an array of 3 elements");
  CHECK(DescribeJson(nlohmann::json::parse(R"({"a":1})")) == "an object of 1 key");
  CHECK(DescribeJson(nlohmann::json(std::string(1000, 'q'))).size() < 100);
  CHECK(DescribeJson(nlohmann::json(9223372036854775808ull)) == "9223372036854775808");
}

TEST_CASE("the engine refuses 100,000-deep metadata and filters with InvalidArgument, writing nothing") {
  TempDir dir;
  auto db = Database::Open(dir.path()).value();
  CollectionConfig cfg;
  cfg.dim = 4;
  cfg.metric = Metric::kL2;
  std::shared_ptr<Collection> c = db->CreateCollection("c", cfg).value();
  REQUIRE(c->CreatePayloadIndex("a", PayloadType::kKeyword).ok());
  const std::string deep_meta = Nested(100000, "{\"a\":", "1", "}");  // ~600 KB, under kMaxMetadataBytes.
  WriteBatch b;
  b.Upsert("ok", VectorForId("ok", 4), R"({"a": "x"})");
  b.Upsert("deep", VectorForId("deep", 4), deep_meta);
  Status s = c->Write(b);
  CHECK(s.IsInvalidArgument());
  CHECK_MESSAGE(s.message().find("metadata is nested deeper than 128 levels") != std::string::npos, s.message());
  CHECK(c->Count().value() == 0);
  // A number nlohmann cannot hold was an exception escaping Write (found by the
  // json_body fuzzer); now it is InvalidArgument like any malformed metadata.
  WriteBatch overflow;
  overflow.Upsert("o", VectorForId("o", 4), R"({"a": 1e400})");
  Status o = c->Write(overflow);
  CHECK(o.IsInvalidArgument());
  CHECK_MESSAGE(o.message().find("number overflow") != std::string::npos, o.message());
  WriteBatch dup;
  dup.Upsert("dup", VectorForId("dup", 4), R"({"a": "x", "a": "y"})");
  Status d = c->Write(dup);
  CHECK(d.IsInvalidArgument());
  CHECK_MESSAGE(d.message().find("repeats the key \"a\"") != std::string::npos, d.message());

  // Nesting within the limit is stored and read back as given.
  WriteBatch fine;
  const std::string ok_meta = "{\"a\":" + Nested(kMaxJsonNesting - 1, "[", "1", "]") + "}";
  fine.Upsert("fine", VectorForId("fine", 4), ok_meta);
  REQUIRE(c->Write(fine).ok());
  CHECK(c->Get(std::vector<std::string>{"fine"}).value()[0]->metadata == ok_meta);

  const std::string deep_where = Nested(100000, "{\"$not\":", "{\"a\": 1}", "}");
  auto n = c->Count(deep_where);
  REQUIRE_FALSE(n.ok());
  CHECK(n.status().IsInvalidArgument());
  SearchParams sp;
  sp.where = Nested(100000, "[", "1", "]");
  auto hits = c->Search(VectorForId("q", 4), sp);
  REQUIRE_FALSE(hits.ok());
  CHECK(hits.status().IsInvalidArgument());
  auto dup_where = c->Count(R"({"a": "x", "a": "y"})");
  REQUIRE_FALSE(dup_where.ok());
  CHECK(dup_where.status().message().find("repeats the key \"a\"") != std::string::npos);
}

TEST_CASE("untrusted JSON: the fast parser builds what nlohmann's own parser builds, and refuses what it refuses") {
  // Values of every type and the edges where two parsers could differ: integer widths
  // (nlohmann makes a non-negative integer unsigned), numbers past 64 bits or past a
  // double, signed zero, exponents, escapes and surrogate pairs, lone surrogates,
  // invalid UTF-8, control characters, literals, trailing text, empty input.
  const std::vector<std::string> texts = {
      R"({"vector": [0.1, -2.5e-3, 3, -4, 1e10, 1E-7, 0, -0.0, 123456789.123456789], "k": 10})",
      R"([-0])",
      R"([9223372036854775807, -9223372036854775808, 18446744073709551615, 18446744073709551616])",
      R"([-9223372036854775809, 1e308, 1e-400, 4.9e-324, 2.2250738585072014e-308])",
      R"([1e400])",
      R"({"s": "a\"b\\c\/d\b\f\n\r\t\u00e9\u4e2d\ud83d\ude00", "e": "", "t": true, "f": false, "n": null})",
      R"(["\ud800"])",
      R"(["\udc00x"])",
      "[\"\xff\"]",
      "[\"\x01\"]",
      "\xef\xbb\xbf{}",
      R"({"a": {"b": [{"c": []}, {}]}})",
      "  \n\t[1 , 2 ]\r\n ",
      R"([1, 2] x)",
      R"([1, 2,])",
      R"({"a": 1,})",
      R"([NaN])",
      R"([01])",
      R"([.5])",
      R"([1.])",
      R"(["unterminated)",
      "",
      "   ",
      R"("just a string")",
      R"(42)",
      R"({"a": 1, "a": 2})",
      R"({"x": [{"k": 1, "k": 1}]})",
  };
  for (const std::string& t : texts) {
    CAPTURE(t);
    auto got = ParseUntrustedJson(t, "body");
    nlohmann::json want;
    bool want_ok = true;
    try {
      want = nlohmann::json::parse(t);
    } catch (const nlohmann::json::exception&) {
      want_ok = false;
    }
    if (t.find("\"a\": 1, \"a\"") != std::string::npos || t.find("\"k\": 1, \"k\"") != std::string::npos) {
      CHECK(got.status().message().find("repeats the key") != std::string::npos);  // nlohmann keeps the last.
      continue;
    }
    REQUIRE_MESSAGE(got.ok() == want_ok, got.status().ToString());
    if (!want_ok) continue;
    CHECK(*got == want);
    CHECK(got->dump() == want.dump());
    // The one known difference: the integer -0 is unsigned 0 here, signed 0 there
    // (simdjson does not keep the sign of an integer zero); equal as values.
    if (t != "[-0]") CHECK(SameTypes(*got, want));
    auto ordered = ParseUntrustedOrderedJson(t, "body");
    REQUIRE(ordered.ok());
    CHECK(ordered->dump() == nlohmann::ordered_json::parse(t).dump());
  }
}
