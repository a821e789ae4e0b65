#include "proto/stomp/codec/writer.h"

#include "proto/stomp/codec/parser.h"

namespace warren::stomp {

writer& writer::begin(command c) {
    _escape = !is_unescaped_command(c) && _version != version::v1_0;
    _out.append(command_name(c));
    _out.push_back('\n');
    return *this;
}

writer& writer::header(std::string_view name, std::string_view value) {
    if (_escape) {
        escape_header(name, _version, _out);
        _out.push_back(':');
        escape_header(value, _version, _out);
    } else {
        // Unescaped frames cannot carry these bytes; drop them rather than corrupt framing.
        for (char c : name) {
            if (c != '\n' && c != ':' && c != '\0') _out.push_back(c);
        }
        _out.push_back(':');
        for (char c : value) {
            if (c != '\n' && c != '\0') _out.push_back(c);
        }
    }
    _out.push_back('\n');
    return *this;
}

void writer::end(std::string_view body) {
    _out.push_back('\n');
    _out.append(body);
    _out.push_back('\0');
}

void encode(const frame& f, version v, std::string& out) {
    writer w(out, v);
    if (f.cmd == command::unknown) {
        out.append(f.command_text);
        out.push_back('\n');
    } else {
        w.begin(f.cmd);
    }
    for (const auto& h : f.headers) w.header(h.first, h.second);
    w.end(f.body);
}

std::string encode(const frame& f, version v) {
    std::string out;
    encode(f, v, out);
    return out;
}

}  // namespace warren::stomp
