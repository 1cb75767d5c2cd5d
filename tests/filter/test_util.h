// Helpers shared by the filter tests.
#pragma once

#include <string>
#include <string_view>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "filter/filter.h"

namespace vectron::filter::testing {

// Parses `text`, failing the test if it is not a valid filter.
inline Filter MustParse(std::string_view text) {
  auto r = ParseText(text);
  INFO("filter: ", std::string(text));
  INFO("error: ", r.status().message());
  REQUIRE(r.ok());
  return std::move(r).value();
}

// The error message for `text`, failing the test if it parses or the code is wrong.
inline std::string ParseError(std::string_view text) {
  auto r = ParseText(text);
  INFO("filter: ", std::string(text));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().IsInvalidArgument());
  return r.status().message();
}

// Whether the filter text matches the metadata text.
inline bool M(std::string_view filter, std::string_view metadata) {
  return Matches(MustParse(filter), nlohmann::json::parse(metadata));
}

}  // namespace vectron::filter::testing
