#include "proto/stomp/codec/parser.h"

#include <cstring>

#include <fmt/format.h>

namespace warren::stomp {

bool unescape_header(std::string_view in, version v, std::string& out) {
    out.clear();
    if (v == version::v1_0 || in.find('\\') == std::string_view::npos) {
        out.assign(in);
        return true;
    }
    out.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c != '\\') {
            out.push_back(c);
            continue;
        }
        if (i + 1 >= in.size()) return false;
        char e = in[++i];
        switch (e) {
            case 'n':
                out.push_back('\n');
                break;
            case 'c':
                out.push_back(':');
                break;
            case '\\':
                out.push_back('\\');
                break;
            case 'r':
                if (v != version::v1_2) return false;
                out.push_back('\r');
                break;
            default:
                return false;
        }
    }
    return true;
}

void escape_header(std::string_view in, version v, std::string& out) {
    if (v == version::v1_0) {
        out.append(in);
        return;
    }
    for (char c : in) {
        switch (c) {
            case '\n':
                out.append("\\n");
                break;
            case ':':
                out.append("\\c");
                break;
            case '\\':
                out.append("\\\\");
                break;
            case '\r':
                if (v == version::v1_2) {
                    out.append("\\r");
                } else {
                    out.push_back(c);
                }
                break;
            default:
                out.push_back(c);
        }
    }
}

parse_result parser::fail(size_t consumed, std::string message, std::string detail) {
    _state = state::failed;
    _error = {std::move(message), std::move(detail)};
    return {consumed, parse_status::error};
}

frame parser::take_frame() {
    frame f = std::move(_frame);
    _frame = frame{};
    _frame_bytes = 0;
    _body_remaining = 0;
    _line.clear();
    if (_state == state::done) _state = state::idle;
    return f;
}

bool parser::decode_header(std::string_view line) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
        _error = {"Invalid header",
                  fmt::format("header line without ':' in {} frame", _frame.command_text)};
        return false;
    }
    if (_frame.headers.size() >= _limits.max_headers) {
        _error = {"Too many headers",
                  fmt::format("frame has more than {} headers", _limits.max_headers)};
        return false;
    }
    version v = is_unescaped_command(_frame.cmd) ? version::v1_0 : _version;
    std::string name, value;
    if (!unescape_header(line.substr(0, colon), v, name) ||
        !unescape_header(line.substr(colon + 1), v, value)) {
        _error = {"Invalid header", "undefined escape sequence in header"};
        return false;
    }
    _frame.headers.emplace_back(std::move(name), std::move(value));
    return true;
}

bool parser::finish_line(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (_state == state::command_line) {
        _frame.command_text.assign(line);
        _frame.cmd = parse_command(line);
        _state = state::header_line;
        return true;
    }
    // header_line
    if (line.empty()) return finish_headers();
    return decode_header(line);
}

bool parser::finish_headers() {
    const std::string* cl = _frame.get("content-length");
    if (cl) {
        // Strictly decimal digits; reject anything that could be misread.
        if (cl->empty() || cl->size() > 12) {
            _error = {"Invalid content-length", fmt::format("content-length '{}'", *cl)};
            return false;
        }
        size_t n = 0;
        for (char c : *cl) {
            if (c < '0' || c > '9') {
                _error = {"Invalid content-length", fmt::format("content-length '{}'", *cl)};
                return false;
            }
            n = n * 10 + static_cast<size_t>(c - '0');
        }
        if (n > _limits.max_body_size) {
            _error = {"Message too large",
                      fmt::format("content-length {} exceeds the message size limit of {} bytes", n,
                                  _limits.max_body_size),
                      n};
            return false;
        }
        _body_remaining = n;
        _frame.body.reserve(n);
        _state = n == 0 ? state::body_terminator : state::body_length;
    } else {
        _state = state::body_nul;
    }
    return true;
}

parse_result parser::parse(std::string_view data) {
    size_t pos = 0;
    const size_t n = data.size();
    while (pos < n) {
        switch (_state) {
            case state::done:
                return {pos, parse_status::frame_ready};
            case state::failed:
                return {pos, parse_status::error};

            case state::idle: {
                char c = data[pos];
                if (c == '\n') {
                    ++pos;
                    ++_heartbeats;
                    _pending_cr = false;
                    continue;
                }
                if (c == '\r') {
                    ++pos;
                    _pending_cr = true;
                    continue;
                }
                if (_pending_cr) {
                    return fail(pos, "Invalid frame", "CR not followed by LF between frames");
                }
                _state = state::command_line;
                _line.clear();
                _frame_bytes = 0;
                continue;
            }

            case state::command_line:
            case state::header_line: {
                const char* start = data.data() + pos;
                const void* nl = std::memchr(start, '\n', n - pos);
                size_t take =
                    nl ? static_cast<size_t>(static_cast<const char*>(nl) - start) : n - pos;
                if (std::memchr(start, '\0', take)) {
                    return fail(pos, "Invalid frame",
                                _state == state::command_line
                                    ? "NUL in command line"
                                    : "frame ended before the blank line after its headers");
                }
                if (_line.size() + take > _limits.max_header_length) {
                    return fail(
                        pos, "Header too long",
                        fmt::format("a header line exceeds {} bytes", _limits.max_header_length));
                }
                _frame_bytes += take + (nl ? 1 : 0);
                if (_frame_bytes > _limits.max_frame_size) {
                    return fail(pos, "Frame too large",
                                fmt::format("frame exceeds the size limit of {} bytes",
                                            _limits.max_frame_size));
                }
                if (!nl) {
                    _line.append(start, take);
                    pos = n;
                    continue;
                }
                bool ok;
                if (_line.empty()) {
                    ok = finish_line(std::string_view(start, take));
                } else {
                    _line.append(start, take);
                    ok = finish_line(_line);
                    _line.clear();
                }
                pos += take + 1;
                if (!ok) {
                    _state = state::failed;
                    return {pos, parse_status::error};
                }
                continue;
            }

            case state::body_length: {
                size_t take = std::min(_body_remaining, n - pos);
                _frame.body.append(data.data() + pos, take);
                pos += take;
                _body_remaining -= take;
                if (_body_remaining == 0) _state = state::body_terminator;
                continue;
            }

            case state::body_terminator: {
                if (data[pos] != '\0') {
                    return fail(pos, "Invalid frame",
                                "body longer than content-length (expected NUL)");
                }
                ++pos;
                _state = state::done;
                return {pos, parse_status::frame_ready};
            }

            case state::body_nul: {
                const char* start = data.data() + pos;
                const void* nul = std::memchr(start, '\0', n - pos);
                size_t take =
                    nul ? static_cast<size_t>(static_cast<const char*>(nul) - start) : n - pos;
                if (_frame.body.size() + take > _limits.max_body_size) {
                    uint64_t size = _frame.body.size() + take;
                    fail(pos, "Message too large",
                         fmt::format("body exceeds the message size limit of {} bytes",
                                     _limits.max_body_size));
                    _error.body_size = size;
                    return {pos, parse_status::error};
                }
                _frame.body.append(start, take);
                pos += take;
                if (nul) {
                    ++pos;
                    _state = state::done;
                    return {pos, parse_status::frame_ready};
                }
                continue;
            }
        }
    }
    if (_state == state::done) return {pos, parse_status::frame_ready};
    if (_state == state::failed) return {pos, parse_status::error};
    return {pos, parse_status::need_more};
}

}  // namespace warren::stomp
