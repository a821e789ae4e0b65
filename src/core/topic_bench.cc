// Topic routing with 100,000 bindings: the trie alone, and a full vhost publish through
// amq.topic into a queue drained by a no-ack consumer (the steady-state hot path).

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/test_consumer.h"
#include "core/topic.h"
#include "core/vhost.h"

namespace warren::core {
namespace {

constexpr int k_bindings = 100000;

std::string pattern(int i) {
    return "region" + std::to_string(i % 100) + ".service" + std::to_string(i) +
           (i % 3 == 0   ? ".*"
            : i % 3 == 1 ? ".#"
                         : ".event");
}

std::vector<std::string> keys() {
    std::vector<std::string> out;
    for (int i = 0; i < 1024; ++i) {
        int s = (i * 7919) % k_bindings;
        out.push_back("region" + std::to_string(s % 100) + ".service" + std::to_string(s) +
                      ".event");
    }
    return out;
}

void BM_TopicTrieMatch(benchmark::State& state) {
    topic_trie t;
    for (int i = 0; i < k_bindings; ++i)
        t.add(pattern(i), binding_dest{reinterpret_cast<queue*>(0x1000 + 16 * i), nullptr});
    t.add("#.event", binding_dest{reinterpret_cast<queue*>(0x10), nullptr});
    auto ks = keys();
    route_result r;
    size_t i = 0;
    for (auto _ : state) {
        r.clear();
        t.match(ks[i++ & 1023], r);
        benchmark::DoNotOptimize(r.queues.data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TopicTrieMatch);

// The same key again and again: the trie's own cost with a hot cache.
void BM_TopicTrieMatchHot(benchmark::State& state) {
    topic_trie t;
    for (int i = 0; i < k_bindings; ++i)
        t.add(pattern(i), binding_dest{reinterpret_cast<queue*>(0x1000 + 16 * i), nullptr});
    t.add("#.event", binding_dest{reinterpret_cast<queue*>(0x10), nullptr});
    route_result r;
    for (auto _ : state) {
        r.clear();
        t.match("region42.service4242.event", r);
        benchmark::DoNotOptimize(r.queues.data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TopicTrieMatchHot);

void BM_TopicTrieMiss(benchmark::State& state) {
    topic_trie t;
    for (int i = 0; i < k_bindings; ++i)
        t.add(pattern(i), binding_dest{reinterpret_cast<queue*>(0x1000 + 16 * i), nullptr});
    route_result r;
    for (auto _ : state) {
        r.clear();
        t.match("nowhere.to.be.found", r);
        benchmark::DoNotOptimize(r.queues.data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TopicTrieMiss);

// Full publish: 100k queues each bound with its own pattern; every message reaches one queue
// (plus none for "#.event", which is left out here) whose no-ack consumer takes it at once.
void BM_VhostPublishTopic100k(benchmark::State& state) {
    vhost vh("/");
    std::vector<testing::test_consumer> consumers(k_bindings);
    for (int i = 0; i < k_bindings; ++i) {
        queue_decl d;
        d.name = "q" + std::to_string(i);
        auto q = vh.declare_queue(d, 1)->q;
        vh.bind_queue(d.name, "amq.topic", pattern(i), {}, 1);
        consumers[i].no_ack = true;
        consumers[i].on_deliver = [](delivery&) {};
        q->add_consumer(&consumers[i]);
    }
    auto ks = keys();
    std::vector<message_ptr> msgs;
    for (auto& k : ks) {
        auto m = std::make_shared<message>();
        m->routing_key = k;
        m->body = "payload";
        msgs.push_back(m);
    }
    size_t i = 0;
    for (auto _ : state) {
        auto r = vh.publish("amq.topic", msgs[i++ & 1023]);
        benchmark::DoNotOptimize(r);
        // The test consumer records deliveries; keep memory flat.
        if ((i & 1023) == 0)
            for (auto& c : consumers) c.got.clear();
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VhostPublishTopic100k);

}  // namespace
}  // namespace warren::core

BENCHMARK_MAIN();
