#include <doctest/doctest.h>

#include "vectron/status.h"

using namespace vectron;

namespace {
Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument("odd");
  return x / 2;
}
Result<int> Quarter(int x) {
  VECTRON_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}
}  // namespace

TEST_CASE("Status carries a code name and message") {
  Status s = Status::NotFound("collection \"x\" does not exist");
  CHECK_FALSE(s.ok());
  CHECK(s.IsNotFound());
  CHECK(s.ToString() == "not_found: collection \"x\" does not exist");
  CHECK(s.WithContext("get").message() == "get: collection \"x\" does not exist");
  CHECK(Status::OK().ToString() == "ok");
}

TEST_CASE("Result propagates the first error through VECTRON_ASSIGN_OR_RETURN") {
  CHECK(Quarter(8).value() == 2);
  CHECK(Quarter(6).status().IsInvalidArgument());
  CHECK(Quarter(3).status().message() == "odd");
}

TEST_CASE("Status equality compares code and message") {
  CHECK(Status::OK() == Status());
  CHECK(Status::NotFound("a") == Status::NotFound("a"));
  CHECK_FALSE(Status::NotFound("a") == Status::NotFound("b"));
  CHECK_FALSE(Status::NotFound("a") == Status::InvalidArgument("a"));
  CHECK_FALSE(Status::NotFound("a") == Status::OK());
  CHECK(Status::NotFound("a") != Status::NotFound("b"));
}
