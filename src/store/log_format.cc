#include "store/log_format.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>
#include <vector>

#include "store/crc32c.h"

namespace warren::store::log_format {

std::string encode_header(uint64_t segment) {
    std::string out(magic, sizeof magic);
    put_u16(out, format_version);
    put_u64(out, segment);
    put_u64(out, 0);
    put_u32(out, 0);
    put_u32(out, crc32c::mask(crc32c::value(out.data(), out.size())));
    return out;
}

header_info parse_header(std::string_view b) {
    header_info h;
    if (b.size() < header_size) {
        h.status = header_status::too_short;
        return h;
    }
    if (std::memcmp(b.data(), magic, sizeof magic) != 0) {
        h.status = header_status::bad_magic;
        return h;
    }
    if (crc32c::unmask(get_u32(b.data() + 28)) != crc32c::value(b.data(), 28)) {
        h.status = header_status::bad_checksum;
        return h;
    }
    h.version = get_u16(b.data() + 6);
    h.segment = get_u64(b.data() + 8);
    if (h.version != format_version) h.status = header_status::unknown_version;
    return h;
}

namespace {

// Writes the record header with a zero checksum, returns its offset for finish().
size_t begin(std::string& out, record_type t, uint32_t payload_len) {
    size_t at = out.size();
    put_u32(out, 0);
    put_u32(out, payload_len);
    out.push_back(static_cast<char>(t));
    return at;
}

void finish(std::string& out, size_t at) {
    uint32_t c = crc32c::mask(crc32c::value(out.data() + at + 4, out.size() - at - 4));
    for (int i = 0; i < 4; ++i) out[at + i] = static_cast<char>(c >> (8 * i));
}

}  // namespace

size_t begin_message(std::string& out, uint64_t message_id, std::span<const uint64_t> queues,
                     size_t data_len) {
    size_t len = message_record_size(queues.size(), data_len) - record_header_size;
    out.reserve(out.size() + record_header_size + len);
    size_t at = begin(out, record_type::message, static_cast<uint32_t>(len));
    put_u64(out, message_id);
    put_u16(out, static_cast<uint16_t>(queues.size()));
    for (uint64_t q : queues) put_u64(out, q);
    return at;
}

void finish_record(std::string& out, size_t begin_offset) {
    finish(out, begin_offset);
}

void append_message(std::string& out, uint64_t message_id, std::span<const uint64_t> queues,
                    std::string_view data) {
    size_t at = begin_message(out, message_id, queues, data.size());
    out.append(data);
    finish(out, at);
}

void append_ack(std::string& out, uint64_t queue_id, std::span<const uint64_t> message_ids) {
    size_t len = ack_record_size(message_ids.size()) - record_header_size;
    out.reserve(out.size() + record_header_size + len);
    size_t at = begin(out, record_type::ack, static_cast<uint32_t>(len));
    put_u64(out, queue_id);
    put_u32(out, static_cast<uint32_t>(message_ids.size()));
    for (uint64_t m : message_ids) put_u64(out, m);
    finish(out, at);
}

void append_queue_deleted(std::string& out, uint64_t queue_id) {
    size_t at = begin(out, record_type::queue_deleted, 8);
    put_u64(out, queue_id);
    finish(out, at);
}

parse_status check_record(std::string_view b, uint32_t& size) {
    if (b.size() < record_header_size) return parse_status::truncated;
    uint32_t len = get_u32(b.data() + 4);
    if (len > max_payload) return parse_status::bad_length;
    if (b.size() - record_header_size < len) return parse_status::truncated;
    uint32_t want = crc32c::unmask(get_u32(b.data()));
    if (crc32c::value(b.data() + 4, 5 + size_t{len}) != want) return parse_status::bad_checksum;
    size = static_cast<uint32_t>(record_header_size + len);
    return parse_status::ok;
}

namespace {

// Removes repeated ids, keeping the first of each in its place.
void drop_repeated_ids(std::vector<uint64_t>& ids) {
    if (ids.size() < 2) return;
    if (ids.size() <= 32) {  // the usual case: a handful of queues, no allocation
        size_t kept = 0;
        for (uint64_t id : ids)
            if (std::find(ids.begin(), ids.begin() + kept, id) == ids.begin() + kept)
                ids[kept++] = id;
        ids.resize(kept);
        return;
    }
    std::unordered_set<uint64_t> seen;
    seen.reserve(ids.size());
    std::erase_if(ids, [&](uint64_t id) { return !seen.insert(id).second; });
}

}  // namespace

parse_status parse_record(std::string_view b, record& r) {
    uint32_t size = 0;
    if (auto s = check_record(b, size); s != parse_status::ok) return s;
    r.size = size;
    r.ids.clear();
    r.data = {};
    const char* p = b.data() + record_header_size;
    size_t len = size - record_header_size;
    switch (static_cast<record_type>(static_cast<uint8_t>(b[8]))) {
        case record_type::message: {
            if (len < 10) return parse_status::bad_payload;
            r.type = record_type::message;
            r.message_id = get_u64(p);
            uint16_t n = get_u16(p + 8);
            if (n == 0 || len < 10 + 8 * size_t{n}) return parse_status::bad_payload;
            r.ids.reserve(n);
            for (uint16_t i = 0; i < n; ++i) r.ids.push_back(get_u64(p + 10 + 8 * i));
            // A queue named twice (never written so, but a checksum cannot tell) holds the
            // message once: counted twice, one ack would leave it live for ever and it would
            // come back after every restart (found by fuzz/segment_recovery_fuzz.cc).
            drop_repeated_ids(r.ids);
            size_t off = 10 + 8 * size_t{n};
            r.data = std::string_view(p + off, len - off);
            return parse_status::ok;
        }
        case record_type::ack: {
            if (len < 12) return parse_status::bad_payload;
            r.type = record_type::ack;
            r.queue_id = get_u64(p);
            uint32_t n = get_u32(p + 8);
            if (len != 12 + 8 * size_t{n}) return parse_status::bad_payload;
            r.ids.reserve(n);
            for (uint32_t i = 0; i < n; ++i) r.ids.push_back(get_u64(p + 12 + 8 * size_t{i}));
            return parse_status::ok;
        }
        case record_type::queue_deleted: {
            if (len != 8) return parse_status::bad_payload;
            r.type = record_type::queue_deleted;
            r.queue_id = get_u64(p);
            return parse_status::ok;
        }
    }
    return parse_status::bad_type;
}

const char* to_string(parse_status s) {
    switch (s) {
        case parse_status::ok:
            return "ok";
        case parse_status::truncated:
            return "truncated record";
        case parse_status::bad_length:
            return "garbage length";
        case parse_status::bad_checksum:
            return "checksum mismatch";
        case parse_status::bad_type:
            return "unknown record type";
        case parse_status::bad_payload:
            return "malformed payload";
    }
    return "?";
}

}  // namespace warren::store::log_format
