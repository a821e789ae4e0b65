// Fuzz target: a STOMP connection (stomp::session, no sockets) against a real in-memory
// core::broker, fed arbitrary bytes in reads of a chosen size, with time moving between reads
// (heart-beats, the CONNECT timeout). The first input byte chooses whether a valid CONNECT is
// sent first (so the fuzzer's frames reach SEND, SUBSCRIBE, ACK, transactions...), the read
// size and the time step. A second session on the same broker subscribes to a queue the seeds
// use, so deliveries and acks cross connections. Checked beyond "no crash": everything the
// session writes parses as STOMP frames, and once both are closed the connections they counted
// against the user's limits are given back.

#include <string>

#include "base/log.h"
#include "core/broker.h"
#include "fuzz/fuzz_input.h"
#include "proto/stomp/codec/parser.h"
#include "proto/stomp/session.h"

using namespace warren;
using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

struct fake_io final : stomp::session_io {
    void output_ready() override {}
    void close_requested() override { closed = true; }
    void close_now() override { closed = true; }
    size_t bytes_in_flight() const override { return 0; }
    void pause_input() override { paused = true; }
    void resume_input() override { paused = false; }
    bool paused = false;
    bool closed = false;
};

void check_output(stomp::session& s) {
    if (!s.has_output()) return;
    auto batch = s.take_output();
    stomp::parser p;
    p.set_version(s.negotiated_version());
    std::string_view out = batch.bytes;
    while (!out.empty()) {
        auto r = p.parse(out);
        FUZZ_CHECK(r.status != stomp::parse_status::error);
        out.remove_prefix(r.consumed);
        if (r.status == stomp::parse_status::frame_ready) {
            (void)p.take_frame();
        } else {
            FUZZ_CHECK(out.empty());
        }
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
    bool connect = mode & 1;
    size_t chunk = size_t(1) << ((mode >> 1) & 7);
    if (((mode >> 1) & 7) == 7) chunk = SIZE_MAX;
    uint64_t step = uint64_t(mode >> 4) * 300;

    // The users as a fresh server has them, hashed once; each input gets its own copy (the
    // failed-login back-off and the per-user counts change), so every input starts alike.
    static const auth::authority seeded = [] {
        auth::authority a;
        a.seed_default_user("guest", "guest", "/");
        return a;
    }();
    core::broker broker;
    auth::authority authority = seeded;
    stomp::session_settings settings;
    settings.frame_limits.max_body_size = 1 << 16;
    fake_io io, peer_io;
    uint64_t now = 1000;
    {
        stomp::session s(broker, authority, settings, io, "127.0.0.1:5555");
        stomp::session peer(broker, authority, settings, peer_io, "127.0.0.1:5556");
        s.on_start(now);
        peer.on_start(now);
        peer.on_bytes(
            "CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0"
            "SUBSCRIBE\ndestination:/queue/fz\nid:1\nack:client-individual\n\n\0"sv,
            now);
        check_output(peer);
        std::string pending;
        if (connect)
            pending =
                "CONNECT\naccept-version:1.0,1.1,1.2\nhost:/\nlogin:guest\npasscode:guest\n"
                "heart-beat:100,100\n\n\0"s;
        std::string_view rest = in.rest();
        for (;;) {
            if (!pending.empty()) {
                size_t used = s.on_bytes(pending, now);
                FUZZ_CHECK(used <= pending.size());
                pending.erase(0, used);
                check_output(s);
                check_output(peer);
            }
            if (rest.empty() || io.closed) break;
            auto piece = rest.substr(0, chunk);
            rest.remove_prefix(piece.size());
            pending.append(piece);
            if (step) {
                now += step;
                s.on_timer(now);
                peer.on_timer(now);
                check_output(s);
                check_output(peer);
            }
        }
        s.on_timer(now + 60'000);
        check_output(s);
        s.connection_closed();
        check_output(peer);
        peer.connection_closed();
    }
    FUZZ_CHECK(authority.users.connections("guest") == 0);
    return 0;
}
