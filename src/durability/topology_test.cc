// topology_saver: durable declares saved as metadata log appends (not whole-file rewrites),
// a failed save undone, compaction. Named after the failure each covers.

#include "durability/topology.h"

#include <gtest/gtest.h>

#include "core/vhost.h"
#include "store/fault_env.h"
#include "store/metadata_log.h"
#include "store/test_util.h"

namespace warren::durability {
namespace {

struct fixture {
    store::testing::temp_dir tmp;
    store::fault_env fenv{store::posix_env()};
    store::metadata_store meta{&fenv, tmp.path() + "/meta"};
    core::broker broker;
    topology_saver saver{meta, broker, 16 << 10};
    fixture() {
        auto t = meta.load();
        EXPECT_TRUE(t);
        saver.start(store::topology{});
        broker.set_storage({.topology = &saver});
    }
    ~fixture() { broker.set_storage({}); }
    core::vhost& vh() { return *broker.find_vhost("/"); }
    store::topology reload() {
        store::metadata_store m(&fenv, tmp.path() + "/meta");
        auto t = m.load();
        EXPECT_TRUE(t) << t.error().text;
        return t && t->has_value() ? **t : store::topology{};
    }
};

TEST(topology_saver, a_declare_appends_one_record_instead_of_rewriting_the_topology) {
    fixture f;
    for (int i = 0; i < 20; ++i)
        ASSERT_TRUE(f.vh().declare_queue({.name = "q" + std::to_string(i), .durable = true}, 1));
    const uint64_t snapshot = f.meta.snapshot_bytes();
    f.fenv.reset_counters();
    ASSERT_TRUE(f.vh().declare_exchange({.name = "x", .type = "topic", .durable = true}));
    ASSERT_TRUE(f.vh().bind_queue("q3", "x", "a.#", {}, 1));
    EXPECT_EQ(f.fenv.file_syncs(), 2u);  // one fdatasync per save
    EXPECT_EQ(f.fenv.dir_syncs(), 0u);   // no rename: topology.json untouched
    EXPECT_EQ(f.meta.snapshot_bytes(), snapshot);
    EXPECT_LT(f.fenv.bytes_written(), 600u);  // the two changes, not 20 queues twice
    auto t = f.reload();
    ASSERT_EQ(t.vhosts.size(), 1u);
    EXPECT_EQ(t.vhosts[0].queues.size(), 20u);
    EXPECT_EQ(t.vhosts[0].exchanges.size(), 1u);
    ASSERT_EQ(t.vhosts[0].bindings.size(), 1u);
    EXPECT_EQ(t.vhosts[0].bindings[0].routing_key, "a.#");
}

TEST(topology_saver, an_equivalent_redeclare_writes_nothing) {
    fixture f;
    ASSERT_TRUE(f.vh().declare_queue({.name = "q", .durable = true}, 1));
    f.fenv.reset_counters();
    ASSERT_TRUE(f.vh().declare_queue({.name = "q", .durable = true}, 1));
    ASSERT_TRUE(f.vh().declare_queue({.name = "t"}, 1));  // transient: not saved
    EXPECT_EQ(f.fenv.bytes_written(), 0u);
}

TEST(topology_saver, a_failed_save_undoes_the_declare_and_the_next_save_compacts) {
    fixture f;
    ASSERT_TRUE(f.vh().declare_queue({.name = "kept", .durable = true}, 1));
    f.fenv.fail_syncs = true;
    auto r = f.vh().declare_queue({.name = "lost", .durable = true}, 1);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, core::reply_code::internal_error);  // 541
    EXPECT_EQ(f.vh().find_queue("lost"), nullptr);
    EXPECT_TRUE(f.saver.topology_pending());
    EXPECT_FALSE(f.meta.can_append());  // the log may end in a partial record
    f.fenv.fail_syncs = false;
    ASSERT_TRUE(f.vh().declare_queue({.name = "after", .durable = true}, 1));
    EXPECT_FALSE(f.saver.topology_pending());
    EXPECT_TRUE(f.meta.can_append());  // a compaction replaced the log
    auto t = f.reload();
    std::vector<std::string> names;
    for (auto& q : t.vhosts.at(0).queues) names.push_back(q.name);
    EXPECT_EQ(names, (std::vector<std::string>{"after", "kept"}));
}

TEST(topology_saver, deletes_and_unbinds_are_saved_too) {
    fixture f;
    ASSERT_TRUE(f.vh().declare_exchange({.name = "x", .type = "direct", .durable = true}));
    ASSERT_TRUE(f.vh().declare_queue({.name = "q", .durable = true}, 1));
    ASSERT_TRUE(f.vh().bind_queue("q", "x", "k1", {}, 1));
    ASSERT_TRUE(f.vh().bind_queue("q", "x", "k2", {}, 1));
    ASSERT_TRUE(f.vh().unbind_queue("q", "x", "k1", {}, 1));
    ASSERT_TRUE(f.vh().declare_queue({.name = "d", .durable = true}, 1));
    ASSERT_TRUE(f.vh().delete_queue("d", false, false, 1));
    auto t = f.reload();
    auto& v = t.vhosts.at(0);
    ASSERT_EQ(v.queues.size(), 1u);
    EXPECT_EQ(v.queues[0].name, "q");
    ASSERT_EQ(v.bindings.size(), 1u);
    EXPECT_EQ(v.bindings[0].routing_key, "k2");
    EXPECT_EQ(t.vhosts, f.saver.capture().vhosts);
}

TEST(topology_saver, a_grown_log_is_compacted_into_a_snapshot) {
    fixture f;
    ASSERT_TRUE(f.vh().declare_queue({.name = "q", .durable = true}, 1));
    // Bind/unbind churn: the log grows, the topology does not.
    std::string key(200, 'k');
    for (int i = 0; f.meta.log_bytes() <= (16u << 10); ++i) {
        ASSERT_TRUE(f.vh().bind_queue("q", "amq.direct", key, {}, 1));
        ASSERT_TRUE(f.vh().unbind_queue("q", "amq.direct", key, {}, 1));
        ASSERT_LT(i, 100000);
    }
    ASSERT_TRUE(f.vh().bind_queue("q", "amq.direct", "final", {}, 1));  // this one compacts
    EXPECT_EQ(f.meta.log_bytes(), store::metadata_log::header_size);
    auto t = f.reload();
    ASSERT_EQ(t.vhosts.at(0).bindings.size(), 1u);
    EXPECT_EQ(t.vhosts[0].bindings[0].routing_key, "final");
}

TEST(topology_saver, diff_of_equal_vhosts_is_empty_and_arguments_distinguish_bindings) {
    store::vhost_def a{.name = "/"};
    a.bindings.push_back(store::binding_def{"x", "q", false, "k", {}});
    store::vhost_def b = a;
    std::vector<store::topology_change> out;
    diff_vhost(a, b, out);
    EXPECT_TRUE(out.empty());
    core::set(b.bindings[0].args, "x-match", core::field_value{std::string("all")});
    diff_vhost(a, b, out);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].kind, store::topology_change::op::put_binding);
    EXPECT_EQ(out[1].kind, store::topology_change::op::delete_binding);
}

}  // namespace
}  // namespace warren::durability

namespace warren::durability {
namespace {

// The feed app binds each follower's queue to each author it follows: 10^5 bindings in a
// vhost. Each new binding or queue must cost the same however many exist (it captured and
// diffed the whole vhost before: 4.3 ms per bind at 8,000 bindings), and what is saved must
// still be exactly the broker's topology, also after other changes diff the appended copy.
TEST(topology_saver, a_new_binding_or_queue_is_saved_without_capturing_the_vhost) {
    fixture f;
    ASSERT_TRUE(f.vh().declare_exchange({.name = "x", .type = "topic", .durable = true}));
    for (int i = 0; i < 300; ++i) {
        const std::string q = "q" + std::to_string(i);
        ASSERT_TRUE(f.vh().declare_queue({.name = q, .durable = true}, 1));
        ASSERT_TRUE(f.vh().bind_queue(q, "x", "k." + std::to_string(i), {}, 1));
    }
    f.fenv.reset_counters();
    const uint64_t captures = f.saver.vhost_captures();
    ASSERT_TRUE(f.vh().bind_queue("q7", "x", "late", {}, 1));
    ASSERT_TRUE(f.vh().declare_queue({.name = "late", .durable = true}, 1));
    EXPECT_EQ(f.saver.vhost_captures(), captures);  // no walk over the vhost
    EXPECT_LT(f.fenv.bytes_written(), 400u);        // two changes, not 300 bindings
    // A change that diffs: the appended copy must be sorted in first, or the diff would
    // rewrite (or lose) bindings.
    ASSERT_TRUE(f.vh().unbind_queue("q3", "x", "k.3", {}, 1));
    ASSERT_TRUE(f.vh().delete_queue("q5", false, false, 1));
    auto t = f.reload();
    ASSERT_EQ(t.vhosts.size(), 1u);
    EXPECT_EQ(t.vhosts[0].queues.size(), 300u);    // 300 + late - q5
    EXPECT_EQ(t.vhosts[0].bindings.size(), 299u);  // 300 + late - k.3 - q5's
    EXPECT_EQ(f.saver.capture().vhosts[0].bindings.size(), 299u);
    bool late = false;
    for (auto& b : t.vhosts[0].bindings) {
        EXPECT_NE(b.routing_key, "k.3");
        EXPECT_NE(b.destination, "q5");
        late = late || b.routing_key == "late";
    }
    EXPECT_TRUE(late);
}

}  // namespace
}  // namespace warren::durability
