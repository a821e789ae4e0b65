// Fuzz target: message-store recovery (store::segment_log::open) from arbitrary segment files,
// then reading back what it recovered, as the broker does at start. The data directory is in
// memory (mem_env.h). The input is one or more segment files separated by "WRNSPLIT". The first
// input byte chooses how each is built:
//   bit 0 clear: the bytes are the whole file (header and checksums included), which mostly
//                exercises the header, checksum and torn-tail handling;
//   bit 0 set:   the bytes are records that the target frames with valid checksums behind a
//                valid header: (u8 type, u16 length, payload)..., and a type of 0xff makes the
//                rest of the file raw bytes (a torn or corrupt tail); this reaches the record
//                payload parsing and the liveness bookkeeping.
// Checked beyond "no crash": every recovered message can be read and its stored form decodes
// or is reported corrupt; after appending a message and acking one recovered message, a second
// recovery of the same files succeeds and finds exactly the expected live (queue, message) set.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/log.h"
#include "core/properties_codec.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/mem_env.h"
#include "store/log_format.h"
#include "store/message_codec.h"
#include "store/segment_log.h"

using namespace warren;
namespace lf = store::log_format;

namespace {

const std::string dir = "/data/msgs";

std::string segment_path(uint64_t n) {
    char name[32];
    std::snprintf(name, sizeof name, "%020llu.seg", static_cast<unsigned long long>(n));
    return dir + "/" + name;
}

std::string framed_segment(uint64_t n, std::string_view part) {
    std::string out = lf::encode_header(n);
    fuzz::input in(reinterpret_cast<const uint8_t*>(part.data()), part.size());
    while (!in.empty()) {
        uint8_t type = in.byte();
        if (type == 0xff) {
            out.append(in.rest());
            break;
        }
        uint16_t len = uint16_t(in.byte() | (in.byte() << 8));
        std::string_view payload = in.take(len);
        size_t at = out.size();
        lf::put_u32(out, 0);
        lf::put_u32(out, uint32_t(payload.size()));
        out.push_back(char(type));
        out.append(payload);
        lf::finish_record(out, at);
    }
    return out;
}

store::segment_log_options options() {
    store::segment_log_options o;
    o.background_flush = false;
    o.segment_size = 1 << 16;
    o.compact_live_ratio = 0.5;
    return o;
}

using live_set = std::set<std::pair<uint64_t, uint64_t>>;  // (queue, message)

live_set live_of(const store::recovery_result& r) {
    live_set s;
    for (auto& [q, msgs] : r.queues)
        for (auto& m : msgs) s.emplace(q, m.message_id);
    return s;
}

}  // namespace

// Recovery logs a warning for each thing it repairs or skips: one input can make thousands,
// which would cost more than the recovery itself.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    log::init(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::input in(data, size);
    bool framed = in.byte() & 1;
    fuzz::mem_env env;
    uint64_t n = 1;
    fuzz::split(in.rest(), "WRNSPLIT", 4, [&](std::string_view part) {
        env.put(segment_path(n), framed ? framed_segment(n, part) : std::string(part));
        ++n;
    });

    live_set expected;
    std::string first_summary;
    {
        store::recovery_result rec;
        auto log = store::segment_log::open(&env, dir, options(), &rec);
        if (!log) return 0;  // refused (e.g. a newer format): reported, not crashed
        first_summary = rec.stats.summary();
        expected = live_of(rec);
        for (auto& [q, msgs] : rec.queues) {
            for (auto& m : msgs) {
                FUZZ_CHECK(m.message_id <= rec.max_message_id);
                auto bytes = (*log)->read_message(m.message_id);
                if (!bytes) continue;  // a read error is reported, never served
                auto fields = store::decode_message(*bytes);
                if (fields) (void)core::decode_properties(fields->properties);
            }
        }
        // Work on top of what was recovered: ack the first live message, append one more.
        if (!expected.empty()) {
            auto [q, m] = *expected.begin();
            uint64_t ids[] = {m};
            if ((*log)->ack(q, ids)) expected.erase(expected.begin());
        }
        uint64_t queues[] = {7};
        std::string body =
            store::encode_message({"ex", "rk", std::string_view("\x00\x00", 2), "body", 1});
        if ((*log)->append_message(rec.max_message_id + 1, queues, body))
            expected.emplace(7, rec.max_message_id + 1);
        FUZZ_CHECK((*log)->flush());
        (void)(*log)->compact();
        FUZZ_CHECK((*log)->flush());
    }
    store::recovery_result again;
    auto log = store::segment_log::open(&env, dir, options(), &again);
    FUZZ_CHECK(log);
    if (live_of(again) != expected) {
        for (auto& [q, m] : expected)
            std::fprintf(stderr, "expected (%llu, %llu)\n", (unsigned long long)q,
                         (unsigned long long)m);
        for (auto& [q, m] : live_of(again))
            std::fprintf(stderr, "found (%llu, %llu)\n", (unsigned long long)q,
                         (unsigned long long)m);
        std::fprintf(stderr, "first: %s\nagain: %s\n", first_summary.c_str(),
                     again.stats.summary().c_str());
    }
    FUZZ_CHECK(live_of(again) == expected);
    return 0;
}
