#include "payload/payload.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace vectron::payload {

using filter::CompareOp;
using filter::FieldPath;
using filter::Node;
using filter::NodeKind;
using filter::Number;
using filter::SetOp;
using nlohmann::json;

namespace {

void PutBE(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Order-preserving encodings: bytewise order of the keys is numeric order.
std::string EncodeInt(int64_t v) {
  std::string s;
  PutBE(s, static_cast<uint64_t>(v) ^ (1ull << 63), 8);
  return s;
}

std::string EncodeDouble(double d) {
  if (d == 0) d = 0.0;  // -0.0 == 0
  uint64_t bits = std::bit_cast<uint64_t>(d);
  bits = (bits >> 63) ? ~bits : bits | (1ull << 63);
  std::string s;
  PutBE(s, bits, 8);
  return s;
}

constexpr double kTwo63 = 9223372036854775808.0;

// The number as an int64, if it is an integer in range.
std::optional<int64_t> AsInt64(const Number& n) {
  switch (n.kind()) {
    case Number::Kind::kInt: return n.int_value();
    case Number::Kind::kUint: return std::nullopt;  // Only used above INT64_MAX.
    case Number::Kind::kDouble: {
      double d = n.double_value();
      if (!std::isfinite(d) || d != std::floor(d) || d < -kTwo63 || d >= kTwo63) return std::nullopt;
      return static_cast<int64_t>(d);
    }
  }
  return std::nullopt;
}

// The number as a double, if a double holds it exactly.
std::optional<double> AsExactDouble(const Number& n) {
  switch (n.kind()) {
    case Number::Kind::kDouble:
      if (!std::isfinite(n.double_value())) return std::nullopt;
      return n.double_value();
    case Number::Kind::kInt: {
      int64_t i = n.int_value();
      double d = static_cast<double>(i);
      if (d >= kTwo63 || static_cast<int64_t>(d) != i) return std::nullopt;
      return d;
    }
    case Number::Kind::kUint: {
      uint64_t u = n.uint_value();
      double d = static_cast<double>(u);
      if (d >= 2 * kTwo63 || static_cast<uint64_t>(d) != u) return std::nullopt;
      return d;
    }
  }
  return std::nullopt;
}

template <typename F>
void VisitPath(const json& node, const FieldPath& path, size_t i, const F& f) {
  if (i == path.segments.size()) {
    if (node.is_array()) {
      for (const json& e : node) f(e);
    } else {
      f(node);
    }
    return;
  }
  if (node.is_object()) {
    auto it = node.find(path.segments[i]);
    if (it != node.end()) VisitPath(*it, path, i + 1, f);
  } else if (node.is_array()) {
    for (const json& e : node)
      if (e.is_object()) VisitPath(e, path, i, f);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------
// Definitions

Result<std::vector<Definition>> ParseDefinitions(std::string_view text) {
  std::vector<Definition> out;
  if (text.empty()) return out;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return Status::Corruption("stored payload index list is not a JSON array");
  for (const auto& e : j) {
    Definition d;
    try {
      d.field = e.at("field").get<std::string>();
      if (!ParsePayloadType(e.at("type").get<std::string>(), &d.type))
        return Status::Corruption("stored payload index has an unknown type");
      d.slot = e.at("slot").get<uint32_t>();
    } catch (const std::exception& ex) {
      return Status::Corruption(std::string("stored payload index list: ") + ex.what());
    }
    out.push_back(std::move(d));
  }
  return out;
}

std::string DefinitionsToJson(const std::vector<Definition>& defs) {
  json j = json::array();
  for (const auto& d : defs) j.push_back({{"field", d.field}, {"type", PayloadTypeName(d.type)}, {"slot", d.slot}});
  return j.dump();
}

Result<FieldPath> ParseFieldName(std::string_view field) {
  if (field.empty()) return Status::InvalidArgument("payload index field name is empty");
  if (field.size() > 1024) return Status::InvalidArgument("payload index field name is longer than 1024 bytes");
  // The filter parser is the one authority on field names.
  json probe = json::object();
  probe[std::string(field)] = json{{"$exists", true}};
  auto f = filter::Parse(probe);
  if (!f.ok()) return Status::InvalidArgument("bad payload index field name \"" + std::string(field) + "\": " +
                                              f.status().message());
  auto fields = filter::ReferencedFields(*f);
  if (fields.size() != 1) return Status::InvalidArgument("bad payload index field name \"" + std::string(field) + "\"");
  return fields[0];
}

void ExtractKeys(const json& metadata, const FieldPath& path, PayloadType type, std::vector<std::string>* keys,
                 bool* other) {
  keys->clear();
  *other = false;
  if (!metadata.is_object()) return;
  VisitPath(metadata, path, 0, [&](const json& v) {
    switch (type) {
      case PayloadType::kKeyword:
        if (v.is_string()) keys->push_back(v.get<std::string>());
        break;
      case PayloadType::kBool:
        if (v.is_boolean()) keys->push_back(v.get<bool>() ? std::string(1, '\1') : std::string(1, '\0'));
        break;
      case PayloadType::kInteger:
        if (auto n = Number::FromJson(v)) {
          if (auto i = AsInt64(*n)) keys->push_back(EncodeInt(*i));
          else *other = true;
        }
        break;
      case PayloadType::kFloat:
        if (auto n = Number::FromJson(v)) {
          if (auto d = AsExactDouble(*n)) keys->push_back(EncodeDouble(*d));
          else *other = true;
        }
        break;
    }
  });
  std::sort(keys->begin(), keys->end());
  keys->erase(std::unique(keys->begin(), keys->end()), keys->end());
}

std::string SlotPrefix(uint32_t slot) {
  std::string s;
  PutBE(s, slot, 4);
  return s;
}

std::string PostingKey(uint32_t slot, std::string_view value_key, uint64_t label) {
  std::string s = SlotPrefix(slot);
  s += value_key;
  PutBE(s, label, 8);
  return s;
}

std::string OtherKey(uint32_t slot, uint64_t label) {
  std::string s = SlotPrefix(slot);
  PutBE(s, label, 8);
  return s;
}

// ---------------------------------------------------------------------------------
// In-memory state

void FieldIndex::Remove(uint32_t label) {
  if (label < fwd.size() && !fwd[label].empty()) {
    std::string_view packed = fwd[label];
    while (!packed.empty()) {
      size_t n = static_cast<unsigned char>(packed[0]);
      std::string_view key = packed.substr(1, n);
      packed.remove_prefix(1 + n);
      auto it = postings.find(key);
      if (it != postings.end()) {
        it->second.remove(label);
        if (it->second.isEmpty()) postings.erase(it);
      }
    }
    std::string().swap(fwd[label]);
  }
  other.remove(label);
}

void FieldIndex::Add(uint32_t label, const std::vector<std::string>& keys, bool is_other) {
  if (is_other) other.add(label);
  if (keys.empty()) return;
  if (label >= fwd.size()) fwd.resize(label + 1);
  for (const auto& k : keys) {
    if (k.size() > 255) {  // Too long to pack: treat the value as unindexed.
      other.add(label);
      continue;
    }
    postings[k].add(label);
    fwd[label].push_back(static_cast<char>(k.size()));
    fwd[label] += k;
  }
}

size_t FieldIndex::memory_bytes() const {
  size_t b = other.getSizeInBytes() + fwd.capacity() * sizeof(std::string);
  for (const auto& s : fwd)
    if (s.capacity() > 15) b += s.capacity();
  for (const auto& [k, bm] : postings) b += k.capacity() + 64 + bm.getSizeInBytes();
  return b;
}

void PayloadState::SetDefinitions(std::vector<Definition> defs, std::string raw_json) {
  std::vector<std::unique_ptr<FieldIndex>> next;
  for (auto& d : defs) {
    std::unique_ptr<FieldIndex> fi;
    for (auto& old : indexes_)
      if (old && old->def.field == d.field && old->def.slot == d.slot && old->def.type == d.type) fi = std::move(old);
    if (!fi) {
      fi = std::make_unique<FieldIndex>();
      fi->def = d;
      auto p = ParseFieldName(d.field);
      if (p.ok()) fi->path = *p;
    }
    next.push_back(std::move(fi));
  }
  indexes_ = std::move(next);
  raw_defs_ = std::move(raw_json);
  ++version_;
}

FieldIndex* PayloadState::Find(std::string_view field) {
  for (auto& fi : indexes_)
    if (fi->def.field == field) return fi.get();
  return nullptr;
}

void PayloadState::ClearAll() {
  live_ = Bitmap();
  for (auto& fi : indexes_) {
    fi->postings.clear();
    fi->other = Bitmap();
    fi->fwd.clear();
  }
  ++version_;
}

void PayloadState::Upsert(uint64_t label, std::string_view metadata) {
  auto l = static_cast<uint32_t>(label);
  live_.add(l);
  if (!indexes_.empty()) {
    json j = metadata.empty() ? json::object() : json::parse(metadata, nullptr, false);
    std::vector<std::string> keys;
    bool other = false;
    for (auto& fi : indexes_) {
      fi->Remove(l);
      ExtractKeys(j, fi->path, fi->def.type, &keys, &other);
      fi->Add(l, keys, other);
    }
  }
  ++version_;
}

void PayloadState::Remove(uint64_t label) {
  auto l = static_cast<uint32_t>(label);
  live_.remove(l);
  for (auto& fi : indexes_) fi->Remove(l);
  ++version_;
}

void PayloadState::AddLoaded(FieldIndex& fi, uint64_t label, std::string_view key, bool is_other) {
  auto l = static_cast<uint32_t>(label);
  if (is_other) {
    fi.other.add(l);
  } else {
    fi.Add(l, {std::string(key)}, false);
  }
  ++version_;
}

size_t PayloadState::memory_bytes() const {
  size_t b = live_.getSizeInBytes();
  for (const auto& fi : indexes_) b += fi->memory_bytes();
  return b;
}

// ---------------------------------------------------------------------------------
// Allow-lists

namespace {

class Evaluator {
 public:
  Evaluator(const PayloadState& state, const MetadataLoader& load, AllowStats* stats)
      : state_(state), load_(load), stats_(stats) {}

  Result<Bitmap> Eval(const Node& n, const Bitmap& cand) {
    if (cand.isEmpty()) return Bitmap();
    switch (n.kind) {
      case NodeKind::kTrue:
        return cand;
      case NodeKind::kAnd: {
        Bitmap cur = cand;
        std::vector<const Node*> residual;
        for (const Node& c : n.children) {
          if (Answerable(c)) {
            VECTRON_ASSIGN_OR_RETURN(cur, Eval(c, cur));
          } else {
            residual.push_back(&c);
          }
        }
        if (residual.empty()) return cur;
        Node rest;
        rest.kind = NodeKind::kAnd;
        for (const Node* r : residual) rest.children.push_back(*r);
        return ByJson(residual.size() == 1 ? *residual[0] : rest, cur);
      }
      case NodeKind::kOr: {
        if (!Answerable(n)) return ByJson(n, cand);
        Bitmap out;
        for (const Node& c : n.children) {
          VECTRON_ASSIGN_OR_RETURN(Bitmap part, Eval(c, cand));
          out |= part;
        }
        return out;
      }
      case NodeKind::kNot: {
        if (!Answerable(n)) return ByJson(n, cand);
        VECTRON_ASSIGN_OR_RETURN(Bitmap inner, Eval(n.children.front(), cand));
        Bitmap out = cand;
        out -= inner;
        return out;
      }
      case NodeKind::kCompare:
      case NodeKind::kIn: {
        const FieldIndex* fi = IndexFor(n);
        if (!fi) return ByJson(n, cand);
        VECTRON_ASSIGN_OR_RETURN(Bitmap pos, Positive(n, *fi, cand));
        const bool negated = (n.kind == NodeKind::kCompare && n.compare_op == CompareOp::kNe) ||
                             (n.kind == NodeKind::kIn && n.set_op == SetOp::kNin);
        if (negated) {
          Bitmap out = cand;
          out -= pos;
          return out;
        }
        return pos;
      }
      case NodeKind::kExists:
        return ByJson(n, cand);
    }
    return Status::Internal("unknown filter node");
  }

  bool Answerable(const Node& n) const {
    switch (n.kind) {
      case NodeKind::kTrue: return true;
      case NodeKind::kAnd:
      case NodeKind::kOr:
      case NodeKind::kNot:
        for (const Node& c : n.children)
          if (!Answerable(c)) return false;
        return true;
      case NodeKind::kCompare:
      case NodeKind::kIn: return IndexFor(n) != nullptr;
      case NodeKind::kExists: return false;
    }
    return false;
  }

 private:
  // The index that can answer leaf `n` exactly, or null.
  const FieldIndex* IndexFor(const Node& n) const {
    const FieldIndex* fi = nullptr;
    for (const auto& x : state_.indexes())
      if (x->path == n.path) fi = x.get();
    if (!fi) return nullptr;
    const PayloadType t = fi->def.type;
    auto fits = [&](const filter::Scalar& s) {
      switch (s.index()) {
        case 0: return false;  // null
        case 1: return t == PayloadType::kBool;
        case 2:
          if (t == PayloadType::kInteger) return true;
          if (t == PayloadType::kFloat) return AsExactDouble(std::get<Number>(s)).has_value();
          return false;
        default: return t == PayloadType::kKeyword;
      }
    };
    if (n.kind == NodeKind::kCompare) return fits(n.value) ? fi : nullptr;
    for (const auto& v : n.set.values)
      if (!fits(v)) return nullptr;
    return fi;
  }

  // Labels in `cand` where the positive form of leaf `n` ($eq for $ne, $in for $nin) holds.
  Result<Bitmap> Positive(const Node& n, const FieldIndex& fi, const Bitmap& cand) {
    ++Stats().indexed_predicates;
    std::vector<const Bitmap*> parts;
    auto eq = [&](const std::string& key) {
      auto it = fi.postings.find(key);
      if (it != fi.postings.end()) parts.push_back(&it->second);
    };
    auto key_of = [&](const filter::Scalar& s) -> std::optional<std::string> {
      switch (fi.def.type) {
        case PayloadType::kKeyword: return std::get<std::string>(s);
        case PayloadType::kBool: return std::string(1, std::get<bool>(s) ? '\1' : '\0');
        case PayloadType::kInteger: {
          auto i = AsInt64(std::get<Number>(s));
          if (!i) return std::nullopt;  // 2.5 or 2^64: no integer key equals it.
          return EncodeInt(*i);
        }
        case PayloadType::kFloat: return EncodeDouble(*AsExactDouble(std::get<Number>(s)));
      }
      return std::nullopt;
    };
    if (n.kind == NodeKind::kIn) {
      for (const auto& v : n.set.values)
        if (auto k = key_of(v)) eq(*k);
    } else if (n.compare_op == CompareOp::kEq || n.compare_op == CompareOp::kNe) {
      if (auto k = key_of(n.value)) eq(*k);
    } else {
      // A range: keys in [lo, hi] (each bound inclusive; nullopt = unbounded).
      std::optional<std::string> lo, hi;
      bool lo_open = false, hi_open = false, empty = false;
      const CompareOp op = n.compare_op;
      if (fi.def.type == PayloadType::kInteger) {
        const Number& c = std::get<Number>(n.value);
        // Integer bounds equivalent to the comparison with c.
        std::optional<int64_t> a, b;  // a <= x <= b
        if (c.kind() == Number::Kind::kUint) {
          if (op == CompareOp::kGt || op == CompareOp::kGte) empty = true;
        } else if (c.kind() == Number::Kind::kInt) {
          int64_t v = c.int_value();
          if (op == CompareOp::kGt) {
            if (v == std::numeric_limits<int64_t>::max()) empty = true;
            else a = v + 1;
          } else if (op == CompareOp::kGte) {
            a = v;
          } else if (op == CompareOp::kLt) {
            if (v == std::numeric_limits<int64_t>::min()) empty = true;
            else b = v - 1;
          } else {
            b = v;
          }
        } else {
          double d = c.double_value();
          bool above = d >= kTwo63, below = d < -kTwo63;
          // In range, floor and ceil are exact int64 values; step by one in integers
          // (a double cannot hold -2^63 + 1).
          if (op == CompareOp::kGt || op == CompareOp::kGte) {
            if (above) {
              empty = true;
            } else if (!below) {
              if (op == CompareOp::kGt) a = static_cast<int64_t>(std::floor(d)) + 1;  // floor(d) < 2^63 - 1
              else a = static_cast<int64_t>(std::ceil(d));
            }
          } else {
            if (below) {
              empty = true;
            } else if (!above) {
              if (op == CompareOp::kLt) {
                int64_t ce = static_cast<int64_t>(std::ceil(d));
                if (ce == std::numeric_limits<int64_t>::min()) empty = true;
                else b = ce - 1;
              } else {
                b = static_cast<int64_t>(std::floor(d));
              }
            }
          }
        }
        if (a) lo = EncodeInt(*a);
        if (b) hi = EncodeInt(*b);
      } else {
        std::string k = fi.def.type == PayloadType::kFloat ? EncodeDouble(*AsExactDouble(std::get<Number>(n.value)))
                                                          : std::get<std::string>(n.value);
        if (op == CompareOp::kGt || op == CompareOp::kGte) {
          lo = k;
          lo_open = op == CompareOp::kGt;
        } else {
          hi = k;
          hi_open = op == CompareOp::kLt;
        }
      }
      if (!empty) {
        auto it = lo ? (lo_open ? fi.postings.upper_bound(*lo) : fi.postings.lower_bound(*lo)) : fi.postings.begin();
        for (; it != fi.postings.end(); ++it) {
          if (hi) {
            int c = it->first.compare(*hi);
            if (c > 0 || (c == 0 && hi_open)) break;
          }
          parts.push_back(&it->second);
        }
      }
    }
    Bitmap pos;
    if (parts.size() == 1) {
      pos = *parts[0];
    } else if (!parts.empty()) {
      pos = Bitmap::fastunion(parts.size(), parts.data());
    }
    pos &= cand;
    // Values the index could not hold (2.5 in an integer index, 2^60+1 in a float one).
    Bitmap unsure = fi.other;
    unsure &= cand;
    if (!unsure.isEmpty()) {
      Node positive = n;
      if (positive.kind == NodeKind::kCompare && positive.compare_op == CompareOp::kNe) positive.compare_op = CompareOp::kEq;
      if (positive.kind == NodeKind::kIn) positive.set_op = SetOp::kIn;
      VECTRON_ASSIGN_OR_RETURN(Bitmap extra, ByJson(positive, unsure));
      pos |= extra;
    }
    return pos;
  }

  Result<Bitmap> ByJson(const Node& n, const Bitmap& cand) {
    filter::Filter f{Node(n)};
    Bitmap out;
    std::vector<uint32_t> hits;
    for (uint32_t label : cand) {
      VECTRON_ASSIGN_OR_RETURN(auto text, load_(label));
      if (!text) continue;
      ++Stats().json_evaluations;
      json j = text->empty() ? json() : json::parse(*text, nullptr, false);
      if (filter::Matches(f, j)) hits.push_back(label);
    }
    out.addMany(hits.size(), hits.data());
    return out;
  }

  AllowStats& Stats() { return stats_ ? *stats_ : scratch_; }

  const PayloadState& state_;
  const MetadataLoader& load_;
  AllowStats* stats_;
  AllowStats scratch_;
};

}  // namespace

Result<Bitmap> ComputeAllow(const filter::Filter& f, const PayloadState& state, const MetadataLoader& load,
                            AllowStats* stats) {
  Evaluator ev(state, load, stats);
  return ev.Eval(f.root(), state.live());
}

}  // namespace vectron::payload
