// JSON Web Tokens (RFC 7519) signed with HS256 (HMAC-SHA256) or EdDSA (Ed25519), with
// key ids for rotation. Verification is strict: the key named by `kid` decides the
// algorithm (the header's "alg" must match it exactly: no "none", no confusion between
// HMAC and public-key algorithms), signatures are compared in constant time, and
// exp/nbf/iat/iss/aud are checked with a small leeway.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "vectron/status.h"

namespace vectron::net {

enum class JwtAlg { kHS256, kEdDSA };
// "HS256" or "EdDSA" (the JOSE names).
const char* JwtAlgName(JwtAlg alg);

struct JwtKey {
  std::string kid;          // Key id, put in the header of every token it signs.
  JwtAlg alg = JwtAlg::kEdDSA;
  std::string secret;       // HS256: the HMAC key (at least 32 bytes).
  std::string private_key;  // EdDSA: 32 raw bytes; empty for a verify-only key.
  std::string public_key;   // EdDSA: 32 raw bytes.

  // A fresh random key. Errors: Internal (the CSPRNG).
  static Result<JwtKey> Generate(JwtAlg alg, std::string kid);
};

// The keys a verifier accepts, by kid, and the one a signer uses. Not thread-safe
// (callers hold it under their own lock or copy it).
class JwtKeySet {
 public:
  void Add(JwtKey key) { keys_[key.kid] = std::move(key); }
  // Retires a key: tokens it signed stop verifying. Returns false if unknown.
  bool Remove(const std::string& kid) { return keys_.erase(kid) > 0; }
  // REQUIRES: a key with this kid was added.
  void SetSigning(const std::string& kid) { signing_kid_ = kid; }
  const JwtKey* Find(std::string_view kid) const;
  const JwtKey* signing_key() const { return Find(signing_kid_); }
  const std::map<std::string, JwtKey, std::less<>>& keys() const { return keys_; }

 private:
  std::map<std::string, JwtKey, std::less<>> keys_;
  std::string signing_kid_;
};

// header.payload.signature for `claims` (a JSON object), signed by `key` with its kid.
// Errors: InvalidArgument (claims not an object, key without a private part).
Result<std::string> JwtSign(const nlohmann::json& claims, const JwtKey& key);

struct JwtVerifyOptions {
  std::string issuer;      // "iss" must equal it (when non-empty).
  std::string audience;    // "aud" (a string, or an array) must hold it (when non-empty).
  int64_t now_s = 0;       // Unix seconds.
  int64_t leeway_s = 30;   // Clock skew allowed on exp, nbf and iat.
  size_t max_token_bytes = 8192;
};

// The claims of `token` once its structure, algorithm, signature and time/iss/aud
// claims check out. "exp" is required. Errors: InvalidArgument whose message says what
// is wrong ("token expired 40 s ago", "alg none is not accepted", "unknown key id").
// Never throws, whatever the input.
Result<nlohmann::json> JwtVerify(std::string_view token, const JwtKeySet& keys, const JwtVerifyOptions& options);

}  // namespace vectron::net
