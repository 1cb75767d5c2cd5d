// TLS over memory BIOs: a byte transform between the socket and the protocol layer,
// so HTTP and RPC code never see whether a connection is encrypted.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "vectron/status.h"

namespace vectron::net {

// A server-side SSL_CTX loaded with a certificate chain and private key (PEM). Thread-safe
// once built; shared by all connections of a listener.
class TlsContext {
 public:
  // Errors: InvalidArgument naming the file and OpenSSL's reason (missing, unreadable,
  // key does not match the certificate).
  static Result<std::shared_ptr<TlsContext>> Load(const std::string& cert_path, const std::string& key_path);
  ~TlsContext();
  void* raw() const { return ctx_; }  // SSL_CTX*

 private:
  explicit TlsContext(void* ctx) : ctx_(ctx) {}
  void* ctx_;
};

// One connection's TLS state. Not thread-safe (owned by its connection, on the loop).
class TlsSession {
 public:
  explicit TlsSession(const TlsContext& ctx);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Feeds ciphertext from the socket. Appends decrypted application bytes to `*plain`
  // and ciphertext to send back (handshake, alerts) to `*out`.
  // Errors: Unavailable with OpenSSL's reason if the peer broke the protocol.
  Status Receive(std::string_view cipher, std::string* plain, std::string* out);
  // Encrypts `plain` (buffered until the handshake completes) into `*out`.
  Status Send(std::string_view plain, std::string* out);
  bool handshake_done() const { return handshake_done_; }

 private:
  Status Flush(std::string* out);
  Status Pump(std::string* plain, std::string* out);
  void* ssl_;    // SSL*
  void* rbio_;   // BIO* (owned by ssl_)
  void* wbio_;   // BIO* (owned by ssl_)
  bool handshake_done_ = false;
  std::string pending_plain_;  // Written before the handshake finished.
};

}  // namespace vectron::net
