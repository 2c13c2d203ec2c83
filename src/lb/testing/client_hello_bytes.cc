#include "lb/testing/client_hello_bytes.h"

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "security/openssl_ptr.h"

namespace gatehouse::lb::testing {

std::string OpenSslClientHello(const std::string& server_name) {
  const security::SslCtxPtr context(SSL_CTX_new(TLS_client_method()));
  if (context == nullptr) return "";
  const security::SslPtr ssl(SSL_new(context.get()));
  BIO* const input = BIO_new(BIO_s_mem());
  BIO* const output = BIO_new(BIO_s_mem());
  if (ssl == nullptr || input == nullptr || output == nullptr) {
    BIO_free(input);
    BIO_free(output);
    return "";
  }
  SSL_set_bio(ssl.get(), input, output);  // owned by `ssl` from here
  // SSL_set_tlsext_host_name() is this call behind a macro with a C-style cast.
  if (!server_name.empty() &&
      SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(server_name.c_str())) != 1) {
    return "";
  }
  // With nothing to read, the handshake stops after writing the ClientHello.
  SSL_connect(ssl.get());
  char* data = nullptr;
  const long size = BIO_get_mem_data(output, &data);  // NOLINT(google-runtime-int): OpenSSL's type
  return size > 0 ? std::string(data, static_cast<size_t>(size)) : "";
}

}  // namespace gatehouse::lb::testing
