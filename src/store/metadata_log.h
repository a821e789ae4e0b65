#pragma once
// The byte layout of the metadata log, <data_dir>/meta/topology.log (docs/storage.md has the
// same in prose): the durable topology is saved as appended change records, each fsync'd before
// the declare / bind it records is acknowledged, on top of the last snapshot (topology.json).
// Pure functions, no I/O; metadata_store (store/metadata_store.h) does the files.
//
//   header:  0  "WRNMLG"            magic, 6 bytes
//            6  u16 format_version  (1)
//            8  u64 generation      the snapshot this log continues (topology.json's
//                                   "log_generation"); a log of an older generation is stale
//           16  u32 reserved (0)
//           20  u32 masked crc32c of bytes [0, 20)
//
//   record:  0  u32 masked crc32c of bytes [4, 9 + length)  (length, type and payload)
//            4  u32 length of payload
//            8  u8  type
//            9  payload
//
// The record framing is the segment log's (store/log_format.h). Integers little-endian.
// Record types:
//   changes (1):  a JSON array of topology changes (store/topology.h encode_changes), applied
//                 in order; one record is one atomic batch.
//
// Reading (parse_metadata_log) is strict, because a topology that silently lost a queue is
// worse than a broker that does not start:
//   - a bad header (magic, checksum), a record of an unknown type or a payload that does not
//     decode: refuse (corruption / unsupported_version);
//   - a damaged record (short, bad length, bad checksum) after which no good record follows:
//     a torn tail (a crash mid-append; only one append is ever in flight): cut it;
//   - a damaged record followed by a good one: corruption in the middle: refuse.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/error.h"

namespace warren::store::metadata_log {

inline constexpr char magic[6] = {'W', 'R', 'N', 'M', 'L', 'G'};
inline constexpr uint16_t format_version = 1;
inline constexpr size_t header_size = 24;

enum class record_type : uint8_t {
    changes = 1,
};

std::string encode_header(uint64_t generation);
// Appends one record (framing + payload) to `out`.
void append_record(std::string& out, record_type t, std::string_view payload);

struct contents {
    uint64_t generation = 0;
    std::vector<std::string_view> payloads;  // change records, in order (views into the bytes)
    uint64_t good_bytes = 0;                 // header + every good record
    uint64_t torn_bytes = 0;                 // cut from the tail
};

// Parses a whole log file. Errors name what is wrong and where (byte offset).
result<contents> parse(std::string_view bytes);

}  // namespace warren::store::metadata_log
