// Hot-path micro-benchmarks: parsing a batch of publish frames, decoding basic.publish into
// views, and building deliveries.

#include <benchmark/benchmark.h>

#include <algorithm>

#include "proto/amqp091/codec/content.h"
#include "proto/amqp091/codec/frame.h"
#include "proto/amqp091/codec/methods.h"

namespace warren::amqp {
namespace {

std::string props_raw() {
    core::basic_properties p;
    p.content_type = "application/octet-stream";
    p.delivery_mode = 2;
    std::string raw;
    encode_properties(raw, p);
    return raw;
}

// A socket read's worth of publishes: method + header + body frames, `n` messages.
std::string publish_batch(int n, size_t body_size) {
    std::string raw = props_raw(), out, body(body_size, 'x');
    for (int i = 0; i < n; ++i) {
        append_method_frame(out, 1, basic_publish{0, "amq.direct", "perf.key", false, false});
        append_content_header_frame(out, 1, body.size(), raw);
        append_body_frames(out, 1, body, 131072);
    }
    return out;
}

void BM_ParseFramesAndDecodePublish(benchmark::State& state) {
    const int n = 256;
    std::string batch = publish_batch(n, static_cast<size_t>(state.range(0)));
    for (auto _ : state) {
        std::string_view buf = batch;
        size_t publishes = 0;
        for (;;) {
            auto r = parse_frame(buf, 131072);
            if (r.k != parse_result::ok) break;
            if (r.frame.type == frame_type::method) {
                publish_view v;
                publishes += decode_publish(r.frame.payload, v);
                benchmark::DoNotOptimize(v);
            } else if (r.frame.type == frame_type::header) {
                auto h = decode_content_header(r.frame.payload, false);
                benchmark::DoNotOptimize(h);
            }
            buf.remove_prefix(r.consumed);
        }
        benchmark::DoNotOptimize(publishes);
    }
    state.SetItemsProcessed(state.iterations() * n);
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * batch.size()));
}
BENCHMARK(BM_ParseFramesAndDecodePublish)->Arg(16)->Arg(1024)->Arg(65536);

void BM_AppendDeliver(benchmark::State& state) {
    std::string raw = props_raw(), body(static_cast<size_t>(state.range(0)), 'x'), out;
    // A batch of up to 256 deliveries, capped at ~16 MiB so large bodies measure copying, not
    // page faults.
    const int n = static_cast<int>(std::clamp<size_t>((16u << 20) / (body.size() + 128), 1, 256));
    uint64_t tag = 0;
    for (auto _ : state) {
        out.clear();  // keeps capacity: the steady state of a connection's write buffer
        for (int i = 0; i < n; ++i)
            append_deliver(out, 1, "amq.ctag-abcdefghijklmnop", ++tag, false, "amq.direct",
                           "perf.key", raw, body, 131072);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations() * n);
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_AppendDeliver)->Arg(16)->Arg(1024)->Arg(65536)->Arg(1 << 20);

void BM_DecodeMethodGeneric(benchmark::State& state) {
    std::string wire;
    encode_method(wire, basic_publish{0, "amq.direct", "perf.key", false, false});
    for (auto _ : state) {
        auto m = decode_method(wire);
        benchmark::DoNotOptimize(m);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeMethodGeneric);

}  // namespace
}  // namespace warren::amqp

BENCHMARK_MAIN();
