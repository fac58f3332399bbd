#include "webhooks/server/certs.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "webhooks/server/admission.h"

namespace kubegrant::webhooks {

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

PkeyPtr newP256Key() { return PkeyPtr(EVP_EC_gen("P-256")); }

bool addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

bool setRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return false;
  bytes[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
  if (bn == nullptr) return false;
  bool ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr;
  BN_free(bn);
  return ok;
}

X509Ptr newCertificate(const std::string& commonName, EVP_PKEY* key, int validDays) {
  X509Ptr cert(X509_new());
  if (!cert) return nullptr;
  X509_set_version(cert.get(), 2);  // v3
  if (!setRandomSerial(cert.get())) return nullptr;
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300);  // tolerate small clock skew
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(validDays) * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("kubegrant"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(commonName.c_str()), -1, -1, 0);
  return cert;
}

std::string toPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string toPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::NotFound, "cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<void> writeFile(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return fail(ErrorCode::Internal, "cannot write " + tmp);
    out << data;
    if (!out) return fail(ErrorCode::Internal, "cannot write " + tmp);
  }
  ::chmod(tmp.c_str(), mode);
  // rename: a reloading server never sees a half-written file.
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(ErrorCode::Internal, "cannot rename " + tmp + " to " + path);
  }
  return ok();
}

}  // namespace

Result<GeneratedCertificates> generateCertificates(const CertificateRequest& req) {
  std::error_code ec;
  std::filesystem::create_directories(req.dir, ec);
  if (ec) return fail(ErrorCode::Internal, "cannot create " + req.dir + ": " + ec.message());

  PkeyPtr caKey;
  X509Ptr caCert;
  if (!req.caCertFile.empty() && !req.caKeyFile.empty()) {
    auto certPem = readFile(req.caCertFile);
    if (!certPem) return fail(certPem.error());
    auto keyPem = readFile(req.caKeyFile);
    if (!keyPem) return fail(keyPem.error());
    BioPtr cb(BIO_new_mem_buf(certPem->data(), static_cast<int>(certPem->size())));
    caCert.reset(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
    BioPtr kb(BIO_new_mem_buf(keyPem->data(), static_cast<int>(keyPem->size())));
    caKey.reset(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
    if (!caCert || !caKey) {
      return fail(ErrorCode::Invalid, "cannot parse CA " + req.caCertFile + " / " + req.caKeyFile);
    }
  } else {
    caKey = newP256Key();
    if (!caKey) return fail(ErrorCode::Internal, "cannot generate CA key");
    caCert = newCertificate("kubegrant-webhook-ca", caKey.get(), req.validDays * 10);
    if (!caCert) return fail(ErrorCode::Internal, "cannot create CA certificate");
    X509_set_issuer_name(caCert.get(), X509_get_subject_name(caCert.get()));
    bool okExt =
        addExtension(caCert.get(), caCert.get(), NID_basic_constraints, "critical,CA:TRUE") &&
        addExtension(caCert.get(), caCert.get(), NID_key_usage,
                     "critical,keyCertSign,cRLSign,digitalSignature") &&
        addExtension(caCert.get(), caCert.get(), NID_subject_key_identifier, "hash");
    if (!okExt || X509_sign(caCert.get(), caKey.get(), EVP_sha256()) == 0) {
      return fail(ErrorCode::Internal, "cannot sign CA certificate");
    }
  }

  PkeyPtr key = newP256Key();
  if (!key) return fail(ErrorCode::Internal, "cannot generate serving key");
  std::string cn = req.dnsNames.empty() ? "kubegrant-webhook" : req.dnsNames.back();
  X509Ptr cert = newCertificate(cn, key.get(), req.validDays);
  if (!cert) return fail(ErrorCode::Internal, "cannot create serving certificate");
  X509_set_issuer_name(cert.get(), X509_get_subject_name(caCert.get()));
  std::string san;
  for (const auto& dns : req.dnsNames) san += (san.empty() ? "DNS:" : ",DNS:") + dns;
  for (const auto& ip : req.ipAddresses) san += (san.empty() ? "IP:" : ",IP:") + ip;
  bool okExt = addExtension(cert.get(), caCert.get(), NID_basic_constraints, "critical,CA:FALSE") &&
               addExtension(cert.get(), caCert.get(), NID_key_usage,
                            "critical,digitalSignature,keyEncipherment") &&
               addExtension(cert.get(), caCert.get(), NID_ext_key_usage, "serverAuth") &&
               (san.empty() || addExtension(cert.get(), caCert.get(), NID_subject_alt_name, san));
  // The authority key id needs the issuer's subject key id, which an external CA may lack.
  addExtension(cert.get(), caCert.get(), NID_authority_key_identifier, "keyid");
  if (!okExt) return fail(ErrorCode::Invalid, "cannot add X.509 extensions (SAN: " + san + ")");
  if (X509_sign(cert.get(), caKey.get(), EVP_sha256()) == 0) {
    return fail(ErrorCode::Internal, "cannot sign serving certificate");
  }

  GeneratedCertificates out;
  out.certFile = (std::filesystem::path(req.dir) / "tls.crt").string();
  out.keyFile = (std::filesystem::path(req.dir) / "tls.key").string();
  out.caFile = (std::filesystem::path(req.dir) / "ca.crt").string();
  std::string caPem = toPem(caCert.get());
  // Key first: a reloader that sees the new certificate finds a matching key.
  if (auto r = writeFile(out.keyFile, toPem(key.get()), 0600); !r) return fail(r.error());
  if (auto r = writeFile(out.certFile, toPem(cert.get()) + caPem, 0644); !r) {
    return fail(r.error());
  }
  if (auto r = writeFile(out.caFile, caPem, 0644); !r) return fail(r.error());
  out.caBundle = base64Encode(caPem);
  return out;
}

}  // namespace kubegrant::webhooks
