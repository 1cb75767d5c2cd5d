#include "net/io/tls.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/io/crypto.h"

namespace vectron::net {
namespace {

using crypto::OpenSslError;

SSL* S(void* p) { return static_cast<SSL*>(p); }
BIO* B(void* p) { return static_cast<BIO*>(p); }

}  // namespace

Result<std::shared_ptr<TlsContext>> TlsContext::Load(const std::string& cert_path, const std::string& key_path) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return Status::Internal("SSL_CTX_new: " + OpenSslError());
  std::shared_ptr<TlsContext> holder(new TlsContext(ctx, /*client=*/false, /*verify=*/false));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_path.c_str()) != 1)
    return Status::InvalidArgument("--tls-cert " + cert_path + ": " + OpenSslError());
  if (SSL_CTX_use_PrivateKey_file(ctx, key_path.c_str(), SSL_FILETYPE_PEM) != 1)
    return Status::InvalidArgument("--tls-key " + key_path + ": " + OpenSslError());
  if (SSL_CTX_check_private_key(ctx) != 1)
    return Status::InvalidArgument("--tls-key " + key_path + " does not match --tls-cert: " + OpenSslError());
  return holder;
}

Result<std::shared_ptr<TlsContext>> TlsContext::LoadClient(const TlsClientOptions& options) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return Status::Internal("SSL_CTX_new: " + OpenSslError());
  const bool verify = !options.insecure_skip_verify;
  std::shared_ptr<TlsContext> holder(new TlsContext(ctx, /*client=*/true, verify));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
  if (!verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return holder;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!options.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1)
      return Status::InvalidArgument("CA file " + options.ca_file + ": " + OpenSslError());
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return Status::InvalidArgument("OpenSSL default trust store: " + OpenSslError());
  }
  return holder;
}

Result<std::shared_ptr<TlsContext>> TlsContext::LoadMutual(const std::string& ca_path, const std::string& cert_path,
                                                           const std::string& key_path, bool client,
                                                           const std::string& own_name) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(client ? TLS_client_method() : TLS_server_method());
  if (!ctx) return Status::Internal("SSL_CTX_new: " + OpenSslError());
  std::shared_ptr<TlsContext> holder(new TlsContext(ctx, client, /*verify=*/true));
  auto unreadable = [](const std::string& path) -> std::string {
    if (::access(path.c_str(), R_OK) == 0) return "";
    return std::strerror(errno);
  };
  for (auto [flag, path] : {std::pair<const char*, const std::string*>{"--cluster-ca", &ca_path},
                            {"--cluster-cert", &cert_path}, {"--cluster-key", &key_path}}) {
    if (std::string why = unreadable(*path); !why.empty())
      return Status::InvalidArgument(std::string(flag) + " " + *path + ": " + why);
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (!client) SSL_CTX_set_num_tickets(ctx, 0);  // Connections are long-lived; no resumption.
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_path.c_str()) != 1)
    return Status::InvalidArgument("--cluster-cert " + cert_path + ": " + OpenSslError());
  if (SSL_CTX_use_PrivateKey_file(ctx, key_path.c_str(), SSL_FILETYPE_PEM) != 1) {
    std::string why = OpenSslError();
    // A key that loads on its own is the wrong one for the certificate.
    std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new_file(key_path.c_str(), "r"), BIO_free);
    EVP_PKEY* alone = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    ERR_clear_error();
    if (alone) {
      EVP_PKEY_free(alone);
      return Status::InvalidArgument("--cluster-key " + key_path + " does not match --cluster-cert " + cert_path);
    }
    return Status::InvalidArgument("--cluster-key " + key_path + ": " + why);
  }
  if (SSL_CTX_check_private_key(ctx) != 1)
    return Status::InvalidArgument("--cluster-key " + key_path + " does not match --cluster-cert " + cert_path + ": " +
                                   OpenSslError());
  if (SSL_CTX_load_verify_locations(ctx, ca_path.c_str(), nullptr) != 1)
    return Status::InvalidArgument("--cluster-ca " + ca_path + ": " + OpenSslError());
  // This node's own certificate must verify against the CA, as its peers will check it.
  X509* own = SSL_CTX_get0_certificate(ctx);
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(ctx, &chain);
  std::unique_ptr<X509_STORE_CTX, void (*)(X509_STORE_CTX*)> vctx(X509_STORE_CTX_new(), X509_STORE_CTX_free);
  if (!vctx || X509_STORE_CTX_init(vctx.get(), SSL_CTX_get_cert_store(ctx), own, chain) != 1)
    return Status::Internal("X509_STORE_CTX: " + OpenSslError());
  if (X509_verify_cert(vctx.get()) != 1)
    return Status::InvalidArgument(
        "--cluster-cert " + cert_path + " does not verify against --cluster-ca " + ca_path + ": " +
        X509_verify_cert_error_string(X509_STORE_CTX_get_error(vctx.get())));
  if (!own_name.empty() &&
      X509_check_host(own, own_name.c_str(), own_name.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) != 1) {
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(own), NID_commonName, cn, sizeof(cn));
    return Status::InvalidArgument("--cluster-cert " + cert_path + " is for \"" + cn + "\", not for this node (\"" +
                                   own_name + "\")");
  }
  ERR_clear_error();
  // Servers ask for and require a client certificate; clients check the server's (and
  // its name, per session: TlsSession's server_name).
  SSL_CTX_set_verify(ctx, client ? SSL_VERIFY_PEER : SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return holder;
}

TlsContext::~TlsContext() { SSL_CTX_free(static_cast<SSL_CTX*>(ctx_)); }

namespace {

// A fresh SSL over two memory BIOs.
SSL* NewMemorySsl(const TlsContext& ctx, BIO** r, BIO** w) {
  SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ctx.raw()));
  VECTRON_CHECK(ssl != nullptr);
  *r = BIO_new(BIO_s_mem());
  *w = BIO_new(BIO_s_mem());
  VECTRON_CHECK(*r && *w);
  BIO_set_mem_eof_return(*r, -1);  // An empty read BIO means "want more", not EOF.
  SSL_set_bio(ssl, *r, *w);
  return ssl;
}

bool IsNumericAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

TlsSession::TlsSession(const TlsContext& ctx) {
  VECTRON_CHECK(!ctx.client());
  BIO *r, *w;
  SSL* ssl = NewMemorySsl(ctx, &r, &w);
  SSL_set_accept_state(ssl);
  ssl_ = ssl;
  rbio_ = r;
  wbio_ = w;
}

TlsSession::TlsSession(const TlsContext& ctx, const std::string& server_name) {
  VECTRON_CHECK(ctx.client());
  BIO *r, *w;
  SSL* ssl = NewMemorySsl(ctx, &r, &w);
  SSL_set_connect_state(ssl);
  ssl_ = ssl;
  rbio_ = r;
  wbio_ = w;
  const bool numeric = IsNumericAddress(server_name);
  if (!server_name.empty() && !numeric) SSL_set_tlsext_host_name(ssl, server_name.c_str());
  if (ctx.verify_peer() && !server_name.empty()) {
    // Name (or IP SAN) checking is part of the handshake's certificate verification.
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (numeric) {
      VECTRON_CHECK(X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str()) == 1);
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      VECTRON_CHECK(SSL_set1_host(ssl, server_name.c_str()) == 1);
    }
  }
}

TlsSession::~TlsSession() { SSL_free(S(ssl_)); }

bool TlsSession::PeerCertificateIsFor(const std::string& name) const {
  if (!handshake_done_ || name.empty()) return false;
  X509* peer = SSL_get0_peer_certificate(S(ssl_));
  if (!peer || SSL_get_verify_result(S(ssl_)) != X509_V_OK) return false;
  return X509_check_host(peer, name.c_str(), name.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) == 1;
}

Status TlsSession::Flush(std::string* out) {
  char buf[16384];
  int n;
  while ((n = BIO_read(B(wbio_), buf, sizeof(buf))) > 0) out->append(buf, static_cast<size_t>(n));
  return Status::OK();
}

Status TlsSession::Pump(std::string* plain, std::string* out) {
  ERR_clear_error();
  if (!handshake_done_) {
    int r = SSL_do_handshake(S(ssl_));
    if (r == 1) {
      handshake_done_ = true;
    } else {
      int err = SSL_get_error(S(ssl_), r);
      VECTRON_RETURN_IF_ERROR(Flush(out));
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return Status::OK();
      std::string why = OpenSslError();
      long vr = SSL_get_verify_result(S(ssl_));
      if (vr != X509_V_OK) why += " (" + std::string(X509_verify_cert_error_string(vr)) + ")";
      return Status::Unavailable("TLS handshake failed: " + why);
    }
  }
  char buf[16384];
  for (;;) {
    int n = SSL_read(S(ssl_), buf, sizeof(buf));
    if (n > 0) {
      plain->append(buf, static_cast<size_t>(n));
      continue;
    }
    int err = SSL_get_error(S(ssl_), n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
    if (err == SSL_ERROR_ZERO_RETURN) break;  // close_notify; the socket EOF follows.
    VECTRON_RETURN_IF_ERROR(Flush(out));
    return Status::Unavailable("TLS read failed: " + OpenSslError());
  }
  if (handshake_done_ && !pending_plain_.empty()) {
    std::string p;
    p.swap(pending_plain_);
    VECTRON_RETURN_IF_ERROR(Send(p, out));
  }
  return Flush(out);
}

Status TlsSession::Receive(std::string_view cipher, std::string* plain, std::string* out) {
  while (!cipher.empty()) {
    int n = BIO_write(B(rbio_), cipher.data(), static_cast<int>(cipher.size()));
    if (n <= 0) return Status::Internal("BIO_write failed");
    cipher.remove_prefix(static_cast<size_t>(n));
  }
  return Pump(plain, out);
}

Status TlsSession::Send(std::string_view plain, std::string* out) {
  if (!handshake_done_) {
    pending_plain_.append(plain);
    return Status::OK();
  }
  ERR_clear_error();
  while (!plain.empty()) {
    int n = SSL_write(S(ssl_), plain.data(), static_cast<int>(plain.size()));
    if (n <= 0) return Status::Unavailable("TLS write failed: " + OpenSslError());
    plain.remove_prefix(static_cast<size_t>(n));
    VECTRON_RETURN_IF_ERROR(Flush(out));
  }
  return Flush(out);
}

Status ValidateTlsFlags(const std::string& cert_path, const std::string& key_path, bool insecure_http) {
  if (cert_path.empty() != key_path.empty()) return Status::InvalidArgument("give both --tls-cert and --tls-key, or neither");
  if (insecure_http && !cert_path.empty())
    return Status::InvalidArgument("--insecure-http contradicts --tls-cert/--tls-key; give one or the other");
  return Status::OK();
}

Result<std::shared_ptr<TlsContext>> ServerTls(const std::string& cert_path, const std::string& key_path,
                                              bool insecure_http, const std::string& dir, std::string* served,
                                              std::vector<std::string>* notes) {
  served->clear();
  if (!cert_path.empty()) {
    VECTRON_ASSIGN_OR_RETURN(auto tls, TlsContext::Load(cert_path, key_path));
    *served = cert_path;
    return tls;
  }
  if (insecure_http) return std::shared_ptr<TlsContext>();
  std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Status::IOError(dir + ": " + std::strerror(errno));
  if (::access(cert.c_str(), F_OK) != 0 || ::access(key.c_str(), F_OK) != 0) {
    VECTRON_RETURN_IF_ERROR(crypto::WriteSelfSignedCert(cert, key, {"localhost", "127.0.0.1", "::1"}, 825));
    notes->push_back("generated a self-signed TLS certificate " + cert + " (trust it with: curl --cacert " + cert +
                     "; give --tls-cert/--tls-key for a real one)");
  }
  VECTRON_ASSIGN_OR_RETURN(auto tls, TlsContext::Load(cert, key));
  *served = cert;
  return tls;
}

}  // namespace vectron::net
