#include "tools/perf/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

namespace warren::perf {

namespace ssl = boost::asio::ssl;

namespace {

std::string openssl_reason() {
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!e) return "unknown OpenSSL error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

}  // namespace

std::variant<std::shared_ptr<ssl::context>, std::string> make_tls_context(const perf_options& o) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX* native = ctx->native_handle();
    if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1)
        return "TLS: cannot require TLS 1.2: " + openssl_reason();
    // Long-lived connections: no compression, no renegotiation.
    SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (o.tls_ca.empty()) {
        ctx->set_verify_mode(ssl::verify_none);
        return ctx;
    }
    boost::system::error_code ec;
    ctx->load_verify_file(o.tls_ca, ec);
    if (ec) return "TLS: cannot load CA file " + o.tls_ca + ": " + ec.message();
    ctx->set_verify_mode(ssl::verify_peer);
    ctx->set_verify_callback(ssl::host_name_verification(o.broker.host));
    return ctx;
}

void set_server_name(SSL* ssl, const std::string& host) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(host, ec);
    if (ec) SSL_set_tlsext_host_name(ssl, host.c_str());
}

std::string describe_tls(SSL* ssl) {
    std::string s = SSL_get_version(ssl);
    if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl))
        s += std::string(" ") + SSL_CIPHER_get_name(c);
    return s;
}

}  // namespace warren::perf
