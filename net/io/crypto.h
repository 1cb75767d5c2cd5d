// The cryptographic primitives auth needs, over OpenSSL (net/io is the only code that
// includes openssl/*): random bytes, HMAC-SHA256, Ed25519, scrypt, constant-time
// comparison, a self-signed certificate for development TLS, and a cluster CA with the
// certificates it issues. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vectron/status.h"

namespace vectron::net::crypto {

// The messages of this thread's OpenSSL error queue, joined by "; ", which it empties;
// "unknown OpenSSL error" if it was empty. For the Status of a failed OpenSSL call.
std::string OpenSslError();

// `n` bytes from the OpenSSL CSPRNG. Errors: Internal if it fails.
Result<std::string> RandomBytes(size_t n);

// HMAC-SHA256 of `data` under `key` (32 bytes).
std::string HmacSha256(std::string_view key, std::string_view data);

// True if a and b are equal, in time that depends only on their lengths.
bool ConstantTimeEqual(std::string_view a, std::string_view b);

struct Ed25519KeyPair {
  std::string private_key;  // 32 raw bytes (the seed).
  std::string public_key;   // 32 raw bytes.
};
// A fresh key pair. Errors: Internal.
Result<Ed25519KeyPair> Ed25519Generate();
// The 64-byte signature of `data`. Errors: InvalidArgument (bad key), Internal.
Result<std::string> Ed25519Sign(std::string_view private_key, std::string_view data);
// True iff `signature` is a valid signature of `data` under `public_key`; false for any
// malformed input.
bool Ed25519Verify(std::string_view public_key, std::string_view data, std::string_view signature);

// scrypt (RFC 7914) of `password` with `salt`: `out_len` bytes. N must be a power of 2.
// Errors: InvalidArgument (parameters), ResourceExhausted (memory).
Result<std::string> Scrypt(std::string_view password, std::string_view salt, uint64_t n, uint64_t r, uint64_t p,
                           size_t out_len);

// Writes a self-signed certificate (EC P-256, SHA-256, valid `days`, CN and SANs from
// `hosts`: IP addresses become IP SANs, names DNS SANs) and its private key as PEM files.
// The key file is created mode 0600. Errors: IOError naming the file, Internal.
Status WriteSelfSignedCert(const std::string& cert_path, const std::string& key_path,
                           const std::vector<std::string>& hosts, int days);

// Writes a certificate authority for a cluster's node certificates: self-signed, EC
// P-256, CA:TRUE, CN `name`, valid `days`, and its key (mode 0600) as PEM files.
// Errors: IOError naming the file, Internal.
Status WriteCaCert(const std::string& cert_path, const std::string& key_path, const std::string& name, int days);

// Writes a certificate for `name` (its CN and DNS SAN) signed by the CA in
// `ca_cert_path`/`ca_key_path`, for TLS both as server and client, and its fresh key
// (mode 0600). Errors: InvalidArgument naming a CA file that does not load or a key that
// does not match, IOError naming the file written, Internal.
Status IssueCert(const std::string& ca_cert_path, const std::string& ca_key_path, const std::string& cert_path,
                 const std::string& key_path, const std::string& name, int days);

}  // namespace vectron::net::crypto
