#pragma once
// warren-perf's TLS (AMQPS) client side: one OpenSSL context per run, shared by every connection
// (the set-up client and each producer, consumer and idle connection), TLS 1.2 and 1.3 only.
// With perf_options::tls_ca the broker's certificate must chain to that CA file and name the
// host; without it the certificate is not verified at all (a benchmark against a throwaway
// certificate: encryption cost measured, no authentication).
//
//   auto ctx = perf::make_tls_context(o);   // std::string on failure
//   sync_client admin(o.broker, std::get<std::shared_ptr<ssl::context>>(ctx).get());

#include <memory>
#include <string>
#include <variant>

#include <boost/asio/ssl/context.hpp>

#include "tools/perf/options.h"

namespace warren::perf {

std::variant<std::shared_ptr<boost::asio::ssl::context>, std::string> make_tls_context(
    const perf_options& o);

// Sets the server name (SNI) a client connection announces, unless the host is an IP address.
void set_server_name(SSL* ssl, const std::string& host);

// "TLSv1.3 TLS_AES_256_GCM_SHA384" for an established connection.
std::string describe_tls(SSL* ssl);

}  // namespace warren::perf
