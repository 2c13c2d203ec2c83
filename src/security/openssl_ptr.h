// unique_ptr aliases that own OpenSSL objects. The only place *_free functions are named.
#ifndef GATEHOUSE_SECURITY_OPENSSL_PTR_H_
#define GATEHOUSE_SECURITY_OPENSSL_PTR_H_

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace gatehouse::security {

template <auto FreeFunction>
struct OpensslDeleter {
  template <typename T>
  void operator()(T* object) const {
    FreeFunction(object);
  }
};

using SslCtxPtr = std::unique_ptr<SSL_CTX, OpensslDeleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OpensslDeleter<SSL_free>>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, OpensslDeleter<SSL_SESSION_free>>;
using X509Ptr = std::unique_ptr<X509, OpensslDeleter<X509_free>>;
using X509CrlPtr = std::unique_ptr<X509_CRL, OpensslDeleter<X509_CRL_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, OpensslDeleter<X509_NAME_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, OpensslDeleter<X509_EXTENSION_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, OpensslDeleter<X509_STORE_CTX_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, OpensslDeleter<X509_STORE_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpensslDeleter<EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, OpensslDeleter<BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpensslDeleter<BN_free>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, OpensslDeleter<ASN1_INTEGER_free>>;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, OpensslDeleter<ASN1_TIME_free>>;

// Memory that OpenSSL allocated for us to free with OPENSSL_free (a macro, so it cannot be an
// OpensslDeleter argument): PEM names and payloads, ASN1_STRING_to_UTF8 output.
struct OpensslFree {
  void operator()(void* memory) const { OPENSSL_free(memory); }
};
template <typename T>
using OpensslMemoryPtr = std::unique_ptr<T, OpensslFree>;

}  // namespace gatehouse::security

#endif  // GATEHOUSE_SECURITY_OPENSSL_PTR_H_
