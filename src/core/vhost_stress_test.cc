// Random sequences of declare / bind / unbind / delete / publish / consume / ack / requeue /
// connection close against one vhost, checking after every step that bindings are consistent
// in both directions and that every queue accounts for each message it was given. Meant to be
// run under ASan/UBSan too (dangling queue or exchange pointers would show up there).

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>

#include "core/test_consumer.h"
#include "core/vhost.h"

namespace warren::core {
namespace {

using testing::test_consumer;

struct stress_consumer : test_consumer {
    queue_ptr q;
    void cancelled_by_broker() override {
        ++cancelled;
        q.reset();
    }
};

void check_invariants(vhost& vh) {
    for (auto& [xname, x] : vh.exchanges()) {
        for (auto& b : x->bindings()) {
            if (b.dest.q) {
                auto q = vh.find_queue(b.dest.q->name());
                ASSERT_EQ(q.get(), b.dest.q) << "binding from '" << xname << "' to a dead queue";
                auto& in = q->inbound_bindings();
                ASSERT_TRUE(std::any_of(in.begin(), in.end(), [&](const inbound_binding& r) {
                    return r.source == xname && r.key == b.key && args_equal(r.args, b.args);
                }));
            } else {
                ASSERT_EQ(vh.find_exchange(b.dest.x->name()), b.dest.x);
                auto& in = b.dest.x->inbound_bindings();
                ASSERT_TRUE(std::any_of(in.begin(), in.end(), [&](const inbound_binding& r) {
                    return r.source == xname && r.key == b.key;
                }));
            }
        }
        for (auto& r : x->inbound_bindings()) {
            exchange* src = vh.find_exchange(r.source);
            ASSERT_NE(src, nullptr);
            ASSERT_TRUE(src->has_binding(binding_dest{nullptr, x.get()}, r.key, r.args));
        }
    }
    for (auto& [qname, q] : vh.queues()) {
        ASSERT_FALSE(q->deleted());
        for (auto& r : q->inbound_bindings()) {
            exchange* src = vh.find_exchange(r.source);
            ASSERT_NE(src, nullptr) << "queue '" << qname << "' bound from missing " << r.source;
            ASSERT_TRUE(src->has_binding(binding_dest{q.get(), nullptr}, r.key, r.args));
        }
        auto& s = q->stats();
        ASSERT_EQ(s.published,
                  q->message_count() + q->unacked_count() + s.acked + s.discarded + s.purged);
    }
}

TEST(VhostStress, RandomOperationsKeepInvariants) {
    std::mt19937 rng(12345);
    vhost vh("/");
    const char* xnames[] = {"x0", "x1", "x2", "x3", "amq.topic", "amq.fanout", "amq.match"};
    const char* xtypes[] = {"direct", "fanout", "topic", "headers"};
    const char* qnames[] = {"q0", "q1", "q2", "q3", "q4", "q5"};
    const char* keys[] = {"a", "b", "a.b", "a.*", "#", "a.#", ""};
    std::vector<std::unique_ptr<stress_consumer>> consumers;
    for (int i = 0; i < 12; ++i) {
        consumers.push_back(std::make_unique<stress_consumer>());
        consumers.back()->tag = "c" + std::to_string(i);
    }
    auto pick = [&](auto& arr) -> decltype(auto) { return arr[rng() % std::size(arr)]; };
    auto args = [&]() {
        field_table t;
        if (rng() % 3 == 0) t.emplace_back("h", field_value{std::string(pick(keys))});
        if (rng() % 4 == 0) t.emplace_back("x-match", field_value{std::string("any")});
        return t;
    };

    for (int step = 0; step < 30000; ++step) {
        uint64_t conn = 1 + rng() % 3;
        switch (rng() % 16) {
            case 0: {
                exchange_decl d;
                d.name = pick(xnames);
                d.type = pick(xtypes);
                d.auto_delete = rng() % 2;
                vh.declare_exchange(d);
                break;
            }
            case 1:
                vh.delete_exchange(pick(xnames), rng() % 2);
                break;
            case 2: {
                queue_decl d;
                d.name = pick(qnames);
                d.exclusive = rng() % 4 == 0;
                d.auto_delete = rng() % 3 == 0;
                vh.declare_queue(d, conn);
                break;
            }
            case 3:
                vh.delete_queue(pick(qnames), rng() % 2, rng() % 2, conn);
                break;
            case 4:
            case 5:
                vh.bind_queue(pick(qnames), pick(xnames), pick(keys), args(), conn);
                break;
            case 6:
                vh.unbind_queue(pick(qnames), pick(xnames), pick(keys), args(), conn);
                break;
            case 7:
                vh.bind_exchange(pick(xnames), pick(xnames), pick(keys), args());
                break;
            case 8:
                vh.unbind_exchange(pick(xnames), pick(xnames), pick(keys), args());
                break;
            case 9:
            case 10:
            case 11: {
                auto m = std::make_shared<message>();
                m->routing_key = pick(keys);
                m->body = "m" + std::to_string(step);
                if (rng() % 2) m->props.headers = args();
                const char* x = rng() % 4 == 0 ? "" : pick(xnames);
                if (x[0] == '\0') m->routing_key = pick(qnames);
                vh.publish(x, m);
                break;
            }
            case 12: {  // consume / cancel
                auto& c = *consumers[rng() % consumers.size()];
                if (c.q) {
                    c.q->remove_consumer(&c);
                    c.q.reset();
                } else if (auto q = vh.queue_for(pick(qnames), conn)) {
                    c.connection_id = conn;
                    c.exclusive = rng() % 5 == 0;
                    c.priority = static_cast<int>(rng() % 3);
                    c.no_ack = rng() % 4 == 0;
                    c.credit = static_cast<int>(rng() % 5);
                    if ((*q)->add_consumer(&c)) {
                        c.q = *q;
                        c.q->dispatch();
                    }
                }
                break;
            }
            case 13: {  // settle some deliveries: ack, discard or requeue
                auto& c = *consumers[rng() % consumers.size()];
                std::vector<delivery> keep;
                std::vector<std::pair<queue_ptr, uint64_t>> back;
                for (auto& d : c.got) {
                    switch (rng() % 4) {
                        case 0:
                            d.q->ack(d.seq);
                            break;
                        case 1:
                            d.q->discard(d.seq);
                            break;
                        case 2:
                            back.emplace_back(d.q, d.seq);
                            break;
                        default:
                            keep.push_back(d);
                    }
                }
                c.got = std::move(keep);
                for (auto& [q, seq] : back) q->requeue({seq});
                c.credit = std::min(c.credit, 1000) + static_cast<int>(rng() % 4);
                if (c.q) c.q->dispatch();
                break;
            }
            case 14:
                if (auto q = vh.queue_for(pick(qnames), conn)) {
                    if (rng() % 2) {
                        if (auto d = (*q)->get(rng() % 2)) {
                            if (rng() % 2)
                                (*q)->ack(d->seq);
                            else
                                (*q)->requeue({d->seq});
                        }
                    } else {
                        vh.purge_queue((*q)->name(), conn);
                    }
                }
                break;
            case 15:
                if (rng() % 8 == 0) {
                    // The connection goes: its consumers go first, then its exclusive queues.
                    for (auto& c : consumers) {
                        if (c->q && c->connection_id == conn) {
                            c->q->remove_consumer(c.get());
                            c->q.reset();
                        }
                    }
                    vh.connection_closed(conn);
                }
                break;
        }
        if (step % 10 == 0) check_invariants(vh);  // O(bindings^2): not every step
        if (HasFatalFailure()) {
            ADD_FAILURE() << "at step " << step;
            return;
        }
    }
    check_invariants(vh);
    for (auto& c : consumers)
        if (c->q) c->q->remove_consumer(c.get());
}

}  // namespace
}  // namespace warren::core
