// libFuzzer target for the filter parser: any bytes must give a filter or an
// InvalidArgument, never a crash; a parsed filter must evaluate, and its canonical
// text must parse back to the same canonical text.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "filter/filter.h"

namespace {

const nlohmann::json& Metadata(int i) {
  static const nlohmann::json kMetadata[] = {
      nlohmann::json(),
      nlohmann::json::object(),
      nlohmann::json::parse(R"({"a": 1, "b": "x", "c": true, "d": null, "e": 1.5})"),
      nlohmann::json::parse(R"({"a": [1, "x", null, [2]], "b": {"c": {"d": 9007199254740993}}})"),
      nlohmann::json::parse(R"({"a": {"b": [{"c": 1}, {"c": "z"}, 3]}, "price": 18446744073709551615})"),
      nlohmann::json::parse(R"({"genre": "jazz", "year": 1959, "tags": ["live", "mono"], "n": -0.0})"),
  };
  return kMetadata[i];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vectron::filter;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = ParseText(text);
  if (!parsed.ok()) {
    if (!parsed.status().IsInvalidArgument()) std::abort();
    return 0;
  }
  const Filter& f = *parsed;
  for (int i = 0; i < 6; ++i) (void)Matches(f, Metadata(i));
  (void)Conjuncts(f);
  (void)ReferencedFields(f);

  const std::string canonical = ToString(f);
  auto again = ParseText(canonical);
  if (!again.ok()) {
    std::fprintf(stderr, "canonical form does not parse: %s\n%s\n", canonical.c_str(),
                 again.status().message().c_str());
    std::abort();
  }
  const std::string twice = ToString(*again);
  if (twice != canonical) {
    std::fprintf(stderr, "round trip changed the filter:\n%s\n%s\n", canonical.c_str(), twice.c_str());
    std::abort();
  }
  for (int i = 0; i < 6; ++i) {
    if (Matches(f, Metadata(i)) != Matches(*again, Metadata(i))) {
      std::fprintf(stderr, "round trip changed the result on metadata %d: %s\n", i, canonical.c_str());
      std::abort();
    }
  }
  return 0;
}
