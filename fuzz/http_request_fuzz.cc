// Fuzz target: warrend's HTTP listener (mgmt::http_server, Boost.Beast) fed arbitrary bytes as
// one client connection's byte stream, through the same session code a TCP socket goes
// through (header and body limits, keep-alive, pipelining, chunked bodies, HTTP/1.0, the
// WebSocket upgrade check at /ws with its Sec-WebSocket-Key rules), over an in-process socket
// pair (socket_pair.h). Routes installed: /api/health as the server wires it, the access API
// (users, permissions, whoami), the management API (vhosts, queues, exchanges, bindings...)
// and the UI's files, on a fresh in-memory broker (recreated for every input; the routes are
// installed once). The first input byte chooses the write size
// (bits 0-2: 1, 2, 4 .. 64 bytes per write, 7 = all at once; the server reads between writes)
// and how the connection ends (bit 3: the client half-closes, or the server shuts down); a
// long input gets larger writes, at most 64 of them (socket_pair::write_size), so that its cost
// stays that of a short one.
// Checked beyond "no crash": everything the server writes parses as HTTP/1.1 responses (one
// Beast response parser each; a response to HEAD has no body), none is 5xx, nothing follows a
// response that closes the connection or a 101, and after the client's half-close the server
// has answered completely and closed, and the connection's session is gone.

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include <string>
#include <vector>

#include "base/log.h"
#include "fuzz/api_world.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/socket_pair.h"
#include "mgmt/http_server.h"
#include "mgmt/ui_assets.h"

using namespace warren;
namespace http = boost::beast::http;

namespace {

// The methods of the requests the server will read from `in`, in order: the same Beast parser
// with the server's limits (http_server.cc) sees the same requests whatever the read sizes.
std::vector<http::verb> request_methods(std::string_view in) {
    std::vector<http::verb> methods;
    while (!in.empty()) {
        http::request_parser<http::string_body> p;
        p.body_limit(1024 * 1024);
        p.header_limit(16 * 1024);
        p.eager(true);
        boost::beast::error_code ec;
        size_t used = p.put(boost::asio::buffer(in.data(), in.size()), ec);
        if (ec || !p.is_done()) break;
        methods.push_back(p.get().method());
        in.remove_prefix(used);
    }
    return methods;
}

// Parses what the server wrote as responses; returns whether it ended on a complete one.
bool check_responses(std::string_view out, const std::vector<http::verb>& methods) {
    size_t i = 0;
    while (!out.empty()) {
        http::response_parser<http::string_body> p;
        p.body_limit(64 * 1024 * 1024);
        p.eager(true);
        if (i < methods.size() && methods[i] == http::verb::head) p.skip(true);
        boost::beast::error_code ec;
        size_t used = p.put(boost::asio::buffer(out.data(), out.size()), ec);
        if (ec == http::error::need_more) return false;
        FUZZ_CHECK(!ec);
        if (!p.is_done()) return false;  // incomplete (a body without a length would be too)
        out.remove_prefix(used);
        auto& res = p.get();
        FUZZ_CHECK(res.version() == 11 || res.version() == 10);
        FUZZ_CHECK(res.result_int() >= 100 && res.result_int() < 500);
        if (res.result() == http::status::switching_protocols) {
            // The upgrade handler below drops the WebSocket: nothing follows.
            FUZZ_CHECK(out.empty());
            return true;
        }
        if (!res.keep_alive()) FUZZ_CHECK(out.empty());
        ++i;
    }
    return true;
}

}  // namespace

// A log line per bad request would cost more than the request.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    log::init(spdlog::level::off);
    return 0;
}

// The server, the access and management APIs (fuzz/api_world.h), /api/health, the UI's files
// and the WebSocket upgrade at /ws, whose handler only counts.
struct world : fuzz::api_world {
    world() : api_world(users()) {
        http.routes().add("GET", "/api/health", [](const mgmt::call& c) {
            return mgmt::make_response(c.req, mgmt::http::status::ok, R"({"status":"ok"})");
        });
        mgmt::install_ui(http.routes());
        http.on_websocket("/ws", {"v12.stomp", "v11.stomp", "v10.stomp", "amqp"},
                          [this](mgmt::ws_stream, const std::string&) { ++upgrades; });
    }

    void reset() {
        api_world::reset();
        upgrades = 0;
    }

    // The users as a fresh server has them.
    static auth::authority users() {
        auth::authority a;
        a.seed_default_user("guest", "guest", "/");
        a.users.set_loopback_users({});  // the socket pair has no address: "?" is not local
        return a;
    }

    int upgrades = 0;
};

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::input in(data, size);
    const uint8_t mode = in.byte();
    size_t chunk = size_t(1) << (mode & 7);
    if ((mode & 7) == 7) chunk = SIZE_MAX;
    const bool half_close = !(mode & 8);

    static world w;
    w.reset();
    {
        fuzz::socket_pair client(w.io);
        w.http.accept(client.take_server());
        std::string_view rest = in.rest();
        const auto methods = request_methods(rest);
        chunk = fuzz::socket_pair::write_size(chunk, rest.size());
        while (!rest.empty()) {
            auto piece = rest.substr(0, chunk);
            rest.remove_prefix(piece.size());
            if (!client.send(piece)) break;
            client.settle();
            if (client.eof()) break;
        }
        if (half_close) {
            client.shutdown_send();
            client.settle();
            // The server answered everything it read (or refused it) and closed, and the
            // connection's session is gone.
            FUZZ_CHECK(client.eof());
            FUZZ_CHECK(check_responses(client.output(), methods));
            FUZZ_CHECK(w.http.connection_count() == 0);
        } else {
            w.http.shutdown();
            client.settle();
            (void)check_responses(client.output(), methods);
        }
        FUZZ_CHECK(w.upgrades <= 1);
        w.http.shutdown();
        client.settle();
    }
    return 0;
}
