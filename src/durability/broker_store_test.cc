// broker_store: the broker's topology and messages through a close and reopen of the data dir
// (the interop tests in tests/interop/durability do the same through real clients, restarts
// and kill -9).

#include "durability/broker_store.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "base/test_time.h"
#include "core/test_consumer.h"
#include "core/vhost.h"
#include "store/test_util.h"

namespace warren::durability {
namespace {

using core::testing::make_msg;

std::shared_ptr<core::message> persistent(std::string body, std::string key = "") {
    auto m = std::make_shared<core::message>();
    m->body = std::move(body);
    m->routing_key = std::move(key);
    m->props.delivery_mode = 2;
    return m;
}

struct instance {
    boost::asio::io_context io;
    core::broker broker;
    std::unique_ptr<broker_store> d;
    instance(const std::string& dir, uint64_t limit = 16u << 20) {
        auto r = broker_store::open(io, broker, {.dir = dir, .queue_memory_limit = limit});
        if (!r)
            ADD_FAILURE() << r.error();
        else
            d = std::move(*r);
    }
    ~instance() {
        io.poll();  // batched acks
        if (d) d->detach();
    }
    core::vhost& vh() { return *broker.find_vhost("/"); }
};

TEST(durability, topology_survives_reopen_and_only_durable_things) {
    store::testing::temp_dir dir;
    {
        instance a(dir.path());
        auto& vh = a.vh();
        ASSERT_TRUE(vh.declare_exchange({.name = "dx", .type = "topic", .durable = true}));
        ASSERT_TRUE(vh.declare_exchange({.name = "tx", .type = "fanout"}));
        core::field_table args;
        core::set(args, "x-max-length", core::field_value{int64_t{5}});
        ASSERT_TRUE(vh.declare_queue({.name = "dq", .durable = true, .args = args}, 1));
        ASSERT_TRUE(vh.declare_queue({.name = "tq"}, 1));
        ASSERT_TRUE(vh.declare_queue({.name = "xq", .durable = true, .exclusive = true}, 1));
        ASSERT_TRUE(vh.bind_queue("dq", "dx", "a.#", {}, 1));
        ASSERT_TRUE(vh.bind_queue("dq", "amq.direct", "k", {}, 1));
        ASSERT_TRUE(vh.bind_queue("tq", "dx", "b", {}, 1));
    }
    instance b(dir.path());
    auto& vh = b.vh();
    ASSERT_NE(vh.find_exchange("dx"), nullptr);
    EXPECT_EQ(vh.find_exchange("dx")->type_name(), "topic");
    EXPECT_EQ(vh.find_exchange("tx"), nullptr);
    ASSERT_NE(vh.find_queue("dq"), nullptr);
    EXPECT_EQ(vh.find_queue("dq")->features().max_length, 5u);
    EXPECT_EQ(vh.find_queue("tq"), nullptr);
    EXPECT_EQ(vh.find_queue("xq"), nullptr);
    auto n = vh.publish("dx", make_msg("x", "a.b"));
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 1u);
    n = vh.publish("amq.direct", make_msg("y", "k"));
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 1u);
}

TEST(durability, persistent_messages_come_back_redelivered_transient_do_not) {
    store::testing::temp_dir dir;
    {
        instance a(dir.path());
        auto& vh = a.vh();
        ASSERT_TRUE(vh.declare_queue({.name = "q", .durable = true}, 1));
        ASSERT_TRUE(vh.declare_queue({.name = "q2", .durable = true}, 1));
        ASSERT_TRUE(vh.bind_queue("q", "amq.fanout", "", {}, 1));
        ASSERT_TRUE(vh.bind_queue("q2", "amq.fanout", "", {}, 1));
        core::vhost::publish_info info;
        for (int i = 0; i < 5; ++i)
            ASSERT_TRUE(vh.publish("amq.fanout", persistent("p" + std::to_string(i)), &info));
        EXPECT_GT(info.store_seq, 0u);
        ASSERT_TRUE(vh.publish("amq.fanout", make_msg("transient")));
        // q: take p0 and ack it, take p1 and leave it unacked.
        auto q = vh.find_queue("q");
        auto d0 = q->get();
        ASSERT_TRUE(d0);
        q->ack(d0->seq);
        auto d1 = q->get();
        ASSERT_TRUE(d1);
        EXPECT_EQ(d1->msg->body, "p1");
    }
    instance b(dir.path());
    auto q = b.vh().find_queue("q");
    ASSERT_TRUE(q);
    std::vector<std::string> bodies;
    while (auto d = q->get(true)) {
        EXPECT_TRUE(d->redelivered);
        bodies.push_back(d->msg->body);
    }
    EXPECT_EQ(bodies, (std::vector<std::string>{"p1", "p2", "p3", "p4"}));
    auto q2 = b.vh().find_queue("q2");
    ASSERT_TRUE(q2);
    EXPECT_EQ(q2->message_count(), 5u);
}

TEST(durability, new_message_ids_continue_above_recovered_ones) {
    store::testing::temp_dir dir;
    {
        instance a(dir.path());
        ASSERT_TRUE(a.vh().declare_queue({.name = "q", .durable = true}, 1));
        ASSERT_TRUE(a.vh().publish("", persistent("old", "q")));
    }
    instance b(dir.path());
    ASSERT_TRUE(b.vh().publish("", persistent("new", "q")));
    auto q = b.vh().find_queue("q");
    auto d1 = q->get(true);
    auto d2 = q->get(true);
    ASSERT_TRUE(d1 && d2);
    EXPECT_EQ(d1->msg->body, "old");
    EXPECT_EQ(d2->msg->body, "new");
    EXPECT_GT(d2->msg->id, d1->msg->id);
}

TEST(durability, bodies_beyond_the_memory_limit_are_paged_out_and_read_back_in_order) {
    store::testing::temp_dir dir;
    // Room for about 10 messages of 1 KB (each also costs sizeof(message) + 64 in memory).
    const uint64_t limit = 10 * (1000 + sizeof(core::message) + 64);
    instance a(dir.path(), limit);
    auto& vh = a.vh();
    ASSERT_TRUE(vh.declare_queue({.name = "t"}, 1));  // transient queue: spills
    for (int i = 0; i < 200; ++i) {
        auto m = make_msg(std::string(1000, char('a' + i % 26)) + std::to_string(i), "t");
        ASSERT_TRUE(vh.publish("", m));
    }
    auto q = vh.find_queue("t");
    EXPECT_LE(q->memory_bytes(), limit);
    EXPECT_GE(q->paged_out(), 180u);
    for (int i = 0; i < 200; ++i) {
        auto d = q->get(true);
        ASSERT_TRUE(d);
        EXPECT_EQ(d->msg->body, std::string(1000, char('a' + i % 26)) + std::to_string(i));
    }
    EXPECT_EQ(q->paged_out(), 0u);
}

// Runs the loop until `done` or 10 s pass.
template <typename Pred>
bool run_until(boost::asio::io_context& io, Pred done) {
    const auto deadline = std::chrono::steady_clock::now() + test::scaled(std::chrono::seconds(10));
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        io.restart();
        io.run_for(std::chrono::milliseconds(5));
    }
    return done();
}

TEST(durability, a_consumer_of_a_paged_out_backlog_is_fed_by_reads_off_the_loop) {
    store::testing::temp_dir dir;
    const uint64_t limit = 10 * (1000 + sizeof(core::message) + 64);
    instance a(dir.path(), limit);
    auto& vh = a.vh();
    ASSERT_TRUE(vh.declare_queue({.name = "t"}, 1));
    const int n = 2000;
    auto body = [](int i) { return std::string(1000, char('a' + i % 26)) + std::to_string(i); };
    for (int i = 0; i < n; ++i) ASSERT_TRUE(vh.publish("", make_msg(body(i), "t")));
    auto q = vh.find_queue("t");
    ASSERT_GE(q->paged_out(), size_t(n - 10));
    core::testing::test_consumer c;
    ASSERT_TRUE(q->add_consumer(&c));
    q->dispatch();
    // What was in memory went out at once; the rest waits for the reader thread, not the loop.
    EXPECT_LE(c.got.size(), 10u);
    ASSERT_TRUE(run_until(a.io, [&] { return c.got.size() == size_t(n); })) << c.got.size();
    for (int i = 0; i < n; ++i) ASSERT_EQ(c.got[i].msg->body, body(i)) << i;
    EXPECT_EQ(q->paged_out(), 0u);
    EXPECT_EQ(q->message_count(), 0u);
}

TEST(durability, recovered_messages_reach_a_consumer_through_async_reads_and_expire_on_the_way) {
    store::testing::temp_dir dir;
    {
        instance a(dir.path());
        ASSERT_TRUE(a.vh().declare_queue({.name = "q", .durable = true}, 1));
        for (int i = 0; i < 300; ++i) {
            auto m = persistent("m" + std::to_string(i), "q");
            if (i % 10 == 0) m->props.expiration = "1";  // long gone when it is read back
            ASSERT_TRUE(a.vh().publish("", m));
        }
        a.io.poll();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    instance b(dir.path());
    auto q = b.vh().find_queue("q");
    ASSERT_TRUE(q);
    core::testing::test_consumer c;
    ASSERT_TRUE(q->add_consumer(&c));
    q->dispatch();
    ASSERT_TRUE(run_until(b.io, [&] { return c.got.size() == 270u; })) << c.got.size();
    std::vector<std::string> want;
    for (int i = 0; i < 300; ++i)
        if (i % 10 != 0) want.push_back("m" + std::to_string(i));
    EXPECT_EQ(c.bodies(), want);
    EXPECT_EQ(q->message_count(), 0u);
    EXPECT_EQ(q->stats().expired, 30u);
}

TEST(durability, deleted_and_purged_queues_do_not_come_back) {
    store::testing::temp_dir dir;
    {
        instance a(dir.path());
        auto& vh = a.vh();
        ASSERT_TRUE(vh.declare_queue({.name = "gone", .durable = true}, 1));
        ASSERT_TRUE(vh.declare_queue({.name = "purged", .durable = true}, 1));
        for (auto* name : {"gone", "purged"}) {
            ASSERT_TRUE(vh.publish("", persistent("m", name)));
        }
        ASSERT_TRUE(vh.delete_queue("gone", false, false, 1));
        ASSERT_TRUE(vh.purge_queue("purged", 1));
    }
    instance b(dir.path());
    EXPECT_EQ(b.vh().find_queue("gone"), nullptr);
    ASSERT_NE(b.vh().find_queue("purged"), nullptr);
    EXPECT_EQ(b.vh().find_queue("purged")->message_count(), 0u);
}

TEST(durability, a_corrupt_topology_refuses_to_start) {
    store::testing::temp_dir dir;
    {
        instance a(dir.path());
        ASSERT_TRUE(a.vh().declare_queue({.name = "q", .durable = true}, 1));
    }
    {
        std::ofstream f(dir.path() + "/meta/topology.json", std::ios::trunc);
        f << "{ not json";
    }
    boost::asio::io_context io;
    core::broker broker;
    auto r = broker_store::open(io, broker, {.dir = dir.path()});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("topology"), std::string::npos) << r.error();
}

TEST(durability, a_data_dir_written_before_the_metadata_log_recovers) {
    // meta/topology.json exactly as the previous Warren wrote it (no log_generation, no
    // topology.log next to it).
    store::testing::temp_dir dir;
    std::filesystem::create_directories(dir.path() + "/meta");
    {
        std::ofstream f(dir.path() + "/meta/topology.json", std::ios::trunc);
        f << R"({
  "format_version": 1,
  "next_queue_id": 7,
  "permissions": [],
  "users": [],
  "vhosts": [
    {
      "bindings": [
        {"arguments": [], "destination": "old.q", "destination_type": "queue",
         "routing_key": "a.*", "source": "old.x"}
      ],
      "exchanges": [
        {"arguments": [], "auto_delete": false, "internal": false, "name": "old.x",
         "type": "topic"}
      ],
      "name": "/",
      "policies": [],
      "queues": [
        {"arguments": [["x-max-length", {"type": "int64", "value": 5}]], "auto_delete": false,
         "id": 6, "name": "old.q"}
      ]
    }
  ]
}
)";
    }
    {
        instance a(dir.path());
        auto& vh = a.vh();
        ASSERT_NE(vh.find_queue("old.q"), nullptr);
        EXPECT_EQ(vh.find_queue("old.q")->store_id(), 6u);
        EXPECT_EQ(vh.find_queue("old.q")->features().max_length, 5u);
        auto n = vh.publish("old.x", persistent("m", "a.b"));
        ASSERT_TRUE(n);
        EXPECT_EQ(*n, 1u);
        ASSERT_TRUE(vh.declare_queue({.name = "new.q", .durable = true}, 1));
        EXPECT_GE(vh.find_queue("new.q")->store_id(), 7u);  // ids continue above the old ones
        EXPECT_TRUE(std::filesystem::exists(dir.path() + "/meta/topology.log"));
    }
    instance b(dir.path());
    ASSERT_NE(b.vh().find_queue("old.q"), nullptr);
    EXPECT_EQ(b.vh().find_queue("old.q")->message_count(), 1u);
    EXPECT_NE(b.vh().find_queue("new.q"), nullptr);
}

TEST(durability, declares_after_the_last_snapshot_survive_a_crash_through_the_log) {
    store::testing::temp_dir dir;
    const std::string meta = dir.path() + "/meta";
    std::string snapshot, log;
    {
        instance a(dir.path());  // open() wrote a snapshot of the empty broker
        auto& vh = a.vh();
        ASSERT_TRUE(vh.declare_exchange({.name = "x", .type = "direct", .durable = true}));
        ASSERT_TRUE(vh.declare_queue({.name = "q", .durable = true}, 1));
        ASSERT_TRUE(vh.bind_queue("q", "x", "k", {}, 1));
        ASSERT_TRUE(vh.declare_queue({.name = "gone", .durable = true}, 1));
        ASSERT_TRUE(vh.delete_queue("gone", false, false, 1));
        // What a kill -9 now leaves: the snapshot from start-up and the appended log.
        snapshot = store::testing::slurp(meta + "/topology.json");
        log = store::testing::slurp(meta + "/topology.log");
    }
    EXPECT_EQ(snapshot.find("\"q\""), std::string::npos);  // only in the log
    {
        std::ofstream s(meta + "/topology.json", std::ios::binary | std::ios::trunc);
        s << snapshot;
        std::ofstream l(meta + "/topology.log", std::ios::binary | std::ios::trunc);
        l << log;
    }
    instance b(dir.path());
    auto& vh = b.vh();
    ASSERT_NE(vh.find_exchange("x"), nullptr);
    ASSERT_NE(vh.find_queue("q"), nullptr);
    EXPECT_EQ(vh.find_queue("gone"), nullptr);
    auto n = vh.publish("x", make_msg("m", "k"));
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 1u);
}

TEST(durability, a_corrupt_metadata_log_refuses_to_start) {
    store::testing::temp_dir dir;
    const std::string log = dir.path() + "/meta/topology.log";
    std::string bytes, snapshot;
    {
        instance a(dir.path());
        ASSERT_TRUE(a.vh().declare_queue({.name = "q1", .durable = true}, 1));
        ASSERT_TRUE(a.vh().declare_queue({.name = "q2", .durable = true}, 1));
        bytes = store::testing::slurp(log);  // as a kill -9 leaves them
        snapshot = store::testing::slurp(dir.path() + "/meta/topology.json");
    }
    bytes[30] ^= 0x40;  // inside the first record; the second is intact
    {
        std::ofstream f(log, std::ios::binary | std::ios::trunc);
        f << bytes;
        std::ofstream s(dir.path() + "/meta/topology.json", std::ios::binary | std::ios::trunc);
        s << snapshot;
    }
    boost::asio::io_context io;
    core::broker broker;
    auto r = broker_store::open(io, broker, {.dir = dir.path()});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("topology.log"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find("refusing to start"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace warren::durability
