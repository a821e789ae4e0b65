// Steady-state publish -> route -> enqueue -> deliver -> ack must not allocate (beyond the
// message itself, which this test creates up front and republishes). Counts every global
// operator new while a window is open.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "core/vhost.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<size_t> g_allocs{0};
}  // namespace

// g++ 12 with -O1 and ASan inlines these into gtest's `new TestClass` and reports free() on a
// pointer from operator new (-Wmismatched-new-delete): replacement functions are exactly that
// (GCC bug 103993).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
    if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
#pragma GCC diagnostic pop

namespace warren::core {
namespace {

// Acks right away when asked to, or keeps a window of unacked deliveries.
struct acking_consumer : consumer {
    bool can_accept() const override { return in_flight < window; }
    void deliver(delivery d) override {
        ++received;
        pending[in_flight++] = d.seq;
        q = d.q.get();
        if (in_flight == window) {
            for (size_t i = 0; i < in_flight; ++i) q->ack(pending[i]);
            in_flight = 0;
        }
    }
    void cancelled_by_broker() override {}
    size_t window = 8, in_flight = 0, received = 0;
    uint64_t pending[64] = {};
    queue* q = nullptr;
};

size_t allocations_during(const std::function<void()>& f) {
    g_allocs = 0;
    g_counting = true;
    f();
    g_counting = false;
    return g_allocs.load();
}

TEST(Allocation, SteadyStatePublishDeliverAckDoesNotAllocate) {
    vhost vh("/");
    queue_decl d1, d2;
    d1.name = "q1";
    d2.name = "q2";
    auto q1 = vh.declare_queue(d1, 1)->q;
    auto q2 = vh.declare_queue(d2, 1)->q;
    ASSERT_TRUE(vh.declare_exchange([] {
        exchange_decl x;
        x.name = "t";
        x.type = "topic";
        return x;
    }()));
    ASSERT_TRUE(vh.bind_queue("q1", "t", "a.*.c", {}, 1));
    ASSERT_TRUE(vh.bind_queue("q2", "t", "a.#", {}, 1));
    ASSERT_TRUE(vh.bind_queue("q2", "amq.fanout", "", {}, 1));
    ASSERT_TRUE(vh.bind_exchange("t", "amq.fanout", "", {}));
    acking_consumer c1, c2;
    ASSERT_TRUE(q1->add_consumer(&c1));
    ASSERT_TRUE(q2->add_consumer(&c2));

    auto m = std::make_shared<message>();
    m->routing_key = "a.b.c";
    m->body = "payload";
    message_ptr msg = m;
    auto run = [&] {
        for (int i = 0; i < 20000; ++i) {
            auto r = vh.publish("amq.fanout", msg);  // fanout -> q2, t -> q1, q2 (once)
            if (!r || *r != 2) std::abort();
            vh.publish("", msg);  // default exchange: no queue "a.b.c"
        }
    };
    run();  // warm up: buffers reach their steady size
    EXPECT_EQ(allocations_during(run), 0u);
    EXPECT_EQ(c1.received, 40000u);
    EXPECT_EQ(c2.received, 40000u);
}

TEST(Allocation, BacklogThenDrainReusesBuffers) {
    vhost vh("/");
    queue_decl d;
    d.name = "q";
    auto q = vh.declare_queue(d, 1)->q;
    auto m = std::make_shared<message>();
    m->routing_key = "q";
    message_ptr msg = m;
    auto cycle = [&] {
        for (int i = 0; i < 1000; ++i) vh.publish("", msg);
        std::vector<uint64_t> none;
        for (int i = 0; i < 1000; ++i) {
            auto dl = q->get();
            q->ack(dl->seq);
        }
    };
    cycle();
    EXPECT_EQ(allocations_during(cycle), 0u);
}

}  // namespace
}  // namespace warren::core
