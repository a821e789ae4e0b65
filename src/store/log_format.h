#pragma once
// The byte layout of segment files (docs/storage.md has the same in prose). Pure functions,
// no I/O: encode a record into a buffer, parse one from bytes, check a segment header.
//
// Segment file: a 32-byte header, then records back to back (no padding, no blocks).
//
//   header:  0  "WRNSEG"            magic, 6 bytes
//            6  u16 format_version  (1)
//            8  u64 segment number  (also the file name)
//           16  u64 reserved (0)
//           24  u32 reserved (0)
//           28  u32 masked crc32c of bytes [0, 28)
//
//   record:  0  u32 masked crc32c of bytes [4, 9 + length)  (length, type and payload)
//            4  u32 length of payload
//            8  u8  type
//            9  payload
//
// Payloads (all integers little-endian):
//   message (1):        u64 message_id, u16 n, n x u64 queue_id, then the caller's bytes
//                       (a queue id repeated in the list is read once)
//   ack (2):            u64 queue_id, u32 n, n x u64 message_id
//   queue_deleted (3):  u64 queue_id   (every message of that queue before it is dead)

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace warren::store::log_format {

inline constexpr char magic[6] = {'W', 'R', 'N', 'S', 'E', 'G'};
inline constexpr uint16_t format_version = 1;
inline constexpr size_t header_size = 32;
inline constexpr size_t record_header_size = 9;
// Upper bound on a record's payload; a larger length field is garbage, not a record.
inline constexpr uint32_t max_payload = 1u << 30;

enum class record_type : uint8_t {
    message = 1,
    ack = 2,
    queue_deleted = 3,
};

// ---- little-endian helpers ----
inline void put_u16(std::string& out, uint16_t v) {
    char b[2] = {static_cast<char>(v), static_cast<char>(v >> 8)};
    out.append(b, 2);
}
inline void put_u32(std::string& out, uint32_t v) {
    char b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
    out.append(b, 4);
}
inline void put_u64(std::string& out, uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
    out.append(b, 8);
}
inline uint16_t get_u16(const char* p) {
    return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) | (static_cast<uint8_t>(p[1]) << 8));
}
inline uint32_t get_u32(const char* p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
    return v;
}
inline uint64_t get_u64(const char* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
    return v;
}

// ---- segment header ----
std::string encode_header(uint64_t segment);
enum class header_status { ok, too_short, bad_magic, bad_checksum, unknown_version };
struct header_info {
    header_status status = header_status::ok;
    uint16_t version = 0;
    uint64_t segment = 0;
};
header_info parse_header(std::string_view bytes);

// ---- records ----
// Size on disk of each record kind.
inline size_t message_record_size(size_t queues, size_t data) {
    return record_header_size + 8 + 2 + 8 * queues + data;
}
inline size_t ack_record_size(size_t ids) {
    return record_header_size + 8 + 4 + 8 * ids;
}
inline constexpr size_t queue_deleted_record_size = record_header_size + 8;

// Append one record to `out`.
void append_message(std::string& out, uint64_t message_id, std::span<const uint64_t> queues,
                    std::string_view data);
// The same record in two steps, for callers that write the data in place: begin writes the
// record header and ids (data_len must be exactly what is appended next), finish fills in the
// checksum once the data is there.
size_t begin_message(std::string& out, uint64_t message_id, std::span<const uint64_t> queues,
                     size_t data_len);
void finish_record(std::string& out, size_t begin_offset);
void append_ack(std::string& out, uint64_t queue_id, std::span<const uint64_t> message_ids);
void append_queue_deleted(std::string& out, uint64_t queue_id);

enum class parse_status {
    ok,
    truncated,     // fewer bytes left than the record header or the length says
    bad_length,    // length field beyond max_payload
    bad_checksum,  // checksum mismatch
    bad_type,      // checksum fine but unknown type (written by a newer version?)
    bad_payload,   // checksum fine but the payload does not parse
};

// A parsed record; views point into the bytes handed to parse_record.
struct record {
    record_type type{};
    uint32_t size = 0;          // whole record, header included
    uint64_t message_id = 0;    // message
    uint64_t queue_id = 0;      // ack, queue_deleted
    std::vector<uint64_t> ids;  // message: queue ids; ack: message ids
    std::string_view data;      // message: the caller's bytes
};

// Parses the record at the start of `bytes` (which may continue past it).
parse_status parse_record(std::string_view bytes, record& out);

// Only checks the framing (length and checksum) of the record at the start of `bytes`; on ok
// sets `size`. Cheaper than parse_record; used when searching for the next good record.
parse_status check_record(std::string_view bytes, uint32_t& size);

const char* to_string(parse_status s);

}  // namespace warren::store::log_format
