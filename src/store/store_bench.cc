// Benchmarks of the segment log's append path (and reads). Run:
//   build/src/store/warren_store_bench [--benchmark_filter=...]
// Uses a temporary directory under $TMPDIR (default /tmp), removed afterwards.
//
//  - BM_append_buffered: encode + buffer only (flush every 4 MiB, no fsync cost per message)
//  - BM_append_group_commit: background flusher with real fdatasync; measures appends/s and
//    reports fsyncs per 1000 appends
//  - BM_append_wait_each: the worst case, waiting for durability after every append
//  - BM_read: pread of a 1 KiB message by position

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "store/segment_log.h"

using namespace warren::store;

namespace {

struct bench_dir {
    bench_dir() {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "warren-store-bench-XXXXXX").string();
        path = ::mkdtemp(tmpl.data());
    }
    ~bench_dir() { std::filesystem::remove_all(path); }
    std::string path;
};

std::unique_ptr<segment_log> open_log(const std::string& dir, bool background) {
    segment_log_options o;
    o.background_flush = background;
    auto r = segment_log::open(posix_env(), dir, o, nullptr);
    if (!r) std::abort();
    return std::move(*r);
}

void BM_append_buffered(benchmark::State& state) {
    bench_dir d;
    auto log = open_log(d.path, false);
    std::string body(static_cast<size_t>(state.range(0)), 'x');
    uint64_t queue = 1, id = 0;
    for (auto _ : state) {
        auto a = log->append_message(++id, std::span<const uint64_t>(&queue, 1), body);
        benchmark::DoNotOptimize(a);
        if (log->stats().pending_bytes > (4u << 20)) (void)log->flush();
    }
    (void)log->flush();
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_append_buffered)->Arg(64)->Arg(1024)->Arg(16384);

void BM_append_group_commit(benchmark::State& state) {
    bench_dir d;
    auto log = open_log(d.path, true);
    std::string body(static_cast<size_t>(state.range(0)), 'x');
    uint64_t queue = 1, id = 0;
    for (auto _ : state) {
        auto a = log->append_message(++id, std::span<const uint64_t>(&queue, 1), body);
        benchmark::DoNotOptimize(a);
    }
    (void)log->flush();
    auto c = log->stats();
    state.counters["fsyncs_per_1k"] =
        1000.0 * static_cast<double>(c.fsyncs) / static_cast<double>(state.iterations());
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_append_group_commit)->Arg(64)->Arg(1024)->UseRealTime();

void BM_append_wait_each(benchmark::State& state) {
    bench_dir d;
    auto log = open_log(d.path, true);
    std::string body(1024, 'x');
    uint64_t queue = 1, id = 0;
    for (auto _ : state) {
        auto a = log->append_message(++id, std::span<const uint64_t>(&queue, 1), body);
        benchmark::DoNotOptimize(a);
        (void)log->flush();
    }
}
BENCHMARK(BM_append_wait_each)->UseRealTime();

void BM_read(benchmark::State& state) {
    bench_dir d;
    auto log = open_log(d.path, false);
    std::string body(1024, 'x');
    uint64_t queue = 1;
    std::vector<position> pos;
    for (uint64_t id = 1; id <= 10000; ++id)
        pos.push_back(log->append_message(id, std::span<const uint64_t>(&queue, 1), body)->pos);
    (void)log->flush();
    size_t i = 0;
    for (auto _ : state) {
        auto r = log->read(pos[i++ % pos.size()]);
        benchmark::DoNotOptimize(r);
    }
}
BENCHMARK(BM_read);

}  // namespace

BENCHMARK_MAIN();
