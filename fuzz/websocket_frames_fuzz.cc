// Fuzz target: STOMP and AMQP 0-9-1 over WebSocket, as warrend wires them: mgmt::http_server
// upgrades GET /ws (subprotocols v12.stomp, v11.stomp, v10.stomp, amqp) and hands the stream to
// stomp::server or amqp::server (net::connection's WebSocket transport, the real sessions, a
// fresh in-memory broker), over an in-process socket pair (socket_pair.h). The target sends a
// valid upgrade request and checks the 101 (with the subprotocol); everything after it is the
// fuzzer's, as WebSocket frames. The first input byte chooses:
//   bit 0       the subprotocol: v12.stomp, or amqp;
//   bit 1       raw: the rest is sent as it is (any frame header: bad opcodes, reserved bits,
//               unmasked, lengths past the end or 2^63); else framed by the target: records of
//               [byte 0 of the frame (FIN, RSV1-3, opcode)] [bit 7: unmasked, bits 0-6: payload
//               length, 127: a u16 length follows] [payload], each masked unless bit 7 says so;
//   bit 2       a prologue sent first as one masked message: a STOMP CONNECT, or the AMQP
//               protocol header and handshake (start-ok, tune-ok, open), so that the fuzzer's
//               frames reach SEND, SUBSCRIBE, channels...;
//   bits 3-5    the write size: 1, 2, 4 .. 64 bytes, 7 = all at once (the server reads between
//               writes); a long stream gets larger writes, at most 64 of them
//               (socket_pair::write_size), so that its cost stays that of a short one;
//   bit 6       the broker's protocol server shuts down before the client closes.
// Then the client half-closes. Checked beyond "no crash": everything the server writes after
// the 101 parses as WebSocket frames a client accepts (unmasked, no reserved bits, known
// opcodes, control frames short and unfragmented, continuations only inside a message, a close
// frame with a valid code and UTF-8 reason, then nothing), text messages are UTF-8, each STOMP
// message is one STOMP frame (or heart-beat EOLs), AMQP messages are whole frames and methods;
// and by the end the server has closed the connection or sent its close frame.

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/beast/websocket/detail/frame.hpp>
#include <boost/beast/websocket/detail/utf8_checker.hpp>

#include <optional>
#include <string>

#include "auth/authority.h"
#include "base/log.h"
#include "core/broker.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/socket_pair.h"
#include "mgmt/http_server.h"
#include "proto/amqp091/codec/frame.h"
#include "proto/amqp091/codec/methods.h"
#include "proto/amqp091/server.h"
#include "proto/stomp/codec/parser.h"
#include "proto/stomp/server.h"

using namespace warren;
using namespace std::string_literals;
namespace http = boost::beast::http;
namespace wsd = boost::beast::websocket::detail;

namespace {

// One client frame: byte 0 as given, the payload masked (RFC 6455 5.3) unless `masked` is false.
void append_frame(std::string& out, uint8_t b0, std::string_view payload, bool masked = true) {
    static constexpr unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    out.push_back(char(b0));
    const uint8_t m = masked ? 0x80 : 0;
    const size_t n = payload.size();
    if (n < 126) {
        out.push_back(char(m | n));
    } else if (n < 65536) {
        out.push_back(char(m | 126));
        out.push_back(char(n >> 8));
        out.push_back(char(n & 0xff));
    } else {
        out.push_back(char(m | 127));
        for (int i = 7; i >= 0; --i) out.push_back(char((uint64_t(n) >> (8 * i)) & 0xff));
    }
    if (!masked) {
        out.append(payload);
        return;
    }
    out.append(reinterpret_cast<const char*>(key), 4);
    for (size_t i = 0; i < n; ++i) out.push_back(char(payload[i] ^ key[i % 4]));
}

std::string amqp_handshake() {
    std::string b(amqp::protocol_header);
    core::field_table caps;
    caps.emplace_back("publisher_confirms", true);
    core::field_table props;
    props.emplace_back("capabilities", core::field_value::table(std::move(caps)));
    amqp::append_method_frame(
        b, 0, amqp::connection_start_ok{props, "PLAIN", "\0guest\0guest"s, "en_US"});
    amqp::append_method_frame(b, 0, amqp::connection_tune_ok{2047, 131072, 0});
    amqp::append_method_frame(b, 0, amqp::connection_open{"/", "", false});
    return b;
}

// Framed mode: the records of the header comment, as client frames.
std::string framed(fuzz::input& in) {
    std::string out;
    while (!in.empty()) {
        const uint8_t b0 = in.byte();
        const uint8_t b1 = in.byte();
        size_t n = b1 & 0x7f;
        if (n == 127) n = size_t(in.byte()) << 8 | in.byte();
        append_frame(out, b0, in.take(n), !(b1 & 0x80));
    }
    return out;
}

void check_stomp_message(std::string_view m) {
    if (m.find_first_not_of("\r\n") == std::string_view::npos) return;  // heart-beats
    stomp::parser p;
    int frames = 0;
    while (!m.empty()) {
        auto r = p.parse(m);
        FUZZ_CHECK(r.status != stomp::parse_status::error);
        m.remove_prefix(r.consumed);
        if (r.status == stomp::parse_status::need_more) FUZZ_CHECK(false);  // incomplete frame
        (void)p.take_frame();
        ++frames;
    }
    FUZZ_CHECK(frames == 1);
}

void check_amqp_message(std::string_view m, bool first) {
    if (first && m.starts_with("AMQP")) {
        FUZZ_CHECK(m.size() >= 8);
        m.remove_prefix(8);
    }
    while (!m.empty()) {
        auto r = amqp::parse_frame(m, 0);
        FUZZ_CHECK(r.k == amqp::parse_result::ok);
        if (r.frame.type == amqp::frame_type::method)
            FUZZ_CHECK(amqp::decode_method(r.frame.payload));
        m.remove_prefix(r.consumed);
    }
}

// What the server wrote after the 101, as a client reads it. False if it ends mid-frame;
// `closed`: it ends with a close frame.
bool check_frames(std::string_view out, bool is_amqp, bool& closed) {
    bool in_message = false, text = false;
    closed = false;
    int messages = 0;
    std::string msg;
    while (!out.empty()) {
        if (out.size() < 2) return false;
        const uint8_t b0 = uint8_t(out[0]), b1 = uint8_t(out[1]);
        const bool fin = b0 & 0x80;
        const uint8_t op = b0 & 0x0f;
        FUZZ_CHECK((b0 & 0x70) == 0);  // no extension negotiated
        FUZZ_CHECK(!(b1 & 0x80));      // server frames are not masked
        uint64_t n = b1 & 0x7f;
        size_t header = 2;
        if (n == 126) {
            if (out.size() < 4) return false;
            n = uint64_t(uint8_t(out[2])) << 8 | uint8_t(out[3]);
            FUZZ_CHECK(n >= 126);
            header = 4;
        } else if (n == 127) {
            if (out.size() < 10) return false;
            n = 0;
            for (int i = 0; i < 8; ++i) n = n << 8 | uint8_t(out[2 + i]);
            FUZZ_CHECK(n >= 65536 && !(n >> 63));
            header = 10;
        }
        if (out.size() - header < n) return false;
        std::string_view payload = out.substr(header, size_t(n));
        out.remove_prefix(header + size_t(n));
        FUZZ_CHECK(!closed);  // nothing after a close frame
        switch (op) {
            case 0:  // continuation
                FUZZ_CHECK(in_message);
                msg.append(payload);
                break;
            case 1:
            case 2:
                FUZZ_CHECK(!in_message);
                in_message = true;
                text = op == 1;
                msg.assign(payload);
                break;
            case 8:
                FUZZ_CHECK(fin && n <= 125 && n != 1);
                if (n >= 2) {
                    uint16_t code = uint16_t(uint8_t(payload[0]) << 8 | uint8_t(payload[1]));
                    FUZZ_CHECK(wsd::is_valid_close_code(code));
                    FUZZ_CHECK(wsd::check_utf8(payload.data() + 2, payload.size() - 2));
                }
                closed = true;
                continue;
            case 9:
            case 10:
                FUZZ_CHECK(fin && n <= 125);
                continue;
            default:
                FUZZ_CHECK(false);  // a reserved opcode
        }
        if (!fin) continue;
        in_message = false;
        if (text) FUZZ_CHECK(wsd::check_utf8(msg.data(), msg.size()));
        if (is_amqp)
            check_amqp_message(msg, messages == 0);
        else
            check_stomp_message(msg);
        ++messages;
    }
    return !in_message;
}

}  // namespace

// Log lines (one per refused frame or closed connection) would cost more than the session.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    log::init(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::input in(data, size);
    const uint8_t mode = in.byte();
    const bool is_amqp = mode & 1;
    const bool raw = mode & 2;
    const bool prologue = mode & 4;
    size_t chunk = size_t(1) << ((mode >> 3) & 7);
    if (((mode >> 3) & 7) == 7) chunk = SIZE_MAX;
    const bool server_shutdown = mode & 64;
    const std::string subprotocol = is_amqp ? "amqp" : "v12.stomp";

    // The users as a fresh server has them, hashed once; each input gets its own copy (the
    // failed-login back-off and the per-user connection counts change), so every input starts
    // from the same state.
    static const auth::authority seeded = [] {
        auth::authority a;
        a.seed_default_user("guest", "guest", "/");
        a.users.set_loopback_users({});  // the socket pair has no address: "?" is not local
        return a;
    }();
    boost::asio::io_context io;
    core::broker broker;
    auth::authority authority = seeded;
    {
        std::optional<amqp::server> amqp_server;
        std::optional<stomp::server> stomp_server;
        if (is_amqp) {
            amqp::settings s;
            s.max_message_size = 1 << 20;
            amqp_server.emplace(io, broker, authority, s);
        } else {
            stomp::settings s;
            s.max_message_size = 1 << 20;
            stomp_server.emplace(io, broker, authority, s);
        }
        mgmt::http_server http(io);
        http.on_websocket("/ws", {"v12.stomp", "v11.stomp", "v10.stomp", "amqp"},
                          [&](mgmt::ws_stream ws, const std::string& p) {
                              if (p == "amqp")
                                  amqp_server->accept_websocket(std::move(ws));
                              else
                                  stomp_server->accept_websocket(std::move(ws));
                          });
        fuzz::socket_pair client(io);
        http.accept(client.take_server());

        FUZZ_CHECK(
            client.send("GET /ws HTTP/1.1\r\nHost: localhost:15672\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: " +
                        subprotocol + "\r\n\r\n"));
        client.settle();
        size_t upgrade_size = 0;
        {
            http::response_parser<http::empty_body> p;
            boost::beast::error_code ec;
            const std::string& out = client.output();
            upgrade_size = p.put(boost::asio::buffer(out.data(), out.size()), ec);
            FUZZ_CHECK(!ec && p.is_done());
            FUZZ_CHECK(p.get().result() == http::status::switching_protocols);
            FUZZ_CHECK(p.get()[http::field::sec_websocket_protocol] == subprotocol);
        }

        std::string stream;
        if (prologue) {
            if (is_amqp)
                append_frame(stream, 0x82, amqp_handshake());
            else
                append_frame(stream, 0x81,
                             "CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n"
                             "heart-beat:0,0\n\n\0"s);
        }
        stream += raw ? std::string(in.rest()) : framed(in);
        std::string_view rest = stream;
        chunk = fuzz::socket_pair::write_size(chunk, rest.size());
        while (!rest.empty() && !client.eof()) {
            auto piece = rest.substr(0, chunk);
            rest.remove_prefix(piece.size());
            if (!client.send(piece)) break;
            client.settle();
        }
        if (server_shutdown) {
            if (is_amqp)
                amqp_server->shutdown();
            else
                stomp_server->shutdown();
            client.settle();
        }
        client.shutdown_send();
        client.settle();
        bool closing = false;
        FUZZ_CHECK(
            check_frames(std::string_view(client.output()).substr(upgrade_size), is_amqp, closing));
        // Closed, or closing: the close frame is out and the connection's grace timer (not
        // waited for here) ends a close handshake that Beast has not finished.
        FUZZ_CHECK(client.eof() || closing);
        http.shutdown();
        client.settle();
    }
    io.poll();
    return 0;
}
