#include "filter/value.h"

#include <cmath>
#include <limits>

namespace vectron::filter {
namespace {

constexpr double kTwoPow63 = 9223372036854775808.0;
constexpr double kTwoPow64 = 18446744073709551616.0;

// Compares an integer with a double without rounding either: split the double into
// its integral part (which fits the integer type in the range checked) and fraction.
std::partial_ordering CompareIntDouble(int64_t i, double d) {
  if (std::isnan(d)) return std::partial_ordering::unordered;
  if (d >= kTwoPow63) return std::partial_ordering::less;
  if (d < -kTwoPow63) return std::partial_ordering::greater;
  const double t = std::trunc(d);
  const auto ti = static_cast<int64_t>(t);
  if (i != ti) return i <=> ti;
  return 0.0 <=> (d - t);
}

std::partial_ordering CompareUintDouble(uint64_t u, double d) {
  if (std::isnan(d)) return std::partial_ordering::unordered;
  if (d >= kTwoPow64) return std::partial_ordering::less;
  if (d < kTwoPow63) return std::partial_ordering::greater;  // u > INT64_MAX always.
  const double t = std::trunc(d);
  const auto tu = static_cast<uint64_t>(t);
  if (u != tu) return u <=> tu;
  return 0.0 <=> (d - t);
}

std::partial_ordering Reverse(std::partial_ordering o) {
  if (o == std::partial_ordering::less) return std::partial_ordering::greater;
  if (o == std::partial_ordering::greater) return std::partial_ordering::less;
  return o;
}

// null < false < true < numbers < strings.
int TypeRank(const Scalar& s) {
  if (std::holds_alternative<std::nullptr_t>(s)) return 0;
  if (const auto* b = std::get_if<bool>(&s)) return *b ? 2 : 1;
  if (std::holds_alternative<Number>(s)) return 3;
  return 4;
}

}  // namespace

Number Number::Int(int64_t v) {
  Number n;
  n.kind_ = Kind::kInt;
  n.i_ = v;
  return n;
}

Number Number::Uint(uint64_t v) {
  if (v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Int(static_cast<int64_t>(v));
  }
  Number n;
  n.kind_ = Kind::kUint;
  n.u_ = v;
  return n;
}

Number Number::Double(double v) {
  Number n;
  n.kind_ = Kind::kDouble;
  n.d_ = v;
  return n;
}

std::optional<Number> Number::FromJson(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::number_integer:
      return Int(j.get_ref<const nlohmann::json::number_integer_t&>());
    case nlohmann::json::value_t::number_unsigned:
      return Uint(j.get_ref<const nlohmann::json::number_unsigned_t&>());
    case nlohmann::json::value_t::number_float:
      return Double(j.get_ref<const nlohmann::json::number_float_t&>());
    default:
      return std::nullopt;
  }
}

bool Number::IsFinite() const { return kind_ != Kind::kDouble || std::isfinite(d_); }

nlohmann::json Number::ToJson() const {
  switch (kind_) {
    case Kind::kInt: return nlohmann::json(i_);
    case Kind::kUint: return nlohmann::json(u_);
    case Kind::kDouble: return nlohmann::json(d_);
  }
  return nullptr;
}

std::partial_ordering CompareNumbers(const Number& a, const Number& b) {
  using K = Number::Kind;
  switch (a.kind()) {
    case K::kInt:
      switch (b.kind()) {
        case K::kInt: return a.int_value() <=> b.int_value();
        case K::kUint: return std::partial_ordering::less;
        case K::kDouble: return CompareIntDouble(a.int_value(), b.double_value());
      }
      break;
    case K::kUint:
      switch (b.kind()) {
        case K::kInt: return std::partial_ordering::greater;
        case K::kUint: return a.uint_value() <=> b.uint_value();
        case K::kDouble: return CompareUintDouble(a.uint_value(), b.double_value());
      }
      break;
    case K::kDouble:
      switch (b.kind()) {
        case K::kInt: return Reverse(CompareIntDouble(b.int_value(), a.double_value()));
        case K::kUint: return Reverse(CompareUintDouble(b.uint_value(), a.double_value()));
        case K::kDouble: return a.double_value() <=> b.double_value();
      }
      break;
  }
  return std::partial_ordering::unordered;
}

nlohmann::json ScalarToJson(const Scalar& s) {
  switch (s.index()) {
    case 0: return nullptr;
    case 1: return std::get<bool>(s);
    case 2: return std::get<Number>(s).ToJson();
    default: return std::get<std::string>(s);
  }
}

std::weak_ordering CompareScalars(const Scalar& a, const Scalar& b) {
  const int ra = TypeRank(a);
  const int rb = TypeRank(b);
  if (ra != rb) return ra <=> rb;
  if (const auto* na = std::get_if<Number>(&a)) {
    const auto o = CompareNumbers(*na, std::get<Number>(b));
    if (o == std::partial_ordering::less) return std::weak_ordering::less;
    if (o == std::partial_ordering::greater) return std::weak_ordering::greater;
    return std::weak_ordering::equivalent;
  }
  if (const auto* sa = std::get_if<std::string>(&a)) {
    const int c = sa->compare(std::get<std::string>(b));
    return c < 0 ? std::weak_ordering::less : c > 0 ? std::weak_ordering::greater : std::weak_ordering::equivalent;
  }
  return std::weak_ordering::equivalent;  // Same null or same boolean.
}

const char* JsonTypeName(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::boolean: return "boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float: return "number";
    case nlohmann::json::value_t::string: return "string";
    case nlohmann::json::value_t::array: return "array";
    case nlohmann::json::value_t::object: return "object";
    default: return "binary";
  }
}

}  // namespace vectron::filter
