// libFuzzer target for the JWT parser and verifier (net/auth/jwt.cc) and base64url:
// arbitrary bytes must be refused with a reason or verify, never crash, leak or hang.
// The first byte picks a mode:
//   0: the rest is a token, verified against an HS256 and an EdDSA key;
//   1: the rest is "header JSON\npayload JSON", signed correctly with the HS256 key, so
//      the header and claim checks behind the signature are reached too;
//   2: the rest is base64url text: a decode that succeeds must re-encode to the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "net/auth/base64url.h"
#include "net/auth/jwt.h"
#include "net/io/crypto.h"

using namespace vectron::net;

namespace {

const JwtKeySet& Keys() {
  static const JwtKeySet keys = [] {
    JwtKeySet k;
    JwtKey h;
    h.kid = "h";
    h.alg = JwtAlg::kHS256;
    h.secret = std::string(32, 'k');
    k.Add(h);
    JwtKey e;
    e.kid = "e";
    e.alg = JwtAlg::kEdDSA;
    e.public_key = std::string(32, '\x01');
    k.Add(e);
    k.SetSigning("h");
    return k;
  }();
  return keys;
}

void Verify(std::string_view token) {
  JwtVerifyOptions o;
  o.issuer = "vectron";
  o.audience = "vectron";
  o.now_s = 1'800'000'000;
  auto r = JwtVerify(token, Keys(), o);
  if (r.ok()) {
    // Whatever verified is an object with a usable expiry.
    if (!r->is_object() || !r->contains("exp")) std::abort();
  } else if (r.status().message().empty()) {
    std::abort();  // Every refusal says why.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0:
      Verify(in);
      break;
    case 1: {
      size_t nl = in.find('\n');
      std::string_view header = in.substr(0, nl), payload = nl == std::string_view::npos ? "" : in.substr(nl + 1);
      std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(payload);
      Verify(input + "." + Base64UrlEncode(crypto::HmacSha256(std::string(32, 'k'), input)));
      break;
    }
    case 2: {
      auto dec = Base64UrlDecode(in);
      if (dec && Base64UrlEncode(*dec) != in) std::abort();
      break;
    }
  }
  return 0;
}
