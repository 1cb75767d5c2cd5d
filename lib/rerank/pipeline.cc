// RerankPipeline: its JSON form (parse and print) and its checks. docs/rerank.md.
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <mutex>

#include "filter/filter.h"
#include "payload/payload.h"
#include "util/hex.h"
#include "vectron/rerank.h"

namespace vectron {

namespace {

using nlohmann::json;

Status Bad(const std::string& where, const std::string& problem) {
  return Status::InvalidArgument("rerank " + where + ": " + problem);
}

Status CheckWeight(const std::string& where, double w) {
  if (!std::isfinite(w)) return Bad(where, "weight must be a finite number");
  if (std::abs(w) > kMaxRerankWeight) return Bad(where, "weight must be within ±1e6");
  return Status::OK();
}

// Reads number `key` of object `o` into *out if present. Errors name the key.
Status ReadNumber(const json& o, const char* key, const std::string& where, double* out, bool required) {
  auto it = o.find(key);
  if (it == o.end()) return required ? Bad(where, std::string("\"") + key + "\" is required") : Status::OK();
  if (!it->is_number()) return Bad(where, std::string("\"") + key + "\" must be a number");
  *out = it->get<double>();
  return Status::OK();
}

Status ReadString(const json& o, const char* key, const std::string& where, std::string* out) {
  auto it = o.find(key);
  if (it == o.end()) return Bad(where, std::string("\"") + key + "\" is required");
  if (!it->is_string()) return Bad(where, std::string("\"") + key + "\" must be a string");
  *out = it->get<std::string>();
  return Status::OK();
}

// Only `allowed` keys may appear in object `o`.
Status OnlyKeys(const json& o, std::initializer_list<const char*> allowed, const std::string& where) {
  if (!o.is_object()) return Bad(where, "must be an object");
  for (auto it = o.begin(); it != o.end(); ++it) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || it.key() == a;
    if (!ok) return Bad(where, "unknown key \"" + it.key().substr(0, 64) + "\"");
  }
  return Status::OK();
}

}  // namespace

SearchParams RerankCandidateParams(const RerankPipeline& p, const SearchParams& params) {
  SearchParams inner = params;
  inner.k = p.CandidatesFor(params.k + params.offset);
  inner.offset = 0;
  const bool needs_meta = !p.boosts.empty() || !p.fields.empty() || p.decay.has_value() || p.custom.has_value();
  inner.include_metadata = params.include_metadata || needs_meta;
  inner.include_vector = params.include_vector || p.mmr.has_value() || p.custom.has_value();
  return inner;
}

int RerankPipeline::CandidatesFor(int k) const {
  if (candidates > 0) return candidates;
  return std::max(k, std::min(4 * k, kMaxRerankCandidates));
}

Status RerankPipeline::Validate(int k) const {
  if (candidates < 0 || candidates > kMaxRerankCandidates)
    return Bad("candidates", "must be from k to " + std::to_string(kMaxRerankCandidates) + ", got " +
                                 std::to_string(candidates));
  if (CandidatesFor(k) < k)
    return Bad("candidates", std::to_string(candidates) + " is fewer than the " + std::to_string(k) +
                                 " hits asked for (k + offset)");
  if (CandidatesFor(k) > kMaxRerankCandidates)
    return Bad("candidates", "k + offset = " + std::to_string(k) + " is over the " +
                                 std::to_string(kMaxRerankCandidates) + " candidates a rerank can take");
  if (boosts.size() > kMaxRerankBoosts) return Bad("boosts", "at most 16 boosts");
  for (size_t i = 0; i < boosts.size(); ++i) {
    const std::string where = "boosts[" + std::to_string(i) + "]";
    VECTRON_RETURN_IF_ERROR(CheckWeight(where, boosts[i].weight));
    if (!(boosts[i].weight > 0)) return Bad(where, "weight must be above 0 (it multiplies)");
    Result<filter::Filter> f = filter::ParseText(boosts[i].where);
    if (!f.ok()) return f.status().WithContext("rerank " + where + ".where");
  }
  if (fields.size() > kMaxRerankFields) return Bad("fields", "at most 16 fields");
  for (size_t i = 0; i < fields.size(); ++i) {
    const std::string where = "fields[" + std::to_string(i) + "]";
    VECTRON_RETURN_IF_ERROR(CheckWeight(where, fields[i].weight));
    Result<filter::FieldPath> p = payload::ParseFieldName(fields[i].field);
    if (!p.ok()) return p.status().WithContext("rerank " + where + ".field");
  }
  if (decay) {
    VECTRON_RETURN_IF_ERROR(CheckWeight("decay", decay->weight));
    if (!std::isfinite(decay->half_life_s) || !(decay->half_life_s > 0))
      return Bad("decay", "half_life_s must be a finite number above 0");
    Result<filter::FieldPath> p = payload::ParseFieldName(decay->field);
    if (!p.ok()) return p.status().WithContext("rerank decay.field");
  }
  if (mmr && (!std::isfinite(mmr->lambda) || mmr->lambda < 0 || mmr->lambda > 1))
    return Bad("mmr", "lambda must be from 0 to 1");
  if (feedback) {
    VECTRON_RETURN_IF_ERROR(CheckWeight("feedback", feedback->weight));
    if (!std::isfinite(feedback->prior_count) || !(feedback->prior_count > 0) || feedback->prior_count > 1e9)
      return Bad("feedback", "prior_count must be a number above 0 (at most 1e9)");
    if (!std::isfinite(feedback->prior_mean) || feedback->prior_mean < 1 || feedback->prior_mean > 5)
      return Bad("feedback", "prior_mean must be from 1 to 5");
  }
  if (custom) {
    VECTRON_RETURN_IF_ERROR(CheckWeight("custom", custom->weight));
    if (!custom->fn) return Bad("custom", "no scoring function");
  }
  return Status::OK();
}

Result<RerankPipeline> ParseRerankPipeline(std::string_view text) {
  if (text.size() > 1 << 20) return Bad("pipeline", "over 1 MiB");
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return Bad("pipeline", "not valid JSON");
  VECTRON_RETURN_IF_ERROR(
      OnlyKeys(j, {"candidates", "boosts", "fields", "decay", "mmr", "feedback"}, "pipeline (stages: candidates, "
                                                                                 "boosts, fields, decay, mmr, feedback)"));
  RerankPipeline p;
  if (auto it = j.find("candidates"); it != j.end()) {
    if (!it->is_number_integer()) return Bad("candidates", "must be an integer");
    int64_t n = it->get<int64_t>();
    if (n < 1 || n > kMaxRerankCandidates)
      return Bad("candidates", "must be from k to " + std::to_string(kMaxRerankCandidates) + ", got " +
                                   std::to_string(n));
    p.candidates = static_cast<int>(n);
  }
  if (auto it = j.find("boosts"); it != j.end()) {
    if (!it->is_array()) return Bad("boosts", "must be a list");
    if (it->size() > kMaxRerankBoosts) return Bad("boosts", "at most 16 boosts");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& b = (*it)[i];
      const std::string where = "boosts[" + std::to_string(i) + "]";
      VECTRON_RETURN_IF_ERROR(OnlyKeys(b, {"where", "weight"}, where));
      RerankBoost boost;
      auto w = b.find("where");
      if (w == b.end() || !w->is_object()) return Bad(where, "\"where\" must be a filter object");
      boost.where = w->dump();
      VECTRON_RETURN_IF_ERROR(ReadNumber(b, "weight", where, &boost.weight, true));
      p.boosts.push_back(std::move(boost));
    }
  }
  if (auto it = j.find("fields"); it != j.end()) {
    if (!it->is_array()) return Bad("fields", "must be a list");
    if (it->size() > kMaxRerankFields) return Bad("fields", "at most 16 fields");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& f = (*it)[i];
      const std::string where = "fields[" + std::to_string(i) + "]";
      VECTRON_RETURN_IF_ERROR(OnlyKeys(f, {"field", "weight", "transform"}, where));
      RerankField field;
      VECTRON_RETURN_IF_ERROR(ReadString(f, "field", where, &field.field));
      VECTRON_RETURN_IF_ERROR(ReadNumber(f, "weight", where, &field.weight, true));
      if (auto t = f.find("transform"); t != f.end()) {
        if (*t == "none") field.transform = FieldTransform::kNone;
        else if (*t == "log1p") field.transform = FieldTransform::kLog1p;
        else return Bad(where, "transform must be \"none\" or \"log1p\"");
      }
      p.fields.push_back(std::move(field));
    }
  }
  if (auto it = j.find("decay"); it != j.end()) {
    VECTRON_RETURN_IF_ERROR(OnlyKeys(*it, {"field", "half_life_s", "weight"}, "decay"));
    RerankDecay d;
    VECTRON_RETURN_IF_ERROR(ReadString(*it, "field", "decay", &d.field));
    VECTRON_RETURN_IF_ERROR(ReadNumber(*it, "half_life_s", "decay", &d.half_life_s, false));
    VECTRON_RETURN_IF_ERROR(ReadNumber(*it, "weight", "decay", &d.weight, true));
    p.decay = d;
  }
  if (auto it = j.find("mmr"); it != j.end()) {
    VECTRON_RETURN_IF_ERROR(OnlyKeys(*it, {"lambda"}, "mmr"));
    RerankMmr m;
    VECTRON_RETURN_IF_ERROR(ReadNumber(*it, "lambda", "mmr", &m.lambda, false));
    p.mmr = m;
  }
  if (auto it = j.find("feedback"); it != j.end()) {
    VECTRON_RETURN_IF_ERROR(OnlyKeys(*it, {"weight", "prior_count", "prior_mean"}, "feedback"));
    RerankFeedback f;
    VECTRON_RETURN_IF_ERROR(ReadNumber(*it, "weight", "feedback", &f.weight, true));
    VECTRON_RETURN_IF_ERROR(ReadNumber(*it, "prior_count", "feedback", &f.prior_count, false));
    VECTRON_RETURN_IF_ERROR(ReadNumber(*it, "prior_mean", "feedback", &f.prior_mean, false));
    p.feedback = f;
  }
  // Checks that do not depend on k (k = 1 passes any candidates count from 1).
  VECTRON_RETURN_IF_ERROR(p.Validate(1));
  return p;
}

std::string RerankPipelineToJson(const RerankPipeline& p) {
  json j = json::object();
  if (p.candidates > 0) j["candidates"] = p.candidates;
  if (!p.boosts.empty()) {
    json a = json::array();
    for (const auto& b : p.boosts) a.push_back({{"where", json::parse(b.where, nullptr, false)}, {"weight", b.weight}});
    j["boosts"] = a;
  }
  if (!p.fields.empty()) {
    json a = json::array();
    for (const auto& f : p.fields)
      a.push_back({{"field", f.field},
                   {"weight", f.weight},
                   {"transform", f.transform == FieldTransform::kLog1p ? "log1p" : "none"}});
    j["fields"] = a;
  }
  if (p.decay) j["decay"] = {{"field", p.decay->field}, {"half_life_s", p.decay->half_life_s}, {"weight", p.decay->weight}};
  if (p.mmr) j["mmr"] = {{"lambda", p.mmr->lambda}};
  if (p.feedback)
    j["feedback"] = {{"weight", p.feedback->weight},
                     {"prior_count", p.feedback->prior_count},
                     {"prior_mean", p.feedback->prior_mean}};
  return j.dump();
}

std::string NewQueryId() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  uint64_t a, b;
  {
    std::lock_guard<std::mutex> lock(mu);
    a = rng();
    b = rng();
  }
  char bytes[16];
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<char>(a >> (56 - 8 * i));
    bytes[8 + i] = static_cast<char>(b >> (56 - 8 * i));
  }
  return HexEncode(std::string_view(bytes, sizeof bytes));
}

}  // namespace vectron
