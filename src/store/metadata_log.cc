#include "store/metadata_log.h"

#include <cstring>

#include <fmt/format.h>

#include "store/crc32c.h"
#include "store/log_format.h"

namespace warren::store::metadata_log {

namespace lf = log_format;

std::string encode_header(uint64_t generation) {
    std::string out(magic, sizeof magic);
    lf::put_u16(out, format_version);
    lf::put_u64(out, generation);
    lf::put_u32(out, 0);
    lf::put_u32(out, crc32c::mask(crc32c::value(out.data(), out.size())));
    return out;
}

void append_record(std::string& out, record_type t, std::string_view payload) {
    const size_t at = out.size();
    lf::put_u32(out, 0);
    lf::put_u32(out, static_cast<uint32_t>(payload.size()));
    out.push_back(static_cast<char>(t));
    out.append(payload);
    lf::finish_record(out, at);
}

result<contents> parse(std::string_view b) {
    if (b.size() < header_size)
        return make_error(errc::corruption,
                          fmt::format("metadata log header is short ({} bytes)", b.size()));
    if (std::memcmp(b.data(), magic, sizeof magic) != 0)
        return make_error(errc::corruption, "metadata log has a bad magic number");
    if (crc32c::unmask(lf::get_u32(b.data() + 20)) != crc32c::value(b.data(), 20))
        return make_error(errc::corruption, "metadata log header fails its checksum");
    const uint16_t version = lf::get_u16(b.data() + 6);
    if (version != format_version)
        return make_error(errc::unsupported_version,
                          fmt::format("metadata log has format_version {}; this Warren reads "
                                      "version {} only. Refusing to start: upgrade Warren or "
                                      "move the data directory away.",
                                      version, format_version));
    contents c;
    c.generation = lf::get_u64(b.data() + 8);
    size_t off = header_size;
    while (off < b.size()) {
        uint32_t size = 0;
        const auto st = lf::check_record(b.substr(off), size);
        if (st != lf::parse_status::ok) {
            // Damaged: a torn tail only if no good record starts anywhere after it.
            for (size_t next = off + 1; next + lf::record_header_size <= b.size(); ++next) {
                uint32_t n = 0;
                if (lf::check_record(b.substr(next), n) == lf::parse_status::ok)
                    return make_error(errc::corruption,
                                      fmt::format("metadata log record at byte {} is damaged "
                                                  "({}) and good records follow it at byte {}",
                                                  off, lf::to_string(st), next));
            }
            c.torn_bytes = b.size() - off;
            break;
        }
        const auto type = static_cast<uint8_t>(b[off + 8]);
        if (type != static_cast<uint8_t>(record_type::changes))
            return make_error(errc::unsupported_version,
                              fmt::format("metadata log record at byte {} has unknown type {} "
                                          "(written by a newer Warren?)",
                                          off, type));
        c.payloads.push_back(b.substr(off + lf::record_header_size, size - lf::record_header_size));
        off += size;
    }
    c.good_bytes = b.size() - c.torn_bytes;
    return c;
}

}  // namespace warren::store::metadata_log
