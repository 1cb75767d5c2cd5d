// base64url (RFC 4648 §5) without padding, as JWT uses it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace vectron::net {

// Encodes `data` without '=' padding.
std::string Base64UrlEncode(std::string_view data);
// Decodes unpadded base64url. Strict: returns nullopt for any character outside the
// alphabet, padding, a length of 4k+1, or non-zero unused trailing bits (so every byte
// string has exactly one accepted encoding).
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace vectron::net
