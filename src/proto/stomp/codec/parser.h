#pragma once
// Push parser for STOMP 1.0-1.2 frames. Feed it bytes in chunks of any size; it stops after each
// complete frame so the caller can react (e.g. switch the header-escaping version after CONNECT)
// before the next frame is decoded.
//
//   stomp::parser p(limits);
//   while (!data.empty()) {
//       auto r = p.parse(data);
//       data.remove_prefix(r.consumed);
//       if (r.status == parse_status::frame_ready) handle(p.take_frame());
//       else if (r.status == parse_status::error) { reply_error(p.error()); break; }
//       else break;  // need_more: every byte was consumed
//   }
//
// Grammar handled: heart-beats (bare LF or CRLF) between frames; a command line; header lines
// "name:value" split at the first colon (no trimming), LF or CRLF line ends; a blank line; then
// either exactly content-length bytes (NULs allowed) followed by NUL, or bytes up to the first
// NUL. Header escapes per version: 1.0 none; 1.1 \n \c \\; 1.2 also \r; an undefined escape is
// an error. CONNECT/STOMP/CONNECTED headers are never unescaped. Limits (size of the command and
// headers, body size, header count, header line length) produce errors instead of unbounded
// buffering. After an error the
// parser stays in the error state; the connection is expected to close.
//
// Owned by one connection; not thread-safe; no I/O.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/stomp/codec/frame.h"

namespace warren::stomp {

struct limits {
    size_t max_frame_size = 4 * 1024 * 1024;   // command + headers (the body is not counted)
    size_t max_body_size = 128 * 1024 * 1024;  // RabbitMQ's max_message_size default (128 MiB)
    size_t max_headers = 1000;
    size_t max_header_length = 64 * 1024;  // one header (or command) line, escaped form
};

enum class parse_status { need_more, frame_ready, error };

struct parse_result {
    size_t consumed = 0;
    parse_status status = parse_status::need_more;
};

// What went wrong, for an ERROR frame: `message` is the short header, `detail` the body.
struct parse_error {
    std::string message;
    std::string detail;
    // Non-zero when the body went over max_body_size: its declared size, or the bytes read so
    // far without a content-length. The session reports it as RabbitMQ does (errors.h).
    uint64_t body_size = 0;
};

class parser {
public:
    explicit parser(limits l = {}) : _limits(l) {}

    // Escaping rules for frames other than CONNECT/STOMP/CONNECTED. Until the session has
    // negotiated a version (right after CONNECT) none is applied, as for 1.0.
    void set_version(version v) { _version = v; }
    version get_version() const { return _version; }

    // Consumes bytes up to the end of at most one frame.
    parse_result parse(std::string_view data);

    // Valid after frame_ready; moves the frame out and resets for the next one.
    frame take_frame();
    const parse_error& error() const { return _error; }
    bool failed() const { return _state == state::failed; }
    // Number of heart-beat EOLs seen so far (for tests and liveness accounting).
    uint64_t heartbeats() const { return _heartbeats; }

private:
    enum class state {
        idle,             // between frames: skipping EOLs (heart-beats)
        command_line,     // reading the command line
        header_line,      // reading header lines until a blank line
        body_length,      // reading exactly _body_remaining bytes
        body_terminator,  // expecting the NUL after a content-length body
        body_nul,         // reading the body up to the first NUL
        done,             // a frame is ready; take_frame() resets to idle
        failed,
    };

    parse_result fail(size_t consumed, std::string message, std::string detail);
    bool finish_line(std::string_view line);  // false = failed
    bool finish_headers();                    // false = failed
    bool decode_header(std::string_view line);

    limits _limits;
    version _version = version::v1_0;
    state _state = state::idle;
    std::string _line;         // the partial line being accumulated
    bool _pending_cr = false;  // idle: a CR was seen, expecting LF
    frame _frame;
    size_t _frame_bytes = 0;
    size_t _body_remaining = 0;
    parse_error _error;
    uint64_t _heartbeats = 0;
};

// Header value escaping helpers, exposed for the writer and tests.
// Returns false if `in` contains an escape undefined for `v`.
bool unescape_header(std::string_view in, version v, std::string& out);
void escape_header(std::string_view in, version v, std::string& out);

}  // namespace warren::stomp
