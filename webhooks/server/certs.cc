#include "webhooks/server/certs.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
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

X509Ptr newCertificate(const std::string& commonName, EVP_PKEY* key,
                       std::chrono::seconds lifetime) {
  X509Ptr cert(X509_new());
  if (!cert) return nullptr;
  X509_set_version(cert.get(), 2);  // v3
  if (!setRandomSerial(cert.get())) return nullptr;
  X509_gmtime_adj(X509_getm_notBefore(cert.get()),
                  -static_cast<long>(backdateFor(lifetime).count()));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(lifetime.count()));
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("kubegrant"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(commonName.c_str()), -1, -1, 0);
  return cert;
}

X509Ptr parseCertificate(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return cert;
}

PkeyPtr parseKey(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return key;
}

TimePoint toTimePoint(const ASN1_TIME* t) {
  struct tm tm {};
  ASN1_TIME_to_tm(t, &tm);
  return WallClock::from_time_t(timegm(&tm));
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

std::chrono::seconds backdateFor(std::chrono::seconds lifetime) {
  return std::min<std::chrono::seconds>(std::chrono::minutes(5), lifetime / 10);
}

Result<CertificateAndKey> issueCa(const std::string& commonName, std::chrono::seconds lifetime) {
  PkeyPtr caKey = newP256Key();
  if (!caKey) return fail(ErrorCode::Internal, "cannot generate CA key");
  X509Ptr caCert = newCertificate(commonName, caKey.get(), lifetime);
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
  return CertificateAndKey{toPem(caCert.get()), toPem(caKey.get())};
}

Result<CertificateAndKey> issueServingCertificate(const CertificateAndKey& ca,
                                                  const std::vector<std::string>& dnsNames,
                                                  const std::vector<std::string>& ipAddresses,
                                                  std::chrono::seconds lifetime) {
  X509Ptr caCert = parseCertificate(ca.certPem);
  PkeyPtr caKey = parseKey(ca.keyPem);
  if (!caCert || !caKey) return fail(ErrorCode::Invalid, "cannot parse the CA certificate or key");
  PkeyPtr key = newP256Key();
  if (!key) return fail(ErrorCode::Internal, "cannot generate serving key");
  std::string cn = dnsNames.empty() ? "kubegrant-webhook" : dnsNames.back();
  X509Ptr cert = newCertificate(cn, key.get(), lifetime);
  if (!cert) return fail(ErrorCode::Internal, "cannot create serving certificate");
  X509_set_issuer_name(cert.get(), X509_get_subject_name(caCert.get()));
  std::string san;
  for (const auto& dns : dnsNames) san += (san.empty() ? "DNS:" : ",DNS:") + dns;
  for (const auto& ip : ipAddresses) san += (san.empty() ? "IP:" : ",IP:") + ip;
  bool okExt = addExtension(cert.get(), caCert.get(), NID_basic_constraints, "critical,CA:FALSE") &&
               addExtension(cert.get(), caCert.get(), NID_key_usage,
                            "critical,digitalSignature,keyEncipherment") &&
               addExtension(cert.get(), caCert.get(), NID_ext_key_usage, "serverAuth") &&
               (san.empty() || addExtension(cert.get(), caCert.get(), NID_subject_alt_name, san));
  // The authority key id needs the issuer's subject key id, which an external CA may lack.
  addExtension(cert.get(), caCert.get(), NID_authority_key_identifier, "keyid");
  ERR_clear_error();
  if (!okExt) return fail(ErrorCode::Invalid, "cannot add X.509 extensions (SAN: " + san + ")");
  if (X509_sign(cert.get(), caKey.get(), EVP_sha256()) == 0) {
    return fail(ErrorCode::Internal, "cannot sign serving certificate");
  }
  return CertificateAndKey{toPem(cert.get()), toPem(key.get())};
}

Result<CertificateInfo> inspectCertificate(std::string_view pem) {
  X509Ptr cert = parseCertificate(pem);
  if (!cert) return fail(ErrorCode::Invalid, "no PEM certificate");
  CertificateInfo info;
  info.notBefore = toTimePoint(X509_get0_notBefore(cert.get()));
  info.notAfter = toTimePoint(X509_get0_notAfter(cert.get()));
  info.isCa = X509_check_ca(cert.get()) != 0;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdLen = 0;
  X509_digest(cert.get(), EVP_sha256(), md, &mdLen);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < mdLen; ++i) {
    info.sha256.push_back(kHex[md[i] >> 4]);
    info.sha256.push_back(kHex[md[i] & 15]);
  }
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type == GEN_DNS) {
      const auto* s = n->d.dNSName;
      info.dnsNames.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                 static_cast<std::size_t>(ASN1_STRING_length(s)));
    } else if (n->type == GEN_IPADD) {
      const auto* s = n->d.iPAddress;
      char buf[INET6_ADDRSTRLEN] = {0};
      int len = ASN1_STRING_length(s);
      if (len == 4 || len == 16) {
        ::inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), buf, sizeof buf);
        info.ipAddresses.emplace_back(buf);
      }
    }
  }
  GENERAL_NAMES_free(names);
  ERR_clear_error();
  return info;
}

bool keyMatchesCertificate(std::string_view certPem, std::string_view keyPem) {
  X509Ptr cert = parseCertificate(certPem);
  PkeyPtr key = parseKey(keyPem);
  bool ok = cert && key && X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  return ok;
}

bool signedBy(std::string_view certPem, std::string_view caPem) {
  X509Ptr cert = parseCertificate(certPem);
  X509Ptr ca = parseCertificate(caPem);
  if (!cert || !ca) return false;
  EVP_PKEY* caKey = X509_get0_pubkey(ca.get());
  bool ok = caKey != nullptr && X509_verify(cert.get(), caKey) == 1;
  ERR_clear_error();
  return ok;
}

std::vector<std::string> splitPemCertificates(std::string_view bundle) {
  static constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  static constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  std::vector<std::string> out;
  std::size_t pos = 0;
  while ((pos = bundle.find(kBegin, pos)) != std::string_view::npos) {
    std::size_t end = bundle.find(kEnd, pos);
    if (end == std::string_view::npos) break;
    end += kEnd.size();
    out.emplace_back(bundle.substr(pos, end - pos));
    out.back() += '\n';
    pos = end;
  }
  return out;
}

Result<GeneratedCertificates> generateCertificates(const CertificateRequest& req) {
  std::error_code ec;
  std::filesystem::create_directories(req.dir, ec);
  if (ec) return fail(ErrorCode::Internal, "cannot create " + req.dir + ": " + ec.message());

  const std::chrono::seconds lifetime = std::chrono::hours(24) * req.validDays;
  CertificateAndKey ca;
  if (!req.caCertFile.empty() && !req.caKeyFile.empty()) {
    auto certPem = readFile(req.caCertFile);
    if (!certPem) return fail(certPem.error());
    auto keyPem = readFile(req.caKeyFile);
    if (!keyPem) return fail(keyPem.error());
    if (!parseCertificate(*certPem) || !parseKey(*keyPem)) {
      return fail(ErrorCode::Invalid, "cannot parse CA " + req.caCertFile + " / " + req.caKeyFile);
    }
    // Only the first certificate of the file is the CA.
    auto certs = splitPemCertificates(*certPem);
    ca = CertificateAndKey{certs.empty() ? *certPem : certs.front(), *keyPem};
  } else {
    auto issued = issueCa("kubegrant-webhook-ca", lifetime * 10);
    if (!issued) return fail(issued.error());
    ca = std::move(*issued);
  }
  auto serving = issueServingCertificate(ca, req.dnsNames, req.ipAddresses, lifetime);
  if (!serving) return fail(serving.error());

  GeneratedCertificates out;
  out.certFile = (std::filesystem::path(req.dir) / "tls.crt").string();
  out.keyFile = (std::filesystem::path(req.dir) / "tls.key").string();
  out.caFile = (std::filesystem::path(req.dir) / "ca.crt").string();
  const std::string& caPem = ca.certPem;
  // Key first: a reloader that sees the new certificate finds a matching key.
  if (auto r = writeFile(out.keyFile, serving->keyPem, 0600); !r) return fail(r.error());
  if (auto r = writeFile(out.certFile, serving->certPem + caPem, 0644); !r) {
    return fail(r.error());
  }
  if (auto r = writeFile(out.caFile, caPem, 0644); !r) return fail(r.error());
  out.caBundle = base64Encode(caPem);
  return out;
}

}  // namespace kubegrant::webhooks
