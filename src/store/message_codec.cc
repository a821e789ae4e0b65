#include "store/message_codec.h"

#include <algorithm>

#include "store/log_format.h"

namespace warren::store {

namespace lf = log_format;

size_t encoded_size(const message_fields& m) {
    return 17 + std::min<size_t>(m.exchange.size(), 0xffff) +
           std::min<size_t>(m.routing_key.size(), 0xffff) + m.properties.size() + m.body.size();
}

void encode_message(const message_fields& m, std::string& out) {
    out.reserve(out.size() + encoded_size(m));
    out.push_back(static_cast<char>(message_codec_version));
    lf::put_u64(out, m.published_ms);
    // AMQP short strings are at most 255 bytes; the cap only keeps the layout self-consistent.
    std::string_view ex = m.exchange.substr(0, 0xffff), rk = m.routing_key.substr(0, 0xffff);
    lf::put_u16(out, static_cast<uint16_t>(ex.size()));
    out.append(ex);
    lf::put_u16(out, static_cast<uint16_t>(rk.size()));
    out.append(rk);
    lf::put_u32(out, static_cast<uint32_t>(m.properties.size()));
    out.append(m.properties);
    out.append(m.body);
}

std::string encode_message(const message_fields& m) {
    std::string out;
    encode_message(m, out);
    return out;
}

result<message_fields> decode_message(std::string_view b) {
    if (b.empty()) return make_error(errc::corruption, "empty stored message");
    const uint8_t version = static_cast<uint8_t>(b[0]);
    if (version != 1 && version != message_codec_version)
        return make_error(errc::unsupported_version,
                          "stored message has encoding version " + std::to_string(version));
    size_t off = 1;
    auto take = [&](size_t n, std::string_view& out) {
        if (b.size() - off < n) return false;
        out = b.substr(off, n);
        off += n;
        return true;
    };
    message_fields m;
    std::string_view len;
    if (version >= 2) {
        if (!take(8, len)) return make_error(errc::corruption, "stored message is truncated");
        m.published_ms = lf::get_u64(len.data());
    }
    if (!take(2, len) || !take(lf::get_u16(len.data()), m.exchange) || !take(2, len) ||
        !take(lf::get_u16(len.data()), m.routing_key) || !take(4, len) ||
        !take(lf::get_u32(len.data()), m.properties))
        return make_error(errc::corruption, "stored message is truncated");
    m.body = b.substr(off);
    return m;
}

}  // namespace warren::store
