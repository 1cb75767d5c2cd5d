#include "util/untrusted_json.h"

#include <simdjson.h>

#include <set>
#include <vector>

namespace vectron {
namespace {

struct Scan {
  std::optional<size_t> too_deep_at;  // Byte offset where nesting passes the limit.
  size_t members = 0;                 // Colons outside strings: object members, if valid.
};

// One pass over the text: nesting depth and, since a colon outside a string can only
// separate a key from its value, the number of object members valid JSON would hold.
Scan ScanJson(std::string_view text, int max_depth) {
  Scan s;
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '{':
      case '[':
        if (++depth > max_depth) {
          s.too_deep_at = i;
          return s;
        }
        break;
      case '}':
      case ']': --depth; break;
      case ':': ++s.members; break;
      default: break;
    }
  }
  return s;
}

// Object members in a parsed value (nesting is bounded by now, but walk iteratively).
template <typename Json>
size_t CountMembers(const Json& root) {
  size_t n = 0;
  std::vector<const Json*> stack{&root};
  while (!stack.empty()) {
    const Json* v = stack.back();
    stack.pop_back();
    if (v->is_object()) n += v->size();
    if (v->is_structured()) {
      for (const auto& child : *v) stack.push_back(&child);
    }
  }
  return n;
}

std::string KeyStep(const std::string& key) {
  bool plain = !key.empty();
  for (char c : key) {
    plain = plain && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                      c == '-' || c == '$');
  }
  return plain ? "." + Excerpt(key, 48) : "[\"" + Excerpt(key, 48) + "\"]";
}

// Parses again, following the path, to name the first repeated key: only on the error
// path (the count in Parse says there is one).
template <typename Json>
std::string FindRepeatedKey(std::string_view text) {
  struct Frame {
    bool object;
    std::set<std::string> keys;
    std::string key;
    size_t index = 0;
  };
  std::vector<Frame> frames;
  std::string found;
  auto path = [&frames]() {
    std::string p = "$";
    for (size_t i = 0; i + 1 < frames.size(); ++i) {
      p += frames[i].object ? KeyStep(frames[i].key) : "[" + std::to_string(frames[i].index) + "]";
    }
    return p;
  };
  auto value_done = [&frames]() {
    if (!frames.empty() && !frames.back().object) ++frames.back().index;
  };
  typename Json::parser_callback_t cb = [&](int, typename Json::parse_event_t event, Json& parsed) {
    using E = typename Json::parse_event_t;
    switch (event) {
      case E::object_start: frames.push_back({true, {}, {}, 0}); break;
      case E::array_start: frames.push_back({false, {}, {}, 0}); break;
      case E::object_end:
      case E::array_end:
        if (!frames.empty()) frames.pop_back();
        value_done();
        break;
      case E::key:
        if (!frames.empty() && parsed.is_string()) {
          Frame& top = frames.back();
          top.key = parsed.template get<std::string>();
          if (!top.keys.insert(top.key).second && found.empty()) {
            found = "\"" + Excerpt(top.key) + "\" at " + path();
          }
        }
        break;
      case E::value: value_done(); break;
    }
    return true;
  };
  try {
    // Only the callback's findings matter; the document is dropped (parse is
    // [[nodiscard]], which a (void) cast does not satisfy for GCC).
    [[maybe_unused]] const Json discarded = Json::parse(text.begin(), text.end(), cb);
  } catch (const nlohmann::json::exception&) {
  }
  return found.empty() ? "a key" : found;
}

// What Convert found: kFallBack for a key repeated in an object or nesting deeper than
// allowed (nlohmann's parser, after the nesting scan, then names the problem as it
// always has).
enum class Converted { kOk, kFallBack };

// simdjson's DOM as the nlohmann value its own parser would build (a non-negative
// integer is unsigned, as nlohmann makes it). Recursion stops past `depth_left` levels
// (simdjson parses without recursion, and refuses more than 1024 levels itself).
template <typename Json>
Converted Convert(simdjson::dom::element e, Json* out, int depth_left) {
  using T = simdjson::dom::element_type;
  switch (e.type()) {
    case T::ARRAY: {
      if (depth_left == 0) return Converted::kFallBack;
      simdjson::dom::array a;
      if (e.get_array().get(a) != simdjson::SUCCESS) return Converted::kFallBack;  // Not reached: the type said so.
      *out = Json::array();
      auto& arr = out->template get_ref<typename Json::array_t&>();
      arr.reserve(a.size());
      for (simdjson::dom::element child : a) {
        arr.emplace_back();
        if (Convert(child, &arr.back(), depth_left - 1) != Converted::kOk) return Converted::kFallBack;
      }
      return Converted::kOk;
    }
    case T::OBJECT: {
      if (depth_left == 0) return Converted::kFallBack;
      simdjson::dom::object obj;
      if (e.get_object().get(obj) != simdjson::SUCCESS) return Converted::kFallBack;  // Not reached: the type said so.
      *out = Json::object();
      for (simdjson::dom::key_value_pair field : obj) {
        auto [it, inserted] = out->emplace(std::string(field.key), Json());
        if (!inserted || Convert(field.value, &it.value(), depth_left - 1) != Converted::kOk) return Converted::kFallBack;
      }
      return Converted::kOk;
    }
    case T::INT64: {
      const int64_t v = e.get_int64().value_unsafe();
      if (v >= 0) *out = static_cast<uint64_t>(v);
      else *out = v;
      return Converted::kOk;
    }
    case T::UINT64: *out = e.get_uint64().value_unsafe(); return Converted::kOk;
    case T::DOUBLE: *out = e.get_double().value_unsafe(); return Converted::kOk;
    case T::STRING: *out = std::string(e.get_string().value_unsafe()); return Converted::kOk;
    case T::BOOL: *out = e.get_bool().value_unsafe(); return Converted::kOk;
    case T::NULL_VALUE: *out = nullptr; return Converted::kOk;
  }
  return Converted::kOk;
}

// Documents up to this size reuse the calling thread's parser (which keeps buffers of
// the largest one it has seen); larger ones get a parser freed after.
constexpr size_t kReusedParserBytes = 1 << 20;

// The fast path: simdjson (about three times nlohmann's speed on a search body, most of
// which is an array of numbers). Null when simdjson refuses the text, or it repeats a
// key or nests deeper than `max_depth`: the careful path then decides, and names the
// problem as it always has.
template <typename Json>
std::optional<Json> ParseFast(std::string_view text, int max_depth) {
  thread_local simdjson::dom::parser reused;
  simdjson::dom::parser fresh;
  simdjson::dom::parser& parser = text.size() <= kReusedParserBytes ? reused : fresh;
  simdjson::dom::element root;
  if (parser.parse(text.data(), text.size()).get(root) != simdjson::SUCCESS) return std::nullopt;
  Json j;
  if (Convert(root, &j, max_depth) != Converted::kOk) return std::nullopt;
  return j;
}

template <typename Json>
Result<Json> Parse(std::string_view text, std::string_view what, int max_depth) {
  if (std::optional<Json> fast = ParseFast<Json>(text, max_depth)) return std::move(*fast);
  const Scan scan = ScanJson(text, max_depth);
  if (scan.too_deep_at) {
    return Status::InvalidArgument(std::string(what) + " is nested deeper than " + std::to_string(max_depth) +
                                   " levels at byte " + std::to_string(*scan.too_deep_at));
  }
  Json j;
  try {
    j = Json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column N: <detail>";
    // the detail may quote a long token, so it is cut.
    std::string w = e.what();
    const size_t colon = w.find(": ");
    std::string detail = colon == std::string::npos ? w : w.substr(colon + 2);
    return Status::InvalidArgument(std::string(what) + " is not valid JSON: error at byte " + std::to_string(e.byte) +
                                   ": " + Excerpt(detail, 160));
  } catch (const nlohmann::json::exception& e) {
    // A value nlohmann cannot hold, e.g. 1e400; drop the "[json.exception.out_of_range.406] " tag.
    std::string w = e.what();
    const size_t tag_end = w.find("] ");
    return Status::InvalidArgument(std::string(what) + " is not valid JSON: " +
                                   Excerpt(tag_end == std::string::npos ? w : w.substr(tag_end + 2), 160));
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string(what) + " could not be read: " + Excerpt(e.what(), 160));
  }
  if (CountMembers(j) != scan.members) {
    return Status::InvalidArgument(std::string(what) + " repeats the key " + FindRepeatedKey<Json>(text) +
                                   " (each key may appear once per object)");
  }
  return j;
}

}  // namespace

std::optional<size_t> FindJsonNestingAbove(std::string_view text, int max_depth) {
  return ScanJson(text, max_depth).too_deep_at;
}

Result<nlohmann::json> ParseUntrustedJson(std::string_view text, std::string_view what, int max_depth) {
  return Parse<nlohmann::json>(text, what, max_depth);
}

Result<nlohmann::ordered_json> ParseUntrustedOrderedJson(std::string_view text, std::string_view what,
                                                         int max_depth) {
  return Parse<nlohmann::ordered_json>(text, what, max_depth);
}

std::string Excerpt(std::string_view s, size_t max_bytes) {
  std::string out;
  const std::string_view head = s.substr(0, max_bytes);
  out.reserve(head.size() + 32);
  for (char c : head) out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
  if (s.size() > max_bytes) {
    // Do not end inside a UTF-8 sequence.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xc0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xc0) out.pop_back();
    out += "... (" + std::to_string(s.size()) + " bytes)";
  }
  return out;
}

std::string DumpJson(const nlohmann::json& v) {
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string DumpJson(const nlohmann::ordered_json& v) {
  return v.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string DescribeJson(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::string: return "\"" + Excerpt(v.get_ref<const std::string&>()) + "\"";
    case nlohmann::json::value_t::array:
      return "an array of " + std::to_string(v.size()) + (v.size() == 1 ? " element" : " elements");
    case nlohmann::json::value_t::object:
      return "an object of " + std::to_string(v.size()) + (v.size() == 1 ? " key" : " keys");
    case nlohmann::json::value_t::discarded: return "nothing";
    default: return v.dump();  // null, boolean, number: short.
  }
}

}  // namespace vectron
