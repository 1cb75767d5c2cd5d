// Helpers for doctest tests of the Database API (test_util.h has those without doctest).
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "test_util.h"
#include "vectron/vectron.h"

namespace vectron::testing {

// Opens (creating if missing) the database in `dir`; fails the test on an error.
inline std::unique_ptr<Database> OpenDb(const std::string& dir, DatabaseOptions o = {}) {
  auto db = Database::Open(dir, o);
  REQUIRE_MESSAGE(db.ok(), db.status().ToString());
  return std::move(db).value();
}

// The id tests give point number i: "p<i>".
inline std::string Id(int i) { return "p" + std::to_string(i); }

// Options for a small shard test: a 64 MiB map, one thread.
inline DatabaseOptions SmallDbOptions() {
  DatabaseOptions o;
  o.map_size_bytes = 64ull << 20;
  o.threads = 1;
  return o;
}

}  // namespace vectron::testing
