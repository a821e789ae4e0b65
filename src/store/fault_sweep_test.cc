// Fault injection at every write and fsync of the message store (issue #16).
//
// A fixed workload (appends to one and two queues across many small segments, group-commit
// flushes, acks, a queue deletion, compaction) is run once without faults to number its file
// operations (fault_env::ops(): every write, fsync, directory fsync, open, truncate, rename and
// remove). Then, for every operation k and every kind of fault (a short write, EIO, ENOSPC,
// EMFILE), the workload runs again with operation k failing:
//
//   - crash: k and everything after it fail (the disk is gone), then the power goes
//     (fault_env::drop_unsynced_data) and the log is opened again on a healthy disk;
//   - transient: k and the next operation fail, the caller retries flush() as the broker's
//     flusher does, then the power goes after the workload.
//
// After each run the recovered log must hold every message whose append was reported durable
// (flush() succeeded after it) unless an ack or queue deletion of it was also durable; it must
// hold no (queue, message) that was never appended and none whose settlement was durable; every
// recovered message must read back byte for byte; and recovery must report no corrupt region
// (a torn tail from the failed write is allowed: it was never confirmed). In the transient mode
// every append must end up durable. A third sweep fails each operation of recovery itself: open
// either fails (warrend refuses to start) or recovers, and a second open on a healthy disk
// recovers exactly what a clean recovery does.
//
// The metadata store (topology snapshot + log) gets the same sweep, driven the way the broker's
// topology saver drives it: a change is applied only once its record is saved (else the
// declare is refused and undone), after a failed append the next save is a compaction, and
// every tenth save compacts. After a power loss the loaded topology must be exactly the one of
// the saves that succeeded, or that plus the one change of a save that failed after it (a
// failed fsync does not say the bytes did not reach the disk; a snapshot's rename may have
// happened before a later step failed: the declare was refused, and may be back after a
// restart), and nothing else: the same after a crash that keeps the page cache.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "store/fault_env.h"
#include "store/metadata_store.h"
#include "store/segment_log.h"
#include "store/test_util.h"

namespace warren::store {
namespace {

using testing::temp_dir;
using fault = fault_env::fault;

std::string body_for(uint64_t id) {
    // 50..750 bytes: with 4 KiB segments the workload rolls over many times.
    const size_t len = 50 + (id * 137) % 700;
    std::string s = "m" + std::to_string(id) + ":";
    while (s.size() < len) s.push_back(static_cast<char>('a' + (s.size() * 7 + id) % 26));
    return s;
}

const char* kind_name(fault k) {
    switch (k) {
        case fault::short_write:
            return "short write";
        case fault::eio:
            return "EIO";
        case fault::enospc:
            return "ENOSPC";
        case fault::emfile:
            return "EMFILE";
    }
    return "?";
}

using pair_key = std::pair<uint64_t, uint64_t>;  // (queue, message)

// What the workload did and what the log promised.
struct ledger {
    std::set<pair_key> appended;              // every (queue, message) appended
    std::map<pair_key, uint64_t> append_seq;  // its append's seq
    std::map<pair_key, uint64_t> settle_seq;  // seq of the ack / deletion that settled it
    uint64_t durable = 0;                     // durable_seq after the last good flush()
    uint64_t flush_failures = 0;
};

class FaultSweep : public ::testing::Test {
protected:
    FaultSweep() : fenv(posix_env()) {
        dir = tmp.path() + "/msgs";
        fenv.fake_syncs = true;  // power loss is simulated: no real fsync needed
        // Thousands of injected failures are logged as errors: keep the output readable.
        spdlog::set_level(spdlog::level::critical);
    }
    ~FaultSweep() override { spdlog::set_level(spdlog::level::info); }

    segment_log_options options() const {
        segment_log_options o;
        o.background_flush = false;  // deterministic: the same operations in the same order
        o.segment_size = 4096;
        return o;
    }

    result<std::unique_ptr<segment_log>> open_log(recovery_result* rec) {
        return segment_log::open(&fenv, dir, options(), rec);
    }

    // A good flush makes everything appended so far durable; a failed one is retried up to
    // `retries` times (0: the caller goes on, as a broker whose disk stays broken would).
    void flush(segment_log& log, ledger& l, int retries) {
        for (int attempt = 0;; ++attempt) {
            if (log.flush()) {
                l.durable = log.durable_seq();
                return;
            }
            ++l.flush_failures;
            if (attempt >= retries) return;
        }
    }

    // The workload: 20 rounds of 6 appends (to queue 1, or to queues 1 and 2), a flush, acks of
    // older messages on both queues, compaction every 4th round and the deletion of queue 2
    // in round 7. Any step may fail under a fault; the ledger records only what succeeded.
    void workload(segment_log& log, ledger& l, int retries) {
        uint64_t next = 1;
        bool q2_gone = false;
        for (int round = 0; round < 20; ++round) {
            for (int i = 0; i < 6; ++i, ++next) {
                std::vector<uint64_t> queues{1};
                if (!q2_gone && next % 2 == 0) queues.push_back(2);
                auto a = log.append_message(next, queues, body_for(next));
                if (!a) continue;
                for (uint64_t q : queues) {
                    l.appended.insert({q, next});
                    l.append_seq[{q, next}] = a->seq;
                }
            }
            flush(log, l, retries);
            // Ack about half of queue 1's messages from two rounds back, and some of queue 2's.
            std::vector<uint64_t> ack1, ack2;
            for (uint64_t id = next - 18; id < next - 12 && next > 18; ++id) {
                if (id % 3 != 0 && l.appended.count({1, id}) && !l.settle_seq.count({1, id}))
                    ack1.push_back(id);
                if (id % 4 == 0 && l.appended.count({2, id}) && !l.settle_seq.count({2, id}))
                    ack2.push_back(id);
            }
            if (!ack1.empty()) {
                if (auto s = log.ack(1, ack1))
                    for (uint64_t id : ack1) l.settle_seq[{1, id}] = *s;
            }
            if (!ack2.empty() && !q2_gone) {
                if (auto s = log.ack(2, ack2))
                    for (uint64_t id : ack2) l.settle_seq[{2, id}] = *s;
            }
            if (round == 7) {
                std::vector<uint64_t> live2;
                for (auto& [q, id] : l.appended)
                    if (q == 2 && !l.settle_seq.count({q, id})) live2.push_back(id);
                if (auto s = log.queue_deleted(2, live2)) {
                    for (uint64_t id : live2) l.settle_seq[{2, id}] = *s;
                    q2_gone = true;
                }
            }
            if (round % 4 == 3) {
                for (int step = 0; step < 50; ++step) {
                    auto more = log.compact();
                    if (!more || !*more) break;
                }
            }
            flush(log, l, retries);
        }
    }

    // The checks after a power loss, on a healthy disk.
    void check_recovery(const ledger& l, bool everything_durable) {
        recovery_result rec;
        auto log = open_log(&rec);
        ASSERT_TRUE(log) << log.error().text;
        EXPECT_EQ(rec.stats.corrupt_regions, 0u);
        std::set<pair_key> got;
        for (auto& [q, msgs] : rec.queues)
            for (auto& m : msgs) {
                EXPECT_TRUE(got.insert({q, m.message_id}).second)
                    << "recovered twice: queue " << q << " message " << m.message_id;
                EXPECT_TRUE(l.appended.count({q, m.message_id}))
                    << "never appended: queue " << q << " message " << m.message_id;
                auto r = (*log)->read_message(m.message_id);
                ASSERT_TRUE(r) << "message " << m.message_id << ": " << r.error().text;
                EXPECT_EQ(*r, body_for(m.message_id)) << "message " << m.message_id;
            }
        for (const auto& k : l.appended) {
            const auto settled = l.settle_seq.find(k);
            const bool settle_durable =
                settled != l.settle_seq.end() && settled->second <= l.durable;
            const bool append_durable = l.append_seq.at(k) <= l.durable;
            if (settle_durable) {
                EXPECT_FALSE(got.count(k)) << "settled durably but recovered: queue " << k.first
                                           << " message " << k.second;
            } else if (append_durable || everything_durable) {
                EXPECT_TRUE(got.count(k))
                    << "confirmed but lost: queue " << k.first << " message " << k.second;
            }
        }
    }

    void reset_dir() {
        std::filesystem::remove_all(dir);
        fenv.heal();
        fenv.reset_counters();
    }

    // Operations the clean workload makes (open and recovery included).
    uint64_t clean_ops() {
        reset_dir();
        ledger l;
        {
            auto log = open_log(nullptr);
            EXPECT_TRUE(log);
            workload(**log, l, 0);
            EXPECT_EQ(l.flush_failures, 0u);
            // The workload reaches every kind of file operation the log makes.
            const auto st = (*log)->stats();
            EXPECT_GT(st.relocated, 0u) << "compaction copied nothing";
            EXPECT_GT(st.segments_deleted, 0u) << "no segment was deleted";
        }
        return fenv.ops();
    }

    temp_dir tmp;
    std::string dir;
    fault_env fenv;
};

TEST_F(FaultSweep, EveryOperationFailingForGoodThenAPowerLossLosesNothingConfirmed) {
    const uint64_t n = clean_ops();
    ASSERT_GT(n, 100u) << "the workload should make many file operations";
    uint64_t runs = 0, failed_flushes = 0;
    for (fault kind : {fault::short_write, fault::eio, fault::enospc, fault::emfile}) {
        for (uint64_t k = 0; k < n; ++k) {
            SCOPED_TRACE(std::string(kind_name(kind)) + " at operation " + std::to_string(k));
            reset_dir();
            fenv.fail_ops(kind, k);  // every later operation fails too
            ledger l;
            {
                auto log = open_log(nullptr);
                if (!log) continue;  // the fault hit the first open: nothing was promised
                workload(**log, l, 0);
            }  // the closing flush fails as well
            failed_flushes += l.flush_failures;
            fenv.drop_unsynced_data();
            fenv.heal();
            check_recovery(l, false);
            ++runs;
            if (HasFailure()) return;
        }
    }
    EXPECT_GT(failed_flushes, 0u);
    std::printf("fault sweep (crash): %llu operations x 4 kinds, %llu runs, %llu failed flushes\n",
                static_cast<unsigned long long>(n), static_cast<unsigned long long>(runs),
                static_cast<unsigned long long>(failed_flushes));
}

TEST_F(FaultSweep, EveryOperationFailingTwiceIsRetriedAndEverythingBecomesDurable) {
    const uint64_t n = clean_ops();
    uint64_t runs = 0, failed_flushes = 0;
    for (fault kind : {fault::short_write, fault::eio, fault::enospc, fault::emfile}) {
        for (uint64_t k = 0; k < n; ++k) {
            SCOPED_TRACE(std::string(kind_name(kind)) + " at operation " + std::to_string(k));
            reset_dir();
            fenv.fail_ops(kind, k, 2);
            ledger l;
            {
                auto log = open_log(nullptr);
                if (!log) continue;
                workload(**log, l, 5);
                ASSERT_TRUE((*log)->flush());
                l.durable = (*log)->durable_seq();
                EXPECT_EQ(l.durable, (*log)->last_seq());
                EXPECT_FALSE((*log)->stalled());
            }
            failed_flushes += l.flush_failures;
            fenv.drop_unsynced_data();
            fenv.heal();
            check_recovery(l, true);
            ++runs;
            if (HasFailure()) return;
        }
    }
    EXPECT_GT(failed_flushes, 0u);
    std::printf(
        "fault sweep (transient): %llu operations x 4 kinds, %llu runs, %llu failed flushes\n",
        static_cast<unsigned long long>(n), static_cast<unsigned long long>(runs),
        static_cast<unsigned long long>(failed_flushes));
}

TEST_F(FaultSweep, AFaultDuringRecoveryFailsTheOpenOrRecoversAndNeverLosesData) {
    // A log to recover: the workload, then a power loss with a torn batch in flight.
    reset_dir();
    ledger l;
    {
        auto log = open_log(nullptr);
        ASSERT_TRUE(log);
        workload(**log, l, 0);
        for (uint64_t id = 1000; id < 1010; ++id)
            (void)(*log)->append_message(id, std::vector<uint64_t>{1}, body_for(id));
        fenv.fail_ops(fault::short_write, fenv.ops());
    }
    fenv.drop_unsynced_data();
    fenv.heal();
    const std::string saved = tmp.path() + "/saved";
    std::filesystem::copy(dir, saved);
    auto ids_of = [](const recovery_result& r) {
        std::set<pair_key> out;
        for (auto& [q, msgs] : r.queues)
            for (auto& m : msgs) out.insert({q, m.message_id});
        return out;
    };
    recovery_result clean;
    fenv.reset_counters();
    {
        auto log = open_log(&clean);
        ASSERT_TRUE(log);
    }
    const uint64_t n = fenv.ops();
    ASSERT_GT(n, 0u);
    for (fault kind : {fault::short_write, fault::eio, fault::enospc, fault::emfile}) {
        for (uint64_t k = 0; k < n; ++k) {
            SCOPED_TRACE(std::string(kind_name(kind)) + " at recovery operation " +
                         std::to_string(k));
            std::filesystem::remove_all(dir);
            std::filesystem::copy(saved, dir);
            fenv.reset_counters();
            fenv.fail_ops(kind, k);
            {
                recovery_result rec;
                auto log = open_log(&rec);
                if (log) {
                    EXPECT_EQ(ids_of(rec), ids_of(clean));
                }
            }
            fenv.heal();
            recovery_result again;
            auto log = open_log(&again);
            ASSERT_TRUE(log) << log.error().text;
            EXPECT_EQ(ids_of(again), ids_of(clean));
            for (auto& [q, id] : ids_of(again)) {
                auto r = (*log)->read_message(id);
                ASSERT_TRUE(r);
                EXPECT_EQ(*r, body_for(id));
            }
            if (HasFailure()) return;
        }
    }
}

// ---- metadata store ------------------------------------------------------------------------

topology_change meta_change(int i) {
    topology_change c;
    c.vhost = "/";
    if (i % 3 == 2) {
        c.kind = topology_change::op::put_binding;
        c.binding =
            binding_def{"x", "q" + std::to_string(i - 1), false, "k." + std::to_string(i), {}};
    } else {
        c.kind = topology_change::op::put_queue;
        c.queue = queue_def{"q" + std::to_string(i), static_cast<uint64_t>(i + 2), true, {}};
        core::set(c.queue.args, "x-message-ttl", core::field_value{int64_t{1000 + i}});
    }
    return c;
}

std::string describe(const topology& t) {
    if (t.vhosts.empty()) return "nothing";
    std::string out = std::to_string(t.vhosts[0].queues.size()) + " queues (";
    for (auto& q : t.vhosts[0].queues) out += q.name + " ";
    return out + "), " + std::to_string(t.vhosts[0].bindings.size()) + " bindings, next id " +
           std::to_string(t.next_queue_id);
}

topology meta_base() {
    topology t;
    vhost_def v;
    v.name = "/";
    v.exchanges.push_back(exchange_def{"x", "topic", true, false, {}});
    t.vhosts.push_back(v);
    t.next_queue_id = 2;
    return t;
}

class MetadataFaultSweep : public ::testing::Test {
protected:
    MetadataFaultSweep() : fenv(posix_env()) {
        fenv.fake_syncs = true;
        spdlog::set_level(spdlog::level::critical);
    }
    ~MetadataFaultSweep() override { spdlog::set_level(spdlog::level::info); }
    std::string dir() const { return tmp.path() + "/meta"; }

    struct outcome {
        topology saved;  // what the saves that succeeded wrote
        // What each save that failed since the last one that succeeded tried to write: any
        // one of them may be what a load finds (each is `saved` plus its one change).
        std::vector<topology> unsure;
        int failures = 0;
    };

    // One save as the broker's topology saver makes it: a record appended to the log, or a
    // compaction after a failed append and every tenth save; retried `retries` times.
    void save(metadata_store& m, outcome& o, const topology& next, const topology_change* c,
              bool compact, int retries) {
        for (int attempt = 0; attempt <= retries; ++attempt) {
            const bool snapshot = compact || !c || !m.can_append();
            auto s = snapshot ? m.compact(next) : m.append(std::span<const topology_change>(c, 1));
            if (s) {
                o.saved = next;
                o.unsure.clear();
                return;
            }
            ++o.failures;
            o.unsure.push_back(next);
        }
    }

    // The base topology, then 40 changes, each saved as above.
    outcome workload(int retries) {
        outcome o;
        metadata_store m(&fenv, dir());
        if (!m.load()) return o;
        save(m, o, meta_base(), nullptr, true, retries);
        if (!o.unsure.empty()) return o;  // the first snapshot failed: nothing else is saved
        for (int i = 0; i < 40; ++i) {
            const topology_change c = meta_change(i);
            topology next = o.saved;
            apply_change(next, c);
            save(m, o, next, &c, i % 10 == 9, retries);
        }
        return o;
    }

    result<std::optional<topology>> reload() {
        metadata_store m(&fenv, dir());
        return m.load();
    }

    void reset() {
        std::filesystem::remove_all(dir());
        fenv.heal();
        fenv.reset_counters();
    }

    testing::temp_dir tmp;
    fault_env fenv;
};

TEST_F(MetadataFaultSweep, EverySaveOperationFailingLosesNoSavedChangeAndAddsNoOther) {
    reset();
    const outcome clean = workload(0);
    ASSERT_EQ(clean.failures, 0);
    const uint64_t n = fenv.ops();
    ASSERT_GT(n, 60u);
    uint64_t runs = 0, failures = 0;
    for (bool power_loss : {true, false}) {
        for (fault kind : {fault::short_write, fault::eio, fault::enospc, fault::emfile}) {
            for (uint64_t k = 0; k < n; ++k) {
                SCOPED_TRACE(std::string(kind_name(kind)) + " at operation " + std::to_string(k) +
                             (power_loss ? ", power loss" : ", process crash"));
                reset();
                fenv.fail_ops(kind, k);
                const outcome o = workload(0);
                failures += static_cast<uint64_t>(o.failures);
                if (power_loss) fenv.drop_unsynced_data();
                fenv.heal();
                auto r = reload();
                ASSERT_TRUE(r) << r.error().text;
                const topology got = r->value_or(topology{});
                const bool one_failed_save =
                    std::find(o.unsure.begin(), o.unsure.end(), got) != o.unsure.end();
                EXPECT_TRUE(got == o.saved || one_failed_save)
                    << "loaded " << describe(got) << "; saved " << describe(o.saved) << "; "
                    << o.unsure.size() << " failed saves since";
                ++runs;
                if (HasFailure()) return;
            }
        }
    }
    EXPECT_GT(failures, 0u);
    std::printf("metadata fault sweep (crash): %llu operations, %llu runs, %llu failed saves\n",
                static_cast<unsigned long long>(n), static_cast<unsigned long long>(runs),
                static_cast<unsigned long long>(failures));
}

TEST_F(MetadataFaultSweep, ATransientFaultCostsOneSaveAndTheNextSavesEverything) {
    reset();
    (void)workload(0);
    const uint64_t n = fenv.ops();
    const topology want = [] {
        topology t = meta_base();
        for (int i = 0; i < 40; ++i) apply_change(t, meta_change(i));
        return t;
    }();
    for (fault kind : {fault::short_write, fault::eio, fault::enospc, fault::emfile}) {
        for (uint64_t k = 0; k < n; ++k) {
            SCOPED_TRACE(std::string(kind_name(kind)) + " at operation " + std::to_string(k));
            reset();
            fenv.fail_ops(kind, k, 2);
            const outcome o = workload(3);
            fenv.drop_unsynced_data();
            fenv.heal();
            EXPECT_EQ(o.saved, want);
            auto r = reload();
            ASSERT_TRUE(r) << r.error().text;
            EXPECT_EQ(r->value_or(topology{}), want);
            if (HasFailure()) return;
        }
    }
}

}  // namespace
}  // namespace warren::store
