// Codec tests: table-driven valid and invalid frames, every-offset splits, round trips through
// the writer, and random/mutated garbage that must fail cleanly and never crash.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "proto/stomp/codec/frame.h"
#include "proto/stomp/codec/parser.h"
#include "proto/stomp/codec/writer.h"

namespace warren::stomp {
namespace {

using namespace std::string_literals;

struct parsed {
    std::vector<frame> frames;
    bool failed = false;
    parse_error error;
    uint64_t heartbeats = 0;
};

// Feeds `input` in chunks of at most `chunk` bytes (0 = all at once).
parsed run(std::string_view input, version v = version::v1_2, size_t chunk = 0, limits l = {}) {
    parser p(l);
    p.set_version(v);
    parsed out;
    size_t off = 0;
    while (off < input.size() && !out.failed) {
        size_t len = chunk ? std::min(chunk, input.size() - off) : input.size() - off;
        std::string_view piece = input.substr(off, len);
        off += len;
        while (!piece.empty()) {
            auto r = p.parse(piece);
            EXPECT_LE(r.consumed, piece.size());
            piece.remove_prefix(r.consumed);
            if (r.status == parse_status::frame_ready) {
                out.frames.push_back(p.take_frame());
            } else if (r.status == parse_status::error) {
                out.failed = true;
                out.error = p.error();
                break;
            } else {
                EXPECT_TRUE(piece.empty());
                break;
            }
        }
    }
    out.heartbeats = p.heartbeats();
    return out;
}

struct valid_case {
    const char* name;
    std::string input;
    version v;
    command cmd;
    std::vector<header> headers;
    std::string body;
};

std::vector<valid_case> valid_cases() {
    return {
        {"minimal_connect",
         "CONNECT\naccept-version:1.2\nhost:/\n\n\0"s,
         version::v1_0,
         command::connect,
         {{"accept-version", "1.2"}, {"host", "/"}},
         ""},
        {"stomp_command",
         "STOMP\nlogin:guest\n\n\0"s,
         version::v1_0,
         command::stomp,
         {{"login", "guest"}},
         ""},
        {"send_body_to_nul",
         "SEND\ndestination:/queue/a\n\nhello world\0"s,
         version::v1_2,
         command::send,
         {{"destination", "/queue/a"}},
         "hello world"},
        {"content_length_with_nuls",
         "SEND\ndestination:/queue/a\ncontent-length:5\n\na\0b\0c\0"s,
         version::v1_2,
         command::send,
         {{"destination", "/queue/a"}, {"content-length", "5"}},
         "a\0b\0c"s},
        {"zero_content_length",
         "SEND\ncontent-length:0\n\n\0"s,
         version::v1_2,
         command::send,
         {{"content-length", "0"}},
         ""},
        {"crlf_lines",
         "SEND\r\ndestination:/queue/a\r\nx:y\r\n\r\nbody\0"s,
         version::v1_2,
         command::send,
         {{"destination", "/queue/a"}, {"x", "y"}},
         "body"},
        {"escapes_1_2",
         "SEND\na\\cb:c\\nd\\\\e\\rf\n\n\0"s,
         version::v1_2,
         command::send,
         {{"a:b", "c\nd\\e\rf"}},
         ""},
        {"escapes_1_1",
         "SEND\nk:a\\cb\\nc\\\\d\n\n\0"s,
         version::v1_1,
         command::send,
         {{"k", "a:b\nc\\d"}},
         ""},
        {"no_escapes_1_0",
         "SEND\nk:a\\cb\\t\n\n\0"s,
         version::v1_0,
         command::send,
         {{"k", "a\\cb\\t"}},
         ""},
        {"connect_never_unescaped",
         "CONNECT\npasscode:a\\cb\n\n\0"s,
         version::v1_2,
         command::connect,
         {{"passcode", "a\\cb"}},
         ""},
        {"value_with_colons",
         "SEND\nurl:http://x:80/y\n\n\0"s,
         version::v1_0,
         command::send,
         {{"url", "http://x:80/y"}},
         ""},
        {"repeated_header_kept_in_order",
         "SEND\nfoo:first\nfoo:second\n\n\0"s,
         version::v1_2,
         command::send,
         {{"foo", "first"}, {"foo", "second"}},
         ""},
        {"empty_value", "SEND\nfoo:\n\n\0"s, version::v1_2, command::send, {{"foo", ""}}, ""},
        {"leading_heartbeats",
         "\n\r\n\nDISCONNECT\nreceipt:1\n\n\0"s,
         version::v1_2,
         command::disconnect,
         {{"receipt", "1"}},
         ""},
        {"unknown_command_parses", "FOO\n\n\0"s, version::v1_2, command::unknown, {}, ""},
        {"whitespace_kept",
         "SEND\n key : v \n\n\0"s,
         version::v1_2,
         command::send,
         {{" key ", " v "}},
         ""},
        {"server_frames",
         "MESSAGE\nsubscription:0\nmessage-id:7\n\nx\0"s,
         version::v1_2,
         command::message,
         {{"subscription", "0"}, {"message-id", "7"}},
         "x"},
    };
}

TEST(StompParser, ValidFramesTable) {
    for (const auto& c : valid_cases()) {
        SCOPED_TRACE(c.name);
        auto r = run(c.input, c.v);
        ASSERT_FALSE(r.failed) << r.error.message << ": " << r.error.detail;
        ASSERT_EQ(r.frames.size(), 1u);
        EXPECT_EQ(r.frames[0].cmd, c.cmd);
        EXPECT_EQ(r.frames[0].headers, c.headers);
        EXPECT_EQ(r.frames[0].body, c.body);
    }
}

TEST(StompParser, ValidFramesSplitAtEveryOffset) {
    for (const auto& c : valid_cases()) {
        SCOPED_TRACE(c.name);
        for (size_t split = 1; split < c.input.size(); ++split) {
            parser p;
            p.set_version(c.v);
            std::vector<frame> frames;
            for (std::string_view piece : {std::string_view(c.input).substr(0, split),
                                           std::string_view(c.input).substr(split)}) {
                while (!piece.empty()) {
                    auto r = p.parse(piece);
                    piece.remove_prefix(r.consumed);
                    ASSERT_NE(r.status, parse_status::error) << "split " << split;
                    if (r.status == parse_status::frame_ready)
                        frames.push_back(p.take_frame());
                    else
                        break;
                }
            }
            ASSERT_EQ(frames.size(), 1u) << "split " << split;
            EXPECT_EQ(frames[0].headers, c.headers);
            EXPECT_EQ(frames[0].body, c.body);
        }
        // And one byte at a time.
        auto r = run(c.input, c.v, 1);
        ASSERT_EQ(r.frames.size(), 1u);
        EXPECT_EQ(r.frames[0].body, c.body);
    }
}

TEST(StompParser, ManyFramesAndHeartbeatsInOneBuffer) {
    std::string in = "\n"s + "SEND\ndestination:/queue/a\n\none\0\n"s +
                     "SEND\ncontent-length:3\n\nt\0o\0\r\n\n"s + "ACK\nid:1\n\n\0"s;
    for (size_t chunk : {0u, 1u, 2u, 3u, 7u, 64u}) {
        SCOPED_TRACE(chunk);
        auto r = run(in, version::v1_2, chunk);
        ASSERT_FALSE(r.failed);
        ASSERT_EQ(r.frames.size(), 3u);
        EXPECT_EQ(r.frames[0].body, "one");
        EXPECT_EQ(r.frames[1].body, "t\0o"s);
        EXPECT_EQ(r.frames[2].cmd, command::ack);
        EXPECT_EQ(r.heartbeats, 4u);
    }
}

TEST(StompParser, FirstRepeatedHeaderWins) {
    auto r = run("SEND\ndestination:/queue/a\ndestination:/queue/b\n\n\0"s);
    ASSERT_EQ(r.frames.size(), 1u);
    EXPECT_EQ(*r.frames[0].get("destination"), "/queue/a");
}

TEST(StompParser, FirstContentLengthWins) {
    auto r = run("SEND\ncontent-length:2\ncontent-length:5\n\nab\0"s);
    ASSERT_EQ(r.frames.size(), 1u);
    EXPECT_EQ(r.frames[0].body, "ab");
}

struct invalid_case {
    const char* name;
    std::string input;
    version v;
    const char* message;
    limits l;
};

TEST(StompParser, InvalidFramesTable) {
    limits small;
    small.max_frame_size = 64;
    small.max_body_size = 64;
    small.max_headers = 3;
    small.max_header_length = 20;
    std::vector<invalid_case> cases = {
        {"header_without_colon", "SEND\nnocolon\n\n\0"s, version::v1_2, "Invalid header", {}},
        {"undefined_escape_1_2", "SEND\nk:a\\tb\n\n\0"s, version::v1_2, "Invalid header", {}},
        {"cr_escape_in_1_1", "SEND\nk:a\\rb\n\n\0"s, version::v1_1, "Invalid header", {}},
        {"trailing_backslash", "SEND\nk:ab\\\n\n\0"s, version::v1_2, "Invalid header", {}},
        {"bad_content_length",
         "SEND\ncontent-length:abc\n\n\0"s,
         version::v1_2,
         "Invalid content-length",
         {}},
        {"negative_content_length",
         "SEND\ncontent-length:-1\n\n\0"s,
         version::v1_2,
         "Invalid content-length",
         {}},
        {"body_longer_than_content_length",
         "SEND\ncontent-length:1\n\nab\0"s,
         version::v1_2,
         "Invalid frame",
         {}},
        {"nul_in_headers", "SEND\nk:v\0\n\n\0"s, version::v1_2, "Invalid frame", {}},
        {"nul_in_command", "SE\0ND\n\n\0"s, version::v1_2, "Invalid frame", {}},
        {"lone_cr_between_frames", "\rSEND\n\n\0"s, version::v1_2, "Invalid frame", {}},
        {"content_length_over_limit", "SEND\ncontent-length:100\n\n\0"s, version::v1_2,
         "Message too large", small},
        {"body_over_limit", "SEND\n\n"s + std::string(100, 'x') + "\0"s, version::v1_2,
         "Message too large", small},
        {"headers_over_frame_limit",
         "SEND\naaaaaaaaaaaaaaaaa:1\nbbbbbbbbbbbbbbbbb:2\nccccccccccccccccc:3\n\n\0"s,
         version::v1_2, "Frame too large", small},
        {"too_many_headers", "SEND\na:1\nb:2\nc:3\nd:4\n\n\0"s, version::v1_2, "Too many headers",
         small},
        {"header_too_long", "SEND\nk:"s + std::string(30, 'v') + "\n\n\0"s, version::v1_2,
         "Header too long", small},
        {"command_too_long", std::string(30, 'A') + "\n\n\0"s, version::v1_2, "Header too long",
         small},
        {"endless_headers", "SEND\n"s + std::string(200, 'h'), version::v1_2, "Header too long",
         small},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        for (size_t chunk : {0u, 1u, 5u}) {
            auto r = run(c.input, c.v, chunk, c.l);
            ASSERT_TRUE(r.failed) << "chunk " << chunk;
            EXPECT_EQ(r.error.message, c.message) << r.error.detail;
            EXPECT_FALSE(r.error.detail.empty());
        }
    }
}

TEST(StompParser, StaysFailedAfterError) {
    parser p;
    auto r = p.parse("SEND\nbad\n\n\0"s);
    EXPECT_EQ(r.status, parse_status::error);
    EXPECT_TRUE(p.failed());
    r = p.parse("SEND\n\n\0"s);
    EXPECT_EQ(r.status, parse_status::error);
}

TEST(StompParser, IncompleteFrameNeedsMore) {
    parser p;
    auto r = p.parse("SEND\ndestination:/queue/a\n\nhal");
    EXPECT_EQ(r.status, parse_status::need_more);
    EXPECT_EQ(r.consumed, 30u);
    r = p.parse("f"s + "\0"s);
    EXPECT_EQ(r.status, parse_status::frame_ready);
    EXPECT_EQ(p.take_frame().body, "half");
}

TEST(StompParser, VersionSwitchBetweenFrames) {
    // The session flips escaping after CONNECT; frames after it in the same buffer must use it.
    std::string in = "CONNECT\naccept-version:1.2\n\n\0SEND\nk:a\\cb\n\n\0"s;
    parser p;
    std::string_view data = in;
    auto r = p.parse(data);
    ASSERT_EQ(r.status, parse_status::frame_ready);
    data.remove_prefix(r.consumed);
    EXPECT_EQ(p.take_frame().cmd, command::connect);
    p.set_version(version::v1_2);
    r = p.parse(data);
    ASSERT_EQ(r.status, parse_status::frame_ready);
    EXPECT_EQ(*p.take_frame().get("k"), "a:b");
}

TEST(StompWriter, EncodesExactBytes) {
    std::string out;
    writer w(out, version::v1_2);
    w.begin(command::receipt).header("receipt-id", "a:b\nc\\d\re").end();
    EXPECT_EQ(out, "RECEIPT\nreceipt-id:a\\cb\\nc\\\\d\\re\n\n\0"s);

    out.clear();
    writer w11(out, version::v1_1);
    w11.begin(command::message).header("k", "a:b").end("body");
    EXPECT_EQ(out, "MESSAGE\nk:a\\cb\n\nbody\0"s);

    out.clear();
    writer w10(out, version::v1_0);
    w10.begin(command::message).header("k", "a:b\nc").end();
    EXPECT_EQ(out, "MESSAGE\nk:a:bc\n\n\0"s);

    out.clear();
    writer wc(out, version::v1_2);
    wc.begin(command::connected).header("version", "1.2").header("server", "x:y").end();
    EXPECT_EQ(out, "CONNECTED\nversion:1.2\nserver:x:y\n\n\0"s);
}

TEST(StompWriter, RoundTripEveryCommandAndVersion) {
    std::vector<command> cmds = {command::connect,   command::stomp,       command::send,
                                 command::subscribe, command::unsubscribe, command::ack,
                                 command::nack,      command::begin,       command::commit,
                                 command::abort,     command::disconnect,  command::connected,
                                 command::message,   command::receipt,     command::error};
    for (version v : {version::v1_1, version::v1_2}) {
        for (command c : cmds) {
            frame f;
            f.cmd = c;
            bool raw = is_unescaped_command(c);
            f.add("destination", "/queue/x");
            if (!raw) f.add("weird:name", v == version::v1_2 ? "line\nbreak\\ and \r cr" : "a\nb");
            std::string body = "binary\0body\0"s;
            f.add("content-length", std::to_string(body.size()));
            f.body = body;
            std::string bytes = encode(f, v);
            for (size_t chunk : {0u, 1u, 3u}) {
                auto r = run(bytes, v, chunk);
                ASSERT_FALSE(r.failed) << command_name(c) << " " << r.error.detail;
                ASSERT_EQ(r.frames.size(), 1u);
                EXPECT_EQ(r.frames[0].cmd, c);
                EXPECT_EQ(r.frames[0].headers, f.headers) << command_name(c);
                EXPECT_EQ(r.frames[0].body, f.body);
            }
        }
    }
}

// The frame limit covers the command and headers only; a body is limited by max_body_size,
// and going over it reports the size so the session can name it as RabbitMQ does.
TEST(StompParser, BodyIsLimitedByMessageSizeNotFrameSize) {
    limits l;
    l.max_frame_size = 64;
    l.max_body_size = 1000;
    std::string body(1000, 'b');
    for (size_t chunk : {0u, 7u}) {
        auto ok = run("SEND\ncontent-length:1000\n\n"s + body + "\0"s, version::v1_2, chunk, l);
        ASSERT_FALSE(ok.failed) << ok.error.detail;
        ASSERT_EQ(ok.frames.size(), 1u);
        EXPECT_EQ(ok.frames[0].body, body);
        auto nul = run("SEND\n\n"s + body + "\0"s, version::v1_2, chunk, l);
        ASSERT_FALSE(nul.failed) << nul.error.detail;
        auto over = run("SEND\ncontent-length:1001\n\n"s + body + "x\0"s, version::v1_2, chunk, l);
        ASSERT_TRUE(over.failed);
        EXPECT_EQ(over.error.body_size, 1001u);
        auto streamed = run("SEND\n\n"s + body + "xx\0"s, version::v1_2, chunk, l);
        ASSERT_TRUE(streamed.failed);
        EXPECT_GT(streamed.error.body_size, 1000u);
    }
}

TEST(StompParser, RandomGarbageNeverCrashes) {
    std::mt19937 rng(12345);
    const std::string alphabet = "SENDCONT:\\\n\r\0abc-lengh0123456789"s;
    limits l;
    l.max_frame_size = 4096;
    l.max_headers = 20;
    l.max_header_length = 256;
    for (int iter = 0; iter < 3000; ++iter) {
        std::string in;
        size_t len = rng() % 300;
        for (size_t i = 0; i < len; ++i) in.push_back(alphabet[rng() % alphabet.size()]);
        for (size_t chunk : {0u, 1u, 13u}) {
            auto r = run(in, static_cast<version>(rng() % 3), chunk, l);
            if (r.failed) {
                EXPECT_FALSE(r.error.message.empty());
            }
        }
    }
}

TEST(StompParser, MutatedValidFramesNeverCrash) {
    std::mt19937 rng(777);
    auto cases = valid_cases();
    for (int iter = 0; iter < 5000; ++iter) {
        std::string in = cases[rng() % cases.size()].input;
        int edits = 1 + rng() % 4;
        for (int e = 0; e < edits && !in.empty(); ++e) {
            size_t at = rng() % in.size();
            switch (rng() % 3) {
                case 0:
                    in[at] = static_cast<char>(rng() % 256);
                    break;
                case 1:
                    in.erase(at, 1);
                    break;
                case 2:
                    in.insert(at, 1, static_cast<char>(rng() % 256));
                    break;
            }
        }
        auto r = run(in, version::v1_2, 1 + rng() % 8);
        (void)r;
    }
}

}  // namespace
}  // namespace warren::stomp
