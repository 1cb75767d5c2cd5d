// Random metadata and filters for randomized tests: values chosen to sit on the edges
// of the filter semantics (2^53 neighbours, int64/uint64 limits, -0.0, mixed types),
// over the field names a, b, c and their dotted pairs.
#pragma once

#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

namespace vectron::filter::testing {

using nlohmann::json;

class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}

  int Below(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool Coin(int percent) { return Below(100) < percent; }

  // Values chosen to sit on the edges: 2^53 neighbours, int64/uint64 limits, the same
  // number as int/uint/float, -0.0, strings that differ by case and prefix.
  json Number() {
    switch (Below(17)) {
      case 0: return 0;
      case 1: return 1;
      case 2: return uint64_t{1};
      case 3: return 1.0;
      case 4: return -1;
      case 5: return 1.5;
      case 6: return -0.0;
      case 7: return 2;
      case 8: return int64_t{9007199254740992};
      case 9: return int64_t{9007199254740993};
      case 10: return 9007199254740992.0;
      case 11: return std::numeric_limits<int64_t>::max();
      case 12: return std::numeric_limits<int64_t>::min();
      case 13: return uint64_t{9223372036854775808u};
      case 14: return 9223372036854775808.0;
      case 15: return std::numeric_limits<uint64_t>::max();
      default: return -9223372036854775808.0;
    }
  }
  json String() {
    static const char* kStrings[] = {"", "a", "b", "ab", "B", "\xc3\xa9"};
    return kStrings[Below(6)];
  }
  json Scalar() {
    switch (Below(8)) {
      case 0: return nullptr;
      case 1: return Coin(50);
      case 2:
      case 3:
      case 4: return Number();
      default: return String();
    }
  }
  std::string Key() { return std::string(1, "abc"[Below(3)]); }
  std::string Path() { return Coin(60) ? Key() : Key() + "." + Key(); }

  json MetaValue(int depth) {
    const int r = Below(10);
    if (depth < 2 && r == 0) return MetaObject(depth + 1);
    if (depth < 2 && r <= 2) {
      json a = json::array();
      const int n = Below(4);
      for (int i = 0; i < n; ++i) a.push_back(Coin(25) ? MetaValue(depth + 1) : Scalar());
      return a;
    }
    return Scalar();
  }
  json MetaObject(int depth) {
    json o = json::object();
    const int n = Below(4);
    for (int i = 0; i < n; ++i) o[Key()] = MetaValue(depth);
    return o;
  }
  json Metadata() { return Coin(3) ? json() : MetaObject(0); }

  json RangeOperand() { return Coin(70) ? Number() : String(); }

  json OperatorObject(int depth) {
    static const char* kOps[] = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$not"};
    json ops = json::object();
    const int n = 1 + (Coin(25) ? 1 : 0);
    for (int i = 0; i < n; ++i) {
      const std::string op = kOps[Below(depth < 3 ? 10 : 9)];
      if (op == "$eq" || op == "$ne") {
        ops[op] = Scalar();
      } else if (op == "$in" || op == "$nin") {
        json list = json::array();
        const int m = 1 + Below(4);
        for (int j = 0; j < m; ++j) list.push_back(Scalar());
        ops[op] = list;
      } else if (op == "$exists") {
        ops[op] = Coin(50);
      } else if (op == "$not") {
        ops[op] = OperatorObject(depth + 1);
      } else {
        ops[op] = RangeOperand();
      }
    }
    return ops;
  }

  json Where(int depth) {
    json w = json::object();
    const int n = Coin(15) ? 0 : 1 + (Coin(20) ? 1 : 0);
    for (int i = 0; i < n; ++i) {
      const int r = Below(10);
      if (depth < 3 && r == 0) {
        w["$not"] = Where(depth + 1);
      } else if (depth < 3 && r <= 2) {
        json list = json::array();
        const int m = 1 + Below(3);
        for (int j = 0; j < m; ++j) list.push_back(Where(depth + 1));
        w[r == 1 ? "$and" : "$or"] = list;
      } else if (r <= 4) {
        w[Path()] = Scalar();
      } else {
        w[Path()] = OperatorObject(depth);
      }
    }
    return w;
  }

 private:
  std::mt19937 rng_;
};

}  // namespace vectron::filter::testing
