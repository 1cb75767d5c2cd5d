#include "net/auth/jwt.h"

#include "net/auth/base64url.h"
#include "net/io/crypto.h"

namespace vectron::net {

using nlohmann::json;

const char* JwtAlgName(JwtAlg alg) { return alg == JwtAlg::kHS256 ? "HS256" : "EdDSA"; }

Result<JwtKey> JwtKey::Generate(JwtAlg alg, std::string kid) {
  JwtKey k;
  k.kid = std::move(kid);
  k.alg = alg;
  if (alg == JwtAlg::kHS256) {
    VECTRON_ASSIGN_OR_RETURN(k.secret, crypto::RandomBytes(32));
  } else {
    VECTRON_ASSIGN_OR_RETURN(auto kp, crypto::Ed25519Generate());
    k.private_key = std::move(kp.private_key);
    k.public_key = std::move(kp.public_key);
  }
  return k;
}

const JwtKey* JwtKeySet::Find(std::string_view kid) const {
  auto it = keys_.find(kid);
  return it == keys_.end() ? nullptr : &it->second;
}

Result<std::string> JwtSign(const json& claims, const JwtKey& key) {
  if (!claims.is_object()) return Status::InvalidArgument("JWT claims must be a JSON object");
  json header = {{"alg", JwtAlgName(key.alg)}, {"typ", "JWT"}, {"kid", key.kid}};
  std::string input = Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims.dump());
  std::string sig;
  if (key.alg == JwtAlg::kHS256) {
    if (key.secret.size() < 32) return Status::InvalidArgument("an HS256 key needs at least 32 bytes");
    sig = crypto::HmacSha256(key.secret, input);
  } else {
    if (key.private_key.empty()) return Status::InvalidArgument("key " + key.kid + " is verify-only");
    VECTRON_ASSIGN_OR_RETURN(sig, crypto::Ed25519Sign(key.private_key, input));
  }
  return input + "." + Base64UrlEncode(sig);
}

namespace {

Status Bad(std::string message) { return Status::InvalidArgument(std::move(message)); }

// A JSON object from one base64url part, or an error naming the part.
Result<json> DecodePart(std::string_view part, const char* what) {
  auto raw = Base64UrlDecode(part);
  if (!raw) return Bad(std::string("token ") + what + " is not valid base64url");
  json j = json::parse(*raw, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Bad(std::string("token ") + what + " is not a JSON object");
  return j;
}

// An integer NumericDate claim, if present. Errors for a non-integer value.
Result<std::optional<int64_t>> TimeClaim(const json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::optional<int64_t>();
  if (it->is_number_integer()) return std::optional<int64_t>(it->get<int64_t>());
  if (it->is_number_float()) {
    double d = it->get<double>();
    if (d > -9e15 && d < 9e15) return std::optional<int64_t>(static_cast<int64_t>(d));
  }
  return Bad(std::string("token claim \"") + name + "\" is not a number of seconds");
}

}  // namespace

Result<json> JwtVerify(std::string_view token, const JwtKeySet& keys, const JwtVerifyOptions& opt) {
  if (token.empty()) return Bad("token is empty");
  if (token.size() > opt.max_token_bytes)
    return Bad("token is longer than " + std::to_string(opt.max_token_bytes) + " bytes");
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return Bad("token is not a JWT (expected header.payload.signature)");
  std::string_view h64 = token.substr(0, d1), p64 = token.substr(d1 + 1, d2 - d1 - 1), s64 = token.substr(d2 + 1);
  VECTRON_ASSIGN_OR_RETURN(json header, DecodePart(h64, "header"));

  auto alg_it = header.find("alg");
  if (alg_it == header.end() || !alg_it->is_string()) return Bad("token header has no \"alg\"");
  const std::string alg = alg_it->get<std::string>();
  if (alg == "none" || alg == "None" || alg == "NONE") return Bad("token alg \"none\" is not accepted");
  if (auto typ = header.find("typ"); typ != header.end() && (!typ->is_string() || *typ != "JWT"))
    return Bad("token header \"typ\" must be \"JWT\"");
  if (header.contains("crit")) return Bad("token header \"crit\" is not supported");
  auto kid_it = header.find("kid");
  if (kid_it == header.end() || !kid_it->is_string()) return Bad("token header has no \"kid\" (key id)");
  const JwtKey* key = keys.Find(kid_it->get<std::string>());
  if (!key) return Bad("token signed with an unknown or retired key id \"" + kid_it->get<std::string>() + "\"");
  // The key decides the algorithm; the header only has to agree.
  if (alg != JwtAlgName(key->alg))
    return Bad("token alg \"" + alg + "\" does not match its key (" + JwtAlgName(key->alg) + ")");

  if (s64.empty()) return Bad("token has no signature");
  auto sig = Base64UrlDecode(s64);
  if (!sig) return Bad("token signature is not valid base64url");
  std::string_view input = token.substr(0, d2);
  bool ok;
  if (key->alg == JwtAlg::kHS256) {
    ok = !key->secret.empty() && crypto::ConstantTimeEqual(crypto::HmacSha256(key->secret, input), *sig);
  } else {
    ok = crypto::Ed25519Verify(key->public_key, input, *sig);
  }
  if (!ok) return Bad("token signature is invalid");

  VECTRON_ASSIGN_OR_RETURN(json claims, DecodePart(p64, "payload"));
  VECTRON_ASSIGN_OR_RETURN(auto exp, TimeClaim(claims, "exp"));
  VECTRON_ASSIGN_OR_RETURN(auto nbf, TimeClaim(claims, "nbf"));
  VECTRON_ASSIGN_OR_RETURN(auto iat, TimeClaim(claims, "iat"));
  if (!exp) return Bad("token has no expiry (\"exp\")");
  if (opt.now_s > *exp + opt.leeway_s) return Bad("token expired " + std::to_string(opt.now_s - *exp) + " s ago");
  if (nbf && opt.now_s + opt.leeway_s < *nbf)
    return Bad("token is not valid yet (for another " + std::to_string(*nbf - opt.now_s) + " s)");
  if (iat && opt.now_s + opt.leeway_s < *iat) return Bad("token was issued in the future");
  if (!opt.issuer.empty()) {
    auto it = claims.find("iss");
    if (it == claims.end() || !it->is_string() || *it != opt.issuer)
      return Bad("token issuer (\"iss\") is not \"" + opt.issuer + "\"");
  }
  if (!opt.audience.empty()) {
    auto it = claims.find("aud");
    bool match = false;
    if (it != claims.end() && it->is_string()) match = *it == opt.audience;
    if (it != claims.end() && it->is_array())
      for (const auto& a : *it) match = match || (a.is_string() && a == opt.audience);
    if (!match) return Bad("token audience (\"aud\") does not include \"" + opt.audience + "\"");
  }
  return claims;
}

}  // namespace vectron::net
