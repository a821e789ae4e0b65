#pragma once
// The broker's TLS settings and the OpenSSL context built from them, shared by every TLS
// listener (AMQPS, STOMP over TLS, HTTPS/WSS). A context allows TLS 1.2 and 1.3 only, with
// forward-secret AEAD ciphers for TLS 1.2 (Mozilla's "intermediate" list; TLS 1.3 uses
// OpenSSL's default suites, all of which are fine), no renegotiation, no compression.
//
//   auto tls = net::tls_context::load(opts);          // at start-up; error: exit with config error
//   if (!tls) fail(tls.error());
//   conns.accept_tls(std::move(socket), (*tls)->current(), factory);
//   ...on SIGHUP: if (auto r = (*tls)->reload(); !r) log(r.error());
//
// Reload (SIGHUP) builds a new ssl::context from the same files and swaps it in for new
// connections; a connection holds the context it was accepted with (shared_ptr) for its whole
// life, so live connections are never touched and never dropped. A reload that fails (a
// missing file, a key that does not match the certificate) keeps the previous context.
//
// Lives on the broker thread; owned by server/ for the process lifetime.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/ssl/context.hpp>

#include "base/result.h"

namespace warren::net {

// Errors here are one line of text for the log (and for exit at start-up).
template <typename T>
using tls_result = basic_result<T, std::string>;

// Whether and how client certificates are checked (RabbitMQ's ssl_options.verify and
// fail_if_no_peer_cert in one key).
enum class tls_verify {
    none,                  // no client certificate is asked for
    peer,                  // asked for; if one is sent it must verify against ca_file
    fail_if_no_peer_cert,  // required, and must verify
};

// Which name a verified client certificate logs in as (SASL EXTERNAL, STOMP cert login).
enum class tls_login_from {
    cn,  // the subject's common name: "guest"
    dn,  // the whole subject, RFC 4514: "CN=guest,O=Warren test"
};

struct tls_options {
    std::string cert_file;  // PEM: the server certificate, then any intermediates
    std::string key_file;   // PEM: its private key (unencrypted)
    std::string ca_file;    // PEM: CAs client certificates must chain to (verify != none)
    tls_verify verify = tls_verify::none;
    tls_login_from login_from = tls_login_from::cn;
    // A client that has not completed its handshake after this long is closed.
    uint64_t handshake_timeout_ms = 10'000;
};

// "none", "peer", "fail_if_no_peer_cert" (and back).
bool parse_tls_verify(std::string_view s, tls_verify& out);
std::string_view to_string(tls_verify v);
bool parse_tls_login_from(std::string_view s, tls_login_from& out);
std::string_view to_string(tls_login_from l);

// One built OpenSSL context plus the settings a TLS connection needs beside it. Immutable
// once built; shared by the connections accepted while it was current.
struct tls_server_context {
    explicit tls_server_context(const tls_options& o);
    boost::asio::ssl::context ssl;
    tls_login_from login_from;
    uint64_t handshake_timeout_ms;
    bool verify_peer;
};
using tls_context_ptr = std::shared_ptr<tls_server_context>;

class tls_context {
public:
    // Builds the first context; the error names the file and OpenSSL's reason.
    static tls_result<std::unique_ptr<tls_context>> load(tls_options opts);

    // The context new connections use.
    tls_context_ptr current() const { return _current; }
    // Rebuilds from the same files (a renewed certificate); keeps the old context on error.
    tls_result<void> reload();
    const tls_options& options() const { return _opts; }

private:
    tls_context(tls_options opts, tls_context_ptr ctx)
        : _opts(std::move(opts)), _current(std::move(ctx)) {}
    static tls_result<tls_context_ptr> build(const tls_options& o);

    tls_options _opts;
    tls_context_ptr _current;
};

// The subject of the certificate a TLS peer presented and OpenSSL verified against ca_file,
// read after the handshake; empty strings when there is none (or verification is off).
struct peer_certificate {
    bool verified = false;
    std::string cn;  // the last (most specific) CN of the subject
    std::string dn;  // RFC 4514, most specific first, as RabbitMQ prints it
};
// `ssl` is the connection's SSL* (stream.native_handle()).
peer_certificate verified_peer_certificate(void* ssl);
// The name such a certificate logs in as; empty if it is not verified.
std::string certificate_login(const peer_certificate& c, tls_login_from from);
// OpenSSL's reason a handshake failed, with the certificate verification result when that is
// what failed ("certificate verify failed (certificate has expired)").
std::string handshake_error_text(void* ssl, const boost::system::error_code& ec);

}  // namespace warren::net
