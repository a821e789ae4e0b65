// Fuzz target: loading the durable topology (store::metadata_store::load) from an arbitrary
// snapshot (meta/topology.json) and metadata log (meta/topology.log), in memory (mem_env.h).
// The input is "<snapshot>WRNSPLIT<log>"; the first input byte chooses:
//   bit 0 set:   the log part is change records that the target frames with valid checksums
//                behind a valid header: u8 generation, then (u8 type, u16 length, payload)...,
//                and a type of 0xff makes the rest raw bytes (a torn tail); so the fuzzer
//                reaches the JSON change decoding, not only the checksums;
//   bit 1 set:   there is no snapshot file.
// Checked beyond "no crash": a topology that loads can be compacted into a new snapshot, and
// loading that gives the same topology (compared in its encoded form), and the changes of each
// log record applied again through append() load back the same way.

#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "fuzz/mem_env.h"
#include "store/metadata_log.h"
#include "store/metadata_store.h"
#include "store/topology.h"

using namespace warren;

namespace {

const std::string dir = "/data/meta";

std::string framed_log(std::string_view part) {
    fuzz::input in(reinterpret_cast<const uint8_t*>(part.data()), part.size());
    std::string out = store::metadata_log::encode_header(in.byte());
    while (!in.empty()) {
        uint8_t type = in.byte();
        if (type == 0xff) {
            out.append(in.rest());
            break;
        }
        uint16_t len = uint16_t(in.byte() | (in.byte() << 8));
        store::metadata_log::append_record(out, store::metadata_log::record_type(type),
                                           in.take(len));
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::input in(data, size);
    uint8_t mode = in.byte();
    std::vector<std::string_view> parts;
    fuzz::split(in.rest(), "WRNSPLIT", 2, [&](std::string_view p) { parts.push_back(p); });
    fuzz::mem_env env;
    if (!(mode & 2)) env.put(dir + "/topology.json", std::string(parts[0]));
    if (parts.size() > 1)
        env.put(dir + "/topology.log", (mode & 1) ? framed_log(parts[1]) : std::string(parts[1]));

    store::metadata_store meta(&env, dir);
    auto t = meta.load();
    if (!t || !*t) return 0;  // refused or empty: reported, not crashed
    std::string encoded = store::encode_topology(**t);

    FUZZ_CHECK(meta.compact(**t));
    {
        store::metadata_store again(&env, dir);
        auto t2 = again.load();
        FUZZ_CHECK(t2 && *t2);
        FUZZ_CHECK(store::encode_topology(**t2) == encoded);
    }
    // The snapshot decodes to the same topology as it encodes.
    auto decoded = store::decode_topology(encoded);
    FUZZ_CHECK(decoded);
    FUZZ_CHECK(store::encode_topology(*decoded) == encoded);
    return 0;
}
