#include "net/tls_context.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fmt/format.h>

namespace warren::net {

namespace ssl = boost::asio::ssl;

namespace {

// TLS 1.2 suites: Mozilla's "intermediate" configuration (forward secrecy, AEAD only). TLS 1.3
// suites are OpenSSL's defaults (AES-GCM and ChaCha20-Poly1305).
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

// Session resumption with client certificates needs a context id (else OpenSSL refuses to
// resume with "session id context uninitialized").
constexpr unsigned char session_id_context[] = "warren";

std::string openssl_reason() {
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!e) return "unknown OpenSSL error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

std::string name_entry_utf8(X509_NAME* name, int index) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(name, index);
    if (!e) return {};
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (n < 0) return {};
    std::string s(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
    return s;
}

std::string rfc4514(X509_NAME* name) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (!bio) return {};
    // XN_FLAG_RFC2253: most specific RDN first, ',' between them, RFC escaping; UTF-8 kept.
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string s = n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
    BIO_free(bio);
    return s;
}

}  // namespace

bool parse_tls_verify(std::string_view s, tls_verify& out) {
    if (s == "none")
        out = tls_verify::none;
    else if (s == "peer")
        out = tls_verify::peer;
    else if (s == "fail_if_no_peer_cert")
        out = tls_verify::fail_if_no_peer_cert;
    else
        return false;
    return true;
}

std::string_view to_string(tls_verify v) {
    switch (v) {
        case tls_verify::none:
            return "none";
        case tls_verify::peer:
            return "peer";
        case tls_verify::fail_if_no_peer_cert:
            return "fail_if_no_peer_cert";
    }
    return "?";
}

bool parse_tls_login_from(std::string_view s, tls_login_from& out) {
    if (s == "cn")
        out = tls_login_from::cn;
    else if (s == "dn")
        out = tls_login_from::dn;
    else
        return false;
    return true;
}

std::string_view to_string(tls_login_from l) {
    return l == tls_login_from::cn ? "cn" : "dn";
}

tls_server_context::tls_server_context(const tls_options& o)
    : ssl(ssl::context::tls_server),
      login_from(o.login_from),
      handshake_timeout_ms(o.handshake_timeout_ms),
      verify_peer(o.verify != tls_verify::none) {}

tls_result<tls_context_ptr> tls_context::build(const tls_options& o) {
    if (o.cert_file.empty()) return std::string("tls.cert_file is not set");
    if (o.key_file.empty()) return std::string("tls.key_file is not set");
    if (o.verify != tls_verify::none && o.ca_file.empty())
        return fmt::format("tls.verify = {} needs tls.ca_file", to_string(o.verify));
    ERR_clear_error();
    auto ctx = std::make_shared<tls_server_context>(o);
    SSL_CTX* c = ctx->ssl.native_handle();
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    // Idle connections give their record buffers back to OpenSSL.
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_dh_auto(c, 1);
    // No TLS 1.3 session tickets: broker connections are long-lived, so resumption gains
    // little, and tickets are records the server sends unasked right after the handshake,
    // while a client may be reading in one thread and sending its first frame in another
    // (stomp.py does; its OpenSSL object is not safe for that, and the first frame can be
    // lost). Without them the server speaks only when spoken to, as on plain TCP.
    SSL_CTX_set_num_tickets(c, 0);
    if (SSL_CTX_set_cipher_list(c, tls12_ciphers) != 1)
        return fmt::format("TLS cipher list refused: {}", openssl_reason());
    SSL_CTX_set_session_id_context(c, session_id_context, sizeof session_id_context - 1);

    boost::system::error_code ec;
    ctx->ssl.use_certificate_chain_file(o.cert_file, ec);
    if (ec) return fmt::format("tls.cert_file '{}': {}", o.cert_file, ec.message());
    ctx->ssl.use_private_key_file(o.key_file, ssl::context::pem, ec);
    if (ec) return fmt::format("tls.key_file '{}': {}", o.key_file, ec.message());
    if (SSL_CTX_check_private_key(c) != 1)
        return fmt::format("tls.key_file '{}' does not match tls.cert_file '{}': {}", o.key_file,
                           o.cert_file, openssl_reason());
    if (o.verify != tls_verify::none) {
        ctx->ssl.load_verify_file(o.ca_file, ec);
        if (ec) return fmt::format("tls.ca_file '{}': {}", o.ca_file, ec.message());
        // Tell clients which CAs we accept, so they pick the right certificate.
        if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.ca_file.c_str()))
            SSL_CTX_set_client_CA_list(c, names);
        ssl::verify_mode mode = ssl::verify_peer;
        if (o.verify == tls_verify::fail_if_no_peer_cert) mode |= ssl::verify_fail_if_no_peer_cert;
        ctx->ssl.set_verify_mode(mode, ec);
        if (ec) return fmt::format("tls.verify: {}", ec.message());
    } else {
        ctx->ssl.set_verify_mode(ssl::verify_none, ec);
    }
    return ctx;
}

tls_result<std::unique_ptr<tls_context>> tls_context::load(tls_options opts) {
    auto ctx = build(opts);
    if (!ctx) return ctx.error();
    return std::unique_ptr<tls_context>(new tls_context(std::move(opts), std::move(*ctx)));
}

tls_result<void> tls_context::reload() {
    auto ctx = build(_opts);
    if (!ctx) return ctx.error();
    _current = std::move(*ctx);
    return {};
}

peer_certificate verified_peer_certificate(void* handle) {
    SSL* s = static_cast<SSL*>(handle);
    peer_certificate out;
    X509* cert = SSL_get1_peer_certificate(s);  // a reference we own
    if (!cert) return out;
    // With verify_peer a certificate that does not verify fails the handshake; this check
    // keeps verify = none (no certificate requested) from ever yielding a login.
    out.verified =
        SSL_get_verify_result(s) == X509_V_OK && (SSL_get_verify_mode(s) & SSL_VERIFY_PEER) != 0;
    X509_NAME* subject = X509_get_subject_name(cert);
    if (subject) {
        int last = -1;
        for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
             i = X509_NAME_get_index_by_NID(subject, NID_commonName, i))
            last = i;
        if (last >= 0) out.cn = name_entry_utf8(subject, last);
        out.dn = rfc4514(subject);
    }
    X509_free(cert);
    return out;
}

std::string certificate_login(const peer_certificate& c, tls_login_from from) {
    if (!c.verified) return {};
    return from == tls_login_from::cn ? c.cn : c.dn;
}

std::string handshake_error_text(void* handle, const boost::system::error_code& ec) {
    std::string text = ec.message();
    SSL* s = static_cast<SSL*>(handle);
    long v = s ? SSL_get_verify_result(s) : X509_V_OK;
    if (v != X509_V_OK) text += fmt::format(" ({})", X509_verify_cert_error_string(v));
    return text;
}

}  // namespace warren::net
