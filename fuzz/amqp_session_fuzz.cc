// Fuzz target: an AMQP 0-9-1 connection (amqp::session, no sockets) against a real in-memory
// core::broker, fed arbitrary bytes after a valid protocol header, the way net::connection
// feeds it: the unconsumed rest is kept and offered again with the next read. The first input
// byte chooses whether the handshake (start-ok, tune-ok, open) is done first, so that the
// fuzzer's frames reach channels, how the rest is split into reads, and how far time moves
// between reads (heart-beats, timeouts). Checked beyond "no crash": the session never consumes
// more than it was offered, everything it writes parses as frames, and once it is closed the
// connection and channels it counted against the user's limits are given back.

#include <boost/asio/io_context.hpp>

#include <string>

#include "base/log.h"
#include "core/broker.h"
#include "fuzz/fuzz_input.h"
#include "proto/amqp091/codec/frame.h"
#include "proto/amqp091/codec/methods.h"
#include "proto/amqp091/server.h"
#include "proto/amqp091/session.h"

using namespace warren;
using namespace std::string_literals;

namespace {

struct fake_io final : net::session_io {
    void output_ready() override {}
    void close_requested() override { closed = true; }
    void close_now() override { closed = true; }
    size_t bytes_in_flight() const override { return 0; }
    void pause_input() override { paused = true; }
    void resume_input() override { paused = false; }
    bool paused = false;
    bool closed = false;
};

// What a client sends from the protocol header through connection.open.
std::string handshake() {
    std::string b(amqp::protocol_header);
    core::field_table caps;
    caps.emplace_back("authentication_failure_close", true);
    caps.emplace_back("publisher_confirms", true);
    caps.emplace_back("consumer_cancel_notify", true);
    core::field_table props;
    props.emplace_back("capabilities", core::field_value::table(std::move(caps)));
    amqp::append_method_frame(
        b, 0, amqp::connection_start_ok{props, "PLAIN", "\0guest\0guest"s, "en_US"});
    amqp::append_method_frame(b, 0, amqp::connection_tune_ok{2047, 131072, 0});
    amqp::append_method_frame(b, 0, amqp::connection_open{"/", "", false});
    return b;
}

// Every byte the session wrote must be frames (after an optional protocol header, which the
// session sends back on a bad header).
void check_output(amqp::session& s) {
    if (!s.has_output()) return;
    auto batch = s.take_output();
    std::string_view out = batch.bytes;
    if (out.starts_with("AMQP")) out.remove_prefix(8);
    while (!out.empty()) {
        auto r = amqp::parse_frame(out, 0);
        FUZZ_CHECK(r.k == amqp::parse_result::ok);
        if (r.frame.type == amqp::frame_type::method)
            FUZZ_CHECK(amqp::decode_method(r.frame.payload));
        out.remove_prefix(r.consumed);
    }
    s.recycle(std::move(batch.bytes));
    s.on_output_drained();
}

}  // namespace

// Log lines (one per refused frame) would cost more than the session itself.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    log::init(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::input in(data, size);
    uint8_t mode = in.byte();
    bool do_handshake = mode & 1;
    size_t chunk = size_t(1) << ((mode >> 1) & 7);  // 1 .. 128 bytes per read, or 7 = all
    if (((mode >> 1) & 7) == 7) chunk = SIZE_MAX;
    uint64_t step = uint64_t(mode >> 4) * 700;  // ms between reads

    // The users as a fresh server has them, hashed once; each input gets its own copy (the
    // failed-login back-off and the per-user counts change), so every input starts alike.
    static const auth::authority seeded = [] {
        auth::authority a;
        a.seed_default_user("guest", "guest", "/");
        return a;
    }();
    boost::asio::io_context io;
    core::broker broker;
    auth::authority authority = seeded;
    amqp::server srv(io, broker, authority, amqp::settings{});
    fake_io fio;
    uint64_t now = 1000;
    {
        amqp::session s(srv, fio, net::peer_info{"127.0.0.1:5555", false, false}, 1);
        s.on_start(now);
        std::string pending = do_handshake ? handshake() : std::string(amqp::protocol_header);
        std::string_view rest = in.rest();
        for (;;) {
            if (!pending.empty()) {
                size_t used = s.on_bytes(pending, now);
                FUZZ_CHECK(used <= pending.size());
                pending.erase(0, used);
                check_output(s);
            }
            if (rest.empty() || fio.closed) break;
            auto piece = rest.substr(0, chunk);
            rest.remove_prefix(piece.size());
            pending.append(piece);
            if (step) {
                now += step;
                s.on_timer(now);
                check_output(s);
            }
        }
        s.on_timer(now + 60'000);
        check_output(s);
        s.connection_closed();
    }
    FUZZ_CHECK(authority.users.connections("guest") == 0);
    FUZZ_CHECK(authority.users.channels("guest") == 0);
    io.poll();
    return 0;
}
