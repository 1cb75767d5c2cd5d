// TLS over memory BIOs: a byte transform between the socket and the protocol layer,
// so HTTP and RPC code never see whether a connection is encrypted.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vectron/status.h"

namespace vectron::net {

// How a client checks the server's certificate.
struct TlsClientOptions {
  // PEM file of trusted CA certificates (a self-signed server certificate may be its own
  // CA). Empty: OpenSSL's default trust store.
  std::string ca_file;
  // Skips every certificate check (chain and name): encrypted but not authenticated, for
  // development servers with throwaway self-signed certificates only.
  bool insecure_skip_verify = false;
  // The name the certificate must carry (and the SNI sent); empty = the host connected
  // to. A numeric address is matched against the certificate's IP SANs.
  std::string server_name;
};

// An SSL_CTX (TLS 1.2+): server side loaded with a certificate chain and private key
// (PEM), or client side with the trust settings of TlsClientOptions. Thread-safe once
// built; shared by all connections of a listener or client.
class TlsContext {
 public:
  // Server side. Errors: InvalidArgument naming the file and OpenSSL's reason (missing,
  // unreadable, key does not match the certificate).
  static Result<std::shared_ptr<TlsContext>> Load(const std::string& cert_path, const std::string& key_path);
  // Client side. Errors: InvalidArgument naming the CA file and OpenSSL's reason.
  static Result<std::shared_ptr<TlsContext>> LoadClient(const TlsClientOptions& options);
  // Mutual TLS between cluster nodes (TcpClusterTransport), server or client side:
  // TLS 1.3 only, this node's certificate chain and key (PEM) presented, the peer's
  // certificate required and verified against the CAs in `ca_path` only (not the system
  // trust store). `own_name` non-empty: the certificate must be for that name (DNS SAN
  // or CN). Errors: InvalidArgument naming the flag (--cluster-ca/-cert/-key), the file
  // and the reason: missing or unreadable, not PEM, the key does not match the
  // certificate, the certificate is not signed by the CA or is not for `own_name`.
  static Result<std::shared_ptr<TlsContext>> LoadMutual(const std::string& ca_path, const std::string& cert_path,
                                                        const std::string& key_path, bool client,
                                                        const std::string& own_name = {});
  ~TlsContext();
  void* raw() const { return ctx_; }  // SSL_CTX*
  bool client() const { return client_; }
  bool verify_peer() const { return verify_; }

 private:
  TlsContext(void* ctx, bool client, bool verify) : ctx_(ctx), client_(client), verify_(verify) {}
  void* ctx_;
  bool client_;
  bool verify_;
};

// The flags of a TLS server (`vectron serve`, `vectron gateway`): InvalidArgument naming
// the contradiction (one of --tls-cert/--tls-key; --insecure-http with them).
Status ValidateTlsFlags(const std::string& cert_path, const std::string& key_path, bool insecure_http);

// A TLS server's context, secure by default: `cert_path`/`key_path` (PEM) if given; else,
// unless `insecure_http` (then null), a self-signed certificate for localhost,
// 127.0.0.1 and ::1, generated on first start into `dir` (cert.pem, key.pem, the
// directory mode 0700) and reused after. `*served` names the certificate served (empty
// without TLS); a line is added to `*notes` when one was generated. Errors: IOError
// (`dir`), InvalidArgument (files that do not load).
Result<std::shared_ptr<TlsContext>> ServerTls(const std::string& cert_path, const std::string& key_path,
                                              bool insecure_http, const std::string& dir, std::string* served,
                                              std::vector<std::string>* notes);

// One connection's TLS state. Not thread-safe (owned by its connection, on the loop, or
// by one client socket).
class TlsSession {
 public:
  // Server side of a connection: `ctx` must be a server context.
  explicit TlsSession(const TlsContext& ctx);
  // Client side: `ctx` must be a client context; `server_name` is sent as SNI (unless it
  // is a numeric address) and, if the context verifies, checked against the certificate.
  // The first Receive("") produces the ClientHello in `*out`.
  TlsSession(const TlsContext& ctx, const std::string& server_name);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Feeds ciphertext from the socket. Appends decrypted application bytes to `*plain`
  // and ciphertext to send back (handshake, alerts) to `*out`.
  // Errors: Unavailable with OpenSSL's reason if the peer broke the protocol or (client)
  // its certificate failed verification.
  Status Receive(std::string_view cipher, std::string* plain, std::string* out);
  // Encrypts `plain` (buffered until the handshake completes) into `*out`.
  Status Send(std::string_view plain, std::string* out);
  bool handshake_done() const { return handshake_done_; }
  // True once the handshake is done if the peer presented a certificate that passed
  // verification and is for `name` (a DNS SAN, or the CN if it has none). False without
  // a peer certificate (a server context that does not ask for one).
  bool PeerCertificateIsFor(const std::string& name) const;

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
