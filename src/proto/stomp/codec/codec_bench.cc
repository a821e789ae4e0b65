// STOMP codec throughput: parsing a buffer of many SEND frames (as one large socket read) and
// encoding MESSAGE frames into one batch buffer.

#include <benchmark/benchmark.h>

#include <string>

#include "proto/stomp/codec/parser.h"
#include "proto/stomp/codec/writer.h"

namespace warren::stomp {
namespace {

std::string send_frames(size_t count, size_t body_size, bool content_length) {
    std::string body(body_size, 'x');
    frame f{command::send};
    f.add("destination", "/queue/bench").add("content-type", "text/plain");
    f.add("persistent", "true");
    if (content_length) f.add("content-length", std::to_string(body_size));
    f.body = body;
    std::string one = encode(f, version::v1_2);
    std::string all;
    all.reserve(one.size() * count);
    for (size_t i = 0; i < count; ++i) all += one;
    return all;
}

void BM_ParseSend(benchmark::State& st) {
    const size_t n = 1000;
    std::string input = send_frames(n, static_cast<size_t>(st.range(0)), st.range(1) != 0);
    for (auto _ : st) {
        parser p;
        p.set_version(version::v1_2);
        std::string_view data = input;
        size_t frames = 0;
        while (!data.empty()) {
            auto r = p.parse(data);
            data.remove_prefix(r.consumed);
            if (r.status != parse_status::frame_ready) break;
            frame f = p.take_frame();
            benchmark::DoNotOptimize(f);
            ++frames;
        }
        if (frames != n) st.SkipWithError("short parse");
    }
    st.SetItemsProcessed(static_cast<int64_t>(st.iterations() * n));
    st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * input.size()));
}
BENCHMARK(BM_ParseSend)->Args({16, 0})->Args({16, 1})->Args({1024, 1})->Args({65536, 1});

void BM_WriteMessage(benchmark::State& st) {
    std::string body(static_cast<size_t>(st.range(0)), 'y');
    std::string out;
    for (auto _ : st) {
        out.clear();
        writer w(out, version::v1_2);
        for (int i = 0; i < 100; ++i) {
            w.begin(command::message)
                .header("subscription", "sub-1")
                .header("destination", "/queue/bench")
                .header("message-id", "T_sub-1@@session-1@@12345")
                .header("redelivered", "false")
                .header("content-type", "text/plain")
                .header("content-length", std::to_string(body.size()));
            w.end(body);
        }
        benchmark::DoNotOptimize(out.data());
    }
    st.SetItemsProcessed(static_cast<int64_t>(st.iterations() * 100));
}
BENCHMARK(BM_WriteMessage)->Arg(16)->Arg(1024);

}  // namespace
}  // namespace warren::stomp

BENCHMARK_MAIN();
