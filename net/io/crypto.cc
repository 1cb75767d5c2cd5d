#include "net/io/crypto.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace vectron::net::crypto {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct ExtFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

const unsigned char* U(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

}  // namespace

std::string OpenSslError() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

Result<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (n && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    return Status::Internal("RAND_bytes: " + OpenSslError());
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  unsigned char* r = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), U(data), data.size(), mac, &len);
  VECTRON_CHECK(r != nullptr);
  return std::string(reinterpret_cast<char*>(mac), len);
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<Ed25519KeyPair> Ed25519Generate() {
  ERR_clear_error();
  PkeyCtx ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) return Status::Internal("Ed25519 keygen: " + OpenSslError());
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_keygen(ctx.get(), &raw) != 1) return Status::Internal("Ed25519 keygen: " + OpenSslError());
  Pkey key(raw);
  Ed25519KeyPair kp;
  size_t len = 32;
  kp.private_key.resize(32);
  kp.public_key.resize(32);
  if (EVP_PKEY_get_raw_private_key(key.get(), reinterpret_cast<unsigned char*>(kp.private_key.data()), &len) != 1 ||
      len != 32)
    return Status::Internal("Ed25519 private key: " + OpenSslError());
  len = 32;
  if (EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(kp.public_key.data()), &len) != 1 ||
      len != 32)
    return Status::Internal("Ed25519 public key: " + OpenSslError());
  return kp;
}

Result<std::string> Ed25519Sign(std::string_view private_key, std::string_view data) {
  ERR_clear_error();
  if (private_key.size() != 32) return Status::InvalidArgument("an Ed25519 private key has 32 bytes");
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, U(private_key), private_key.size()));
  if (!key) return Status::InvalidArgument("Ed25519 private key: " + OpenSslError());
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1)
    return Status::Internal("Ed25519 sign: " + OpenSslError());
  std::string sig(64, '\0');
  size_t len = sig.size();
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, U(data), data.size()) != 1)
    return Status::Internal("Ed25519 sign: " + OpenSslError());
  sig.resize(len);
  return sig;
}

bool Ed25519Verify(std::string_view public_key, std::string_view data, std::string_view signature) {
  if (public_key.size() != 32 || signature.size() != 64) return false;
  Pkey key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, U(public_key), public_key.size()));
  bool ok = false;
  if (key) {
    MdCtx ctx(EVP_MD_CTX_new());
    ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), U(signature), signature.size(), U(data), data.size()) == 1;
  }
  ERR_clear_error();
  return ok;
}

Result<std::string> Scrypt(std::string_view password, std::string_view salt, uint64_t n, uint64_t r, uint64_t p,
                           size_t out_len) {
  ERR_clear_error();
  if (n < 2 || (n & (n - 1)) != 0) return Status::InvalidArgument("scrypt N must be a power of 2");
  if (r == 0 || p == 0 || out_len == 0) return Status::InvalidArgument("scrypt r, p and length must be positive");
  std::string out(out_len, '\0');
  // 128 * N * r bytes of memory, plus slack.
  uint64_t maxmem = 128 * n * r * p + (16u << 20);
  if (EVP_PBE_scrypt(password.data(), password.size(), U(salt), salt.size(), n, r, p, maxmem,
                     reinterpret_cast<unsigned char*>(out.data()), out_len) != 1)
    return Status::ResourceExhausted("scrypt: " + OpenSslError());
  return out;
}

namespace {

// What MakeCertificate builds.
struct CertSpecForCrypto {
  std::vector<std::string> hosts;  // CN = the first (or "localhost"); every one a SAN unless !san.
  bool san = true;
  std::string organization;
  int days = 825;
  bool ca = false;                 // basicConstraints CA:TRUE (and keyCertSign).
  const char* key_usage = "critical,digitalSignature";
  const char* ext_key_usage = "serverAuth";  // nullptr: none.
};

struct X509Made {
  std::unique_ptr<X509, X509Free> cert;
  Pkey key;
};

// A fresh EC P-256 key and a certificate for it, signed by `issuer_key` with
// `issuer_cert`'s subject as issuer, or self-signed when `issuer_cert` is null.
Result<X509Made> MakeCertificate(const CertSpecForCrypto& spec, X509* issuer_cert, EVP_PKEY* issuer_key) {
  ERR_clear_error();
  PkeyCtx kctx(EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr));
  if (!kctx || EVP_PKEY_keygen_init(kctx.get()) != 1 ||
      EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kctx.get(), NID_X9_62_prime256v1) != 1)
    return Status::Internal("EC keygen: " + OpenSslError());
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_keygen(kctx.get(), &raw) != 1) return Status::Internal("EC keygen: " + OpenSslError());
  X509Made made{std::unique_ptr<X509, X509Free>(X509_new()), Pkey(raw)};
  X509* x = made.cert.get();
  if (!x) return Status::Internal("X509_new: " + OpenSslError());
  X509_set_version(x, 2);
  auto serial = RandomBytes(16);
  if (!serial.ok()) return serial.status();
  (*serial)[0] = static_cast<char>((*serial)[0] & 0x7f);  // Positive.
  BIGNUM* bn = BN_bin2bn(U(*serial), static_cast<int>(serial->size()), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), static_cast<long>(spec.days) * 86400);
  X509_set_pubkey(x, made.key.get());
  X509_NAME* name = X509_get_subject_name(x);
  std::string cn = spec.hosts.empty() ? "localhost" : spec.hosts.front();
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, U(spec.organization), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, U(cn), -1, -1, 0);
  X509_set_issuer_name(x, issuer_cert ? X509_get_subject_name(issuer_cert) : name);
  std::string san;
  for (const auto& h : spec.san ? spec.hosts : std::vector<std::string>{}) {
    unsigned char buf[16];
    bool ip = inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
    if (!san.empty()) san += ",";
    san += (ip ? "IP:" : "DNS:") + h;
  }
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer_cert ? issuer_cert : x, x, nullptr, nullptr, 0);
  auto add_ext = [&](int nid, const std::string& value) -> bool {
    std::unique_ptr<X509_EXTENSION, ExtFree> ext(X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str()));
    return ext && X509_add_ext(x, ext.get(), -1) == 1;
  };
  if ((!san.empty() && !add_ext(NID_subject_alt_name, san)) ||
      !add_ext(NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "critical,CA:FALSE") ||
      !add_ext(NID_key_usage, spec.key_usage) || (spec.ext_key_usage && !add_ext(NID_ext_key_usage, spec.ext_key_usage)))
    return Status::Internal("certificate extensions: " + OpenSslError());
  if (X509_sign(x, issuer_key ? issuer_key : made.key.get(), EVP_sha256()) == 0)
    return Status::Internal("X509_sign: " + OpenSslError());
  return made;
}

// Writes `made`'s key (created mode 0600, so it is never readable by others, even
// briefly) and then its certificate, as PEM, each fsynced.
Status WriteKeyAndCertPem(const X509Made& made, const std::string& cert_path, const std::string& key_path) {
  int fd = ::open(key_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError(key_path + ": " + std::strerror(errno));
  if (::fchmod(fd, 0600) != 0) {  // An existing file keeps its mode through O_TRUNC.
    ::close(fd);
    return Status::IOError(key_path + ": " + std::strerror(errno));
  }
  FILE* kf = fdopen(fd, "w");
  if (!kf) {
    ::close(fd);
    return Status::IOError(key_path + ": " + std::strerror(errno));
  }
  bool ok = PEM_write_PrivateKey(kf, made.key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  ok = (std::fflush(kf) == 0) && ok && fsync(fileno(kf)) == 0;
  ok = (std::fclose(kf) == 0) && ok;
  if (!ok) return Status::IOError(key_path + ": could not write the private key");
  FILE* cf = std::fopen(cert_path.c_str(), "w");
  if (!cf) return Status::IOError(cert_path + ": " + std::strerror(errno));
  ok = PEM_write_X509(cf, made.cert.get()) == 1;
  ok = (std::fflush(cf) == 0) && ok && fsync(fileno(cf)) == 0;
  ok = (std::fclose(cf) == 0) && ok;
  if (!ok) return Status::IOError(cert_path + ": could not write the certificate");
  return Status::OK();
}

}  // namespace

Status WriteSelfSignedCert(const std::string& cert_path, const std::string& key_path,
                           const std::vector<std::string>& hosts, int days) {
  CertSpecForCrypto spec;
  spec.hosts = hosts;
  spec.organization = "Vectron (self-signed)";
  spec.days = days;
  spec.ca = true;  // Its own CA: clients trust it with --cacert.
  spec.key_usage = "critical,digitalSignature,keyCertSign";
  VECTRON_ASSIGN_OR_RETURN(X509Made made, MakeCertificate(spec, nullptr, nullptr));
  return WriteKeyAndCertPem(made, cert_path, key_path);
}

Status WriteCaCert(const std::string& cert_path, const std::string& key_path, const std::string& name, int days) {
  CertSpecForCrypto spec;
  spec.hosts = {name};
  spec.organization = "Vectron cluster CA";
  spec.san = false;  // A CA names no host.
  spec.days = days;
  spec.ca = true;
  spec.key_usage = "critical,keyCertSign,cRLSign";
  spec.ext_key_usage = nullptr;
  VECTRON_ASSIGN_OR_RETURN(X509Made made, MakeCertificate(spec, nullptr, nullptr));
  return WriteKeyAndCertPem(made, cert_path, key_path);
}

Status IssueCert(const std::string& ca_cert_path, const std::string& ca_key_path, const std::string& cert_path,
                 const std::string& key_path, const std::string& name, int days) {
  ERR_clear_error();
  std::unique_ptr<X509, X509Free> ca;
  Pkey ca_key;
  if (FILE* f = std::fopen(ca_cert_path.c_str(), "r")) {
    ca.reset(PEM_read_X509(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    if (!ca) return Status::InvalidArgument("CA certificate " + ca_cert_path + ": " + OpenSslError());
  } else {
    return Status::InvalidArgument("CA certificate " + ca_cert_path + ": " + std::strerror(errno));
  }
  if (FILE* f = std::fopen(ca_key_path.c_str(), "r")) {
    ca_key.reset(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    if (!ca_key) return Status::InvalidArgument("CA key " + ca_key_path + ": " + OpenSslError());
  } else {
    return Status::InvalidArgument("CA key " + ca_key_path + ": " + std::strerror(errno));
  }
  if (X509_check_private_key(ca.get(), ca_key.get()) != 1)
    return Status::InvalidArgument("CA key " + ca_key_path + " does not match " + ca_cert_path + ": " + OpenSslError());
  CertSpecForCrypto spec;
  spec.hosts = {name};
  spec.organization = "Vectron cluster";
  spec.days = days;
  spec.ext_key_usage = "serverAuth,clientAuth";
  VECTRON_ASSIGN_OR_RETURN(X509Made made, MakeCertificate(spec, ca.get(), ca_key.get()));
  return WriteKeyAndCertPem(made, cert_path, key_path);
}

}  // namespace vectron::net::crypto
