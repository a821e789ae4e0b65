#include "ctl/http_client.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <exception>
#include <optional>

#include <fmt/format.h>

namespace warren::ctl {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

std::string encode_segment(std::string_view s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string base64(std::string_view s) {
    static const char* alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < s.size(); i += 3) {
        unsigned v =
            (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8 | (unsigned char)s[i + 2];
        out += alphabet[v >> 18];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (i + 1 == s.size()) {
        unsigned v = (unsigned char)s[i] << 16;
        out += alphabet[v >> 18];
        out += alphabet[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == s.size()) {
        unsigned v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8;
        out += alphabet[v >> 18];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

namespace {

using request = bhttp::request<bhttp::string_body>;
using response = bhttp::response<bhttp::string_body>;

// Which step failed decides the exit code: no connection is "unavailable", a reply we cannot
// read after connecting is the server's fault.
enum class step { resolve, connect, handshake, exchange };

struct failure {
    step at;
    std::string text;
};

class beast_transport final : public http_transport {
public:
    explicit beast_transport(endpoint ep) : _ep(std::move(ep)) {}

    void set_timeout(std::chrono::milliseconds t) override { _ep.timeout = t; }

    http_result send(std::string_view method, std::string_view target, std::string_view body,
                     const http_headers& headers) override {
        request req;
        req.method(bhttp::string_to_verb(beast::string_view(method.data(), method.size())));
        req.target(beast::string_view(target.data(), target.size()));
        req.version(11);
        req.set(bhttp::field::host, _ep.host);
        req.set(bhttp::field::user_agent, "warrenctl");
        req.set(bhttp::field::authorization, "Basic " + base64(_ep.user + ":" + _ep.password));
        req.set(bhttp::field::connection, "close");
        for (const auto& [k, v] : headers) req.set(k, v);
        if (!body.empty()) {
            req.set(bhttp::field::content_type, "application/json");
            req.body() = std::string(body);
        }
        req.prepare_payload();

        std::optional<ssl::context> tls;
        if (_ep.tls) {
            tls.emplace(ssl::context::tls_client);
            if (_ep.insecure) {
                tls->set_verify_mode(ssl::verify_none);
            } else {
                boost::system::error_code ec;
                if (_ep.cacert.empty())
                    tls->set_default_verify_paths(ec);
                else
                    tls->load_verify_file(_ep.cacert, ec);
                if (ec)
                    return transport_error{exit_code::data_error,
                                           fmt::format("cannot load CA certificates '{}': {}",
                                                       _ep.cacert, ec.message())};
                tls->set_verify_mode(ssl::verify_peer);
                tls->set_verify_callback(ssl::host_name_verification(_ep.host));
            }
        }

        std::optional<response> res;
        std::optional<failure> failed;
        step at = step::resolve;
        // Declared last, destroyed first: a request cut off by the timeout is destroyed with
        // it while everything it points to still lives.
        asio::io_context ioc;
        asio::co_spawn(ioc, exchange(req, tls ? &*tls : nullptr, at),
                       [&](std::exception_ptr e, response r) {
                           if (!e) {
                               res = std::move(r);
                               return;
                           }
                           try {
                               std::rethrow_exception(e);
                           } catch (const std::exception& ex) {
                               failed = failure{at, ex.what()};
                           }
                       });
        ioc.run_for(_ep.timeout);
        std::string where = fmt::format("{}:{}", _ep.host, _ep.port);
        if (res) return http_reply{static_cast<int>(res->result_int()), std::move(res->body())};
        if (!failed)
            return transport_error{
                exit_code::temp_fail,
                fmt::format("no reply from {} within {} ms", where, _ep.timeout.count())};
        switch (failed->at) {
            case step::resolve:
            case step::connect:
                return transport_error{
                    exit_code::unavailable,
                    fmt::format("cannot connect to {}: {}", where, failed->text)};
            case step::handshake:
                return transport_error{
                    exit_code::unavailable,
                    fmt::format("TLS handshake with {} failed: {}", where, failed->text)};
            case step::exchange:
                break;
        }
        return transport_error{exit_code::unavailable,
                               fmt::format("connection to {} failed: {}", where, failed->text)};
    }

private:
    asio::awaitable<response> exchange(request& req, ssl::context* tls, step& at) {
        auto ex = co_await asio::this_coro::executor;
        tcp::resolver resolver(ex);
        auto hosts = co_await resolver.async_resolve(_ep.host, std::to_string(_ep.port),
                                                     asio::use_awaitable);
        at = step::connect;
        beast::flat_buffer buf;
        response res;
        if (!tls) {
            beast::tcp_stream stream(ex);
            co_await stream.async_connect(hosts, asio::use_awaitable);
            at = step::exchange;
            co_await bhttp::async_write(stream, req, asio::use_awaitable);
            co_await bhttp::async_read(stream, buf, res, asio::use_awaitable);
            co_return res;
        }
        beast::ssl_stream<beast::tcp_stream> stream(ex, *tls);
        co_await beast::get_lowest_layer(stream).async_connect(hosts, asio::use_awaitable);
        at = step::handshake;
        SSL_set_tlsext_host_name(stream.native_handle(), _ep.host.c_str());
        co_await stream.async_handshake(ssl::stream_base::client, asio::use_awaitable);
        at = step::exchange;
        co_await bhttp::async_write(stream, req, asio::use_awaitable);
        co_await bhttp::async_read(stream, buf, res, asio::use_awaitable);
        co_return res;
    }

    endpoint _ep;
};

}  // namespace

std::unique_ptr<http_transport> make_http_transport(endpoint ep) {
    return std::make_unique<beast_transport>(std::move(ep));
}

}  // namespace warren::ctl
