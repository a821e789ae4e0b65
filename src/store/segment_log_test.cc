#include "store/segment_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

#include "base/test_time.h"
#include "store/crc32c.h"
#include "store/fault_env.h"
#include "store/log_format.h"
#include "store/test_util.h"

namespace warren::store {
namespace {

namespace lf = log_format;
using testing::temp_dir;

std::string body_for(uint64_t id, size_t len = 40) {
    std::string s = "message-" + std::to_string(id) + "-";
    while (s.size() < len) s.push_back(static_cast<char>('a' + (s.size() + id) % 26));
    return s;
}

class SegmentLogTest : public ::testing::Test {
protected:
    SegmentLogTest() : fenv(posix_env()) { dir = tmp.path() + "/msgs"; }

    std::unique_ptr<segment_log> open(bool background = false, uint64_t segment_size = 1 << 20) {
        segment_log_options o;
        o.background_flush = background;
        o.segment_size = segment_size;
        rec = recovery_result{};
        auto r = segment_log::open(&fenv, dir, o, &rec);
        EXPECT_TRUE(r) << (r ? "" : r.error().text);
        return r ? std::move(*r) : nullptr;
    }

    segment_log::appended put(segment_log& log, uint64_t id, std::vector<uint64_t> queues = {1},
                              size_t len = 40) {
        auto a = log.append_message(id, queues, body_for(id, len));
        EXPECT_TRUE(a);
        return a ? *a : segment_log::appended{};
    }

    std::vector<uint64_t> recovered_ids(uint64_t queue) {
        std::vector<uint64_t> out;
        auto it = rec.queues.find(queue);
        if (it == rec.queues.end()) return out;
        for (const auto& m : it->second) out.push_back(m.message_id);
        return out;
    }

    std::vector<std::string> segment_files() {
        std::vector<std::string> out;
        for (auto& e : std::filesystem::directory_iterator(dir))
            out.push_back(e.path().filename().string());
        std::sort(out.begin(), out.end());
        return out;
    }

    std::string first_segment_path() { return dir + "/" + segment_files().front(); }

    temp_dir tmp;
    std::string dir;
    fault_env fenv;
    recovery_result rec;
};

// Regression (fuzz/segment_recovery_fuzz.cc): a message record that names its queue twice was
// counted live twice at recovery, so one ack left it live and it came back after every restart.
TEST_F(SegmentLogTest, AckedMessageWhoseRecordRepeatsItsQueueIsNotResurrected) {
    std::filesystem::create_directories(dir);
    std::string seg = lf::encode_header(1);
    std::vector<uint64_t> queues = {3, 3};
    lf::append_message(seg, 1, queues, body_for(1));
    {
        std::ofstream f(dir + "/00000000000000000001.seg", std::ios::binary);
        f.write(seg.data(), static_cast<std::streamsize>(seg.size()));
    }
    {
        auto log = open();
        ASSERT_TRUE(log);
        EXPECT_EQ(recovered_ids(3), std::vector<uint64_t>{1});
        EXPECT_EQ(rec.stats.messages, 1u);
        uint64_t ids[] = {1};
        ASSERT_TRUE(log->ack(3, ids));
        ASSERT_TRUE(log->flush());
    }
    auto log = open();
    ASSERT_TRUE(log);
    EXPECT_TRUE(recovered_ids(3).empty());
}

// Regression (fuzz/segment_recovery_fuzz.cc): a compaction copy that was settled left its
// segment deletable while the older segment with the superseded record stayed (it holds other
// live messages, e.g. after a crash mid-compaction); the message then came back at the next
// restart.
TEST_F(SegmentLogTest, SettledCompactionCopyDoesNotResurrectTheOriginal) {
    std::filesystem::create_directories(dir);
    std::vector<uint64_t> q1 = {1}, q2 = {2}, acked = {1};
    std::string seg1 = lf::encode_header(1);
    lf::append_message(seg1, 1, q1, body_for(1));
    lf::append_message(seg1, 2, q2, body_for(2));
    std::string seg2 = lf::encode_header(2);
    lf::append_message(seg2, 1, q1, body_for(1));  // the copy, then its ack
    lf::append_ack(seg2, 1, acked);
    for (auto& [name, bytes] : {std::pair{"00000000000000000001.seg", &seg1},
                                std::pair{"00000000000000000002.seg", &seg2}}) {
        std::ofstream f(dir + "/" + name, std::ios::binary);
        f.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
    }
    for (int restart = 0; restart < 3; ++restart) {
        auto log = open();
        ASSERT_TRUE(log);
        EXPECT_TRUE(recovered_ids(1).empty()) << "restart " << restart;
        EXPECT_EQ(recovered_ids(2), std::vector<uint64_t>{2});
    }
}

TEST_F(SegmentLogTest, RoundTripAppendRead) {
    std::vector<segment_log::appended> a;
    {
        auto log = open();
        for (uint64_t id = 1; id <= 10; ++id) a.push_back(put(*log, id, {1}, 10 * id));
        // Not flushed yet: served from the write buffer.
        EXPECT_EQ(log->durable_seq(), 0u);
        for (uint64_t id = 1; id <= 10; ++id)
            EXPECT_EQ(*log->read(a[id - 1].pos), body_for(id, 10 * id));
        ASSERT_TRUE(log->flush());
        EXPECT_EQ(log->durable_seq(), a.back().seq);
        // Now served from the file.
        for (uint64_t id = 1; id <= 10; ++id)
            EXPECT_EQ(*log->read(a[id - 1].pos), body_for(id, 10 * id));
        EXPECT_EQ(a[0].pos.offset, lf::header_size);
    }
    auto log = open();
    EXPECT_EQ(recovered_ids(1), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
    EXPECT_EQ(rec.max_message_id, 10u);
    for (uint64_t id = 1; id <= 10; ++id) {
        auto r = log->read(rec.queues[1][id - 1].pos);
        ASSERT_TRUE(r);
        EXPECT_EQ(*r, body_for(id, 10 * id));
    }
}

TEST_F(SegmentLogTest, LargeRecordIsReadWhole) {
    std::string big(100000, 'z');
    segment_log::appended a;
    {
        auto log = open();
        auto r = log->append_message(1, std::vector<uint64_t>{1}, big);
        ASSERT_TRUE(r);
        a = *r;
        ASSERT_TRUE(log->flush());
        EXPECT_EQ(*log->read(a.pos), big);
    }
    auto log = open();
    EXPECT_EQ(*log->read(a.pos), big);
}

TEST_F(SegmentLogTest, RecordLargerThanSegmentGetsItsOwnSegment) {
    auto log = open(false, 4096);
    put(*log, 1, {1}, 100);
    auto a = put(*log, 2, {1}, 10000);
    auto b = put(*log, 3, {1}, 100);
    EXPECT_EQ(a.pos.offset, lf::header_size);
    EXPECT_NE(a.pos.segment, b.pos.segment);
    ASSERT_TRUE(log->flush());
    EXPECT_EQ(*log->read(a.pos), body_for(2, 10000));
    log.reset();
    log = open(false, 4096);
    EXPECT_EQ(recovered_ids(1), (std::vector<uint64_t>{1, 2, 3}));
}

TEST_F(SegmentLogTest, DuplicateLiveMessageIdIsRejected) {
    auto log = open();
    put(*log, 1);
    auto r = log->append_message(1, std::vector<uint64_t>{2}, "x");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::invalid_argument);
}

TEST_F(SegmentLogTest, TruncatedTrailingRecordIsIgnored) {
    segment_log::appended last;
    {
        auto log = open();
        put(*log, 1);
        put(*log, 2);
        last = put(*log, 3);
        ASSERT_TRUE(log->flush());
    }
    std::string path = first_segment_path();
    uint64_t size = std::filesystem::file_size(path);
    testing::truncate_to(path, size - 5);  // a crash mid-write of record 3
    {
        auto log = open();
        EXPECT_EQ(recovered_ids(1), (std::vector<uint64_t>{1, 2}));
        EXPECT_EQ(rec.stats.torn_tails, 1u);
        EXPECT_EQ(std::filesystem::file_size(path), last.pos.offset);
        put(*log, 4);
        ASSERT_TRUE(log->flush());
    }
    auto log = open();
    EXPECT_EQ(recovered_ids(1), (std::vector<uint64_t>{1, 2, 4}));
    EXPECT_EQ(rec.stats.torn_tails, 0u);
}

TEST_F(SegmentLogTest, EveryTruncationPointRecoversAPrefix) {
    {
        auto log = open();
        for (uint64_t id = 1; id <= 3; ++id) put(*log, id);
        ASSERT_TRUE(log->flush());
    }
    std::string path = first_segment_path();
    std::string full = testing::slurp(path);
    size_t rec_size = lf::message_record_size(1, 40);
    for (size_t cut = lf::header_size; cut <= full.size(); ++cut) {
        {
            std::ofstream f(path, std::ios::binary | std::ios::trunc);
            f.write(full.data(), static_cast<std::streamsize>(cut));
        }
        auto log = open();
        size_t whole = (cut - lf::header_size) / rec_size;
        EXPECT_EQ(recovered_ids(1).size(), whole) << cut;
        // Clean up what this open created so the next iteration sees one file.
        log.reset();
        for (auto& n : segment_files())
            if (dir + "/" + n != path) std::filesystem::remove(dir + "/" + n);
    }
}

TEST_F(SegmentLogTest, ChecksumMismatchTailIsCutOff) {
    segment_log::appended last;
    {
        auto log = open();
        put(*log, 1);
        put(*log, 2);
        last = put(*log, 3);
        ASSERT_TRUE(log->flush());
    }
    std::string path = first_segment_path();
    testing::flip_bit(path, last.pos.offset + 20, 3);
    auto log = open();
    EXPECT_EQ(recovered_ids(1), (std::vector<uint64_t>{1, 2}));
    EXPECT_EQ(rec.stats.torn_tails, 1u);
    EXPECT_EQ(std::filesystem::file_size(path), last.pos.offset);
    auto r = log->read(last.pos);
    EXPECT_FALSE(r);
}

TEST_F(SegmentLogTest, GarbageLengthTailIsCutOff) {
    segment_log::appended last;
    {
        auto log = open();
        put(*log, 1);
        last = put(*log, 2);
        ASSERT_TRUE(log->flush());
    }
    std::string path = first_segment_path();
    testing::overwrite(path, last.pos.offset + 4, std::string(4, '\xff'));
    auto log = open();
    EXPECT_EQ(recovered_ids(1), (std::vector<uint64_t>{1}));
    EXPECT_EQ(rec.stats.torn_tails, 1u);
}

TEST_F(SegmentLogTest, ZeroFilledTailIsCutOff) {
    {
        auto log = open();
        put(*log, 1);
        ASSERT_TRUE(log->flush());
    }
    std::string path = first_segment_path();
    uint64_t size = std::filesystem::file_size(path);
    testing::append_bytes(path, std::string(4096, '\0'));  // file extended, data never landed
    auto log = open();
    EXPECT_EQ(recovered_ids(1), (std::vector<uint64_t>{1}));
    EXPECT_EQ(std::filesystem::file_size(path), size);
}

TEST_F(SegmentLogTest, BitFlipInMiddleIsNotServed) {
    std::vector<segment_log::appended> a;
    {
        auto log = open();
        for (uint64_t id = 1; id <= 5; ++id) a.push_back(put(*log, id));
        ASSERT_TRUE(log->flush());
    }
    std::string path = first_segment_path();
    testing::flip_bit(path, a[2].pos.offset + 30, 0);  // inside message 3's body
    auto log = open();
    EXPECT_EQ(recovered_ids(1), (std::vector<uint64_t>{1, 2, 4, 5}));
    EXPECT_EQ(rec.stats.corrupt_regions, 1u);
    EXPECT_EQ(rec.stats.bytes_skipped, lf::message_record_size(1, 40));
    EXPECT_EQ(rec.stats.torn_tails, 0u);
    auto r = log->read(a[2].pos);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::corruption);
    EXPECT_EQ(*log->read(a[3].pos), body_for(4));
}

TEST_F(SegmentLogTest, CorruptHeaderSegmentIsSetAside) {
    {
        auto log = open(false, 2048);
        for (uint64_t id = 1; id <= 100; ++id) put(*log, id);
        ASSERT_TRUE(log->flush());
    }
    auto files = segment_files();
    ASSERT_GE(files.size(), 3u);
    testing::flip_bit(dir + "/" + files[0], 10, 1);
    auto log = open(false, 2048);
    EXPECT_EQ(rec.stats.corrupt_segments, 1u);
    auto ids = recovered_ids(1);
    ASSERT_FALSE(ids.empty());
    EXPECT_GT(ids.front(), 1u);  // messages of the first segment are not served
    EXPECT_EQ(ids.back(), 100u);
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + files[0] + ".corrupt"));
}

TEST_F(SegmentLogTest, UnknownSegmentVersionIsRefused) {
    {
        auto log = open();
        put(*log, 1);
        ASSERT_TRUE(log->flush());
    }
    std::string path = first_segment_path();
    std::string h = lf::encode_header(1);
    h[6] = 9;
    h.resize(28);
    lf::put_u32(h, crc32c::mask(crc32c::value(h.data(), 28)));
    testing::overwrite(path, 0, h);
    segment_log_options o;
    o.background_flush = false;
    auto r = segment_log::open(&fenv, dir, o, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::unsupported_version);
    EXPECT_NE(r.error().text.find("format version 9"), std::string::npos) << r.error().text;
}

TEST_F(SegmentLogTest, SegmentRollsOverAndDeletesDeadSegments) {
    auto log = open(false, 4096);
    std::vector<uint64_t> ids;
    for (uint64_t id = 1; id <= 200; ++id) {
        put(*log, id, {1}, 100);
        ids.push_back(id);
    }
    ASSERT_TRUE(log->flush());
    size_t before = segment_files().size();
    EXPECT_GT(before, 5u);
    ASSERT_TRUE(log->ack(1, ids));
    ASSERT_TRUE(log->flush());
    // Only the active segment (which holds the acks) is left.
    EXPECT_EQ(segment_files().size(), 1u);
    EXPECT_EQ(log->stats().segments_deleted, before - 1);
    auto r = log->read({1, static_cast<uint32_t>(lf::header_size)});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::not_found);
    log.reset();
    log = open(false, 4096);
    EXPECT_TRUE(rec.queues.empty());
}

TEST_F(SegmentLogTest, DeadSegmentsGoWithBackgroundFlusherToo) {
    auto log = open(true, 4096);
    std::vector<uint64_t> ids;
    for (uint64_t id = 1; id <= 200; ++id) {
        put(*log, id, {1}, 100);
        ids.push_back(id);
    }
    ASSERT_TRUE(log->ack(1, ids));
    ASSERT_TRUE(log->flush());
    EXPECT_EQ(segment_files().size(), 1u);
}

TEST_F(SegmentLogTest, SegmentWithAcksForOlderLiveSegmentIsKept) {
    // Segment A: m1 (stays live) and m2. Segment B: the ack of m2 (and filler, acked).
    // Deleting B while A exists would resurrect m2 after a restart.
    auto log = open(false, 1024);
    auto m1 = put(*log, 1, {1}, 100);
    put(*log, 2, {1}, 100);
    uint64_t id = 3;
    while (log->segments().size() < 2) put(*log, id++, {2}, 100);
    uint64_t seg_b = log->segments().back().segment;
    ASSERT_TRUE(log->ack(1, std::vector<uint64_t>{2}));
    std::vector<uint64_t> fillers;
    for (uint64_t f = 3; f < id; ++f) fillers.push_back(f);
    ASSERT_TRUE(log->ack(2, fillers));
    while (log->segments().back().segment == seg_b) {
        put(*log, id, {3}, 100);
        ASSERT_TRUE(log->ack(3, std::vector<uint64_t>{id++}));
    }
    ASSERT_TRUE(log->flush());
    auto segs = log->segments();
    // A (live m1) and B (waiting for A) both still exist.
    ASSERT_GE(segs.size(), 3u);
    EXPECT_EQ(segs[0].segment, m1.pos.segment);
    EXPECT_EQ(segs[1].segment, seg_b);
    EXPECT_EQ(segs[1].live, 0u);
    log.reset();

    log = open(false, 1024);
    EXPECT_EQ(recovered_ids(1), (std::vector<uint64_t>{1}));  // m2 stays acked
    ASSERT_TRUE(log->ack(1, std::vector<uint64_t>{1}));
    ASSERT_TRUE(log->flush());
    segs = log->segments();
    for (const auto& s : segs) {
        EXPECT_NE(s.segment, m1.pos.segment);
        EXPECT_NE(s.segment, seg_b);
    }
    log.reset();
    log = open(false, 1024);
    EXPECT_TRUE(recovered_ids(1).empty());
}

TEST_F(SegmentLogTest, RecoveryRestoresLiveMessagesInOrder) {
    std::map<uint64_t, std::vector<uint64_t>> expect;
    std::map<uint64_t, position> pos;
    {
        auto log = open(false, 8192);
        for (uint64_t id = 1; id <= 300; ++id) {
            std::vector<uint64_t> qs = {id % 3 + 1};
            if (id % 10 == 0) qs.push_back(9);  // fanout copy
            auto a = put(*log, id, qs, 30 + id % 50);
            pos[id] = a.pos;
            for (auto q : qs) expect[q].push_back(id);
        }
        ASSERT_TRUE(log->flush());
        EXPECT_GT(log->segments().size(), 3u);
    }
    auto log = open(false, 8192);
    ASSERT_EQ(rec.queues.size(), expect.size());
    for (auto& [q, ids] : expect) {
        EXPECT_EQ(recovered_ids(q), ids) << "queue " << q;
        for (const auto& m : rec.queues[q]) {
            EXPECT_EQ(m.pos, pos[m.message_id]);
            EXPECT_EQ(*log->read(m.pos), body_for(m.message_id, 30 + m.message_id % 50));
        }
    }
    EXPECT_EQ(rec.stats.messages, 300u + 30u);
    EXPECT_EQ(rec.max_message_id, 300u);
}

TEST_F(SegmentLogTest, AckedMessagesNotRecovered) {
    {
        auto log = open();
        for (uint64_t id = 1; id <= 10; ++id) put(*log, id, {1, 2});
        for (uint64_t id = 11; id <= 15; ++id) put(*log, id, {3});
        ASSERT_TRUE(log->ack(1, std::vector<uint64_t>{2, 4, 6}));
        ASSERT_TRUE(log->ack(2, std::vector<uint64_t>{1, 2}));
        ASSERT_TRUE(log->ack(2, std::vector<uint64_t>{1, 99}));  // repeated and unknown: ignored
        ASSERT_TRUE(log->queue_deleted(3, std::vector<uint64_t>{11, 12, 13, 14, 15}));
        ASSERT_TRUE(log->flush());
    }
    auto log = open();
    EXPECT_EQ(recovered_ids(1), (std::vector<uint64_t>{1, 3, 5, 7, 8, 9, 10}));
    EXPECT_EQ(recovered_ids(2), (std::vector<uint64_t>{3, 4, 5, 6, 7, 8, 9, 10}));
    EXPECT_TRUE(recovered_ids(3).empty());
}

TEST_F(SegmentLogTest, QueueDeletedMarkerDropsMessagesEvenIfIdsWereNotPassed) {
    {
        auto log = open();
        for (uint64_t id = 1; id <= 5; ++id) put(*log, id, {4});
        ASSERT_TRUE(log->queue_deleted(4, {}));
        put(*log, 6, {4});  // after the marker: a new life of the queue id (not recommended)
        ASSERT_TRUE(log->flush());
    }
    auto log = open();
    EXPECT_EQ(recovered_ids(4), (std::vector<uint64_t>{6}));
}

TEST_F(SegmentLogTest, FanoutMessageLiveUntilEveryQueueAcks) {
    auto log = open(false, 1024);
    put(*log, 1, {1, 2, 3}, 100);
    uint64_t first = log->segments().front().segment;
    for (uint64_t id = 2; log->segments().size() < 3; ++id) {
        put(*log, id, {5}, 100);
        ASSERT_TRUE(log->ack(5, std::vector<uint64_t>{id}));
    }
    ASSERT_TRUE(log->ack(1, std::vector<uint64_t>{1}));
    ASSERT_TRUE(log->ack(2, std::vector<uint64_t>{1}));
    ASSERT_TRUE(log->flush());
    EXPECT_EQ(log->segments().front().segment, first);
    ASSERT_TRUE(log->ack(3, std::vector<uint64_t>{1}));
    ASSERT_TRUE(log->flush());
    EXPECT_NE(log->segments().front().segment, first);
}

TEST_F(SegmentLogTest, GroupCommitBatchesFsyncs) {
    fenv.sync_delay = std::chrono::milliseconds(2);  // a realistic disk
    std::atomic<uint64_t> callbacks{0}, last_durable{0};
    segment_log_options o;
    o.background_flush = true;
    o.on_durable = [&](uint64_t seq) {
        ++callbacks;
        last_durable = seq;
    };
    auto r = segment_log::open(&fenv, dir, o, nullptr);
    ASSERT_TRUE(r);
    auto& log = *r;
    fenv.reset_counters();
    constexpr uint64_t n = 20000;
    uint64_t last = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t id = 1; id <= n; ++id) last = put(*log, id, {1}, 100).seq;
    ASSERT_TRUE(log->flush());
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0);
    EXPECT_GE(log->durable_seq(), last);
    EXPECT_EQ(last_durable.load(), last);
    uint64_t fsyncs = fenv.file_syncs();
    std::printf(
        "group commit: %llu appends, %llu fsyncs (%.1f appends per fsync), %llu batches, "
        "%.1f ms\n",
        static_cast<unsigned long long>(n), static_cast<unsigned long long>(fsyncs),
        static_cast<double>(n) / static_cast<double>(std::max<uint64_t>(fsyncs, 1)),
        static_cast<unsigned long long>(callbacks.load()), ms.count());
    EXPECT_GE(fsyncs, 1u);
    EXPECT_LT(fsyncs * 20, n);  // at least 20 messages per fsync
}

TEST_F(SegmentLogTest, OnDurableCallbackRunsOnlyAfterFsync) {
    auto log = open();
    auto a = put(*log, 1);
    bool fired = false;
    log->on_durable(a.seq, [&] { fired = true; });
    EXPECT_FALSE(fired);
    uint64_t syncs = fenv.file_syncs();
    ASSERT_TRUE(log->flush());
    EXPECT_TRUE(fired);
    EXPECT_GT(fenv.file_syncs(), syncs);
    bool now = false;
    log->on_durable(a.seq, [&] { now = true; });  // already durable: runs at once
    EXPECT_TRUE(now);
}

TEST_F(SegmentLogTest, CrashLosesOnlyUnsyncedMessages) {
    {
        auto log = open();
        for (uint64_t id = 1; id <= 3; ++id) put(*log, id);
        ASSERT_TRUE(log->flush());  // confirmed
        put(*log, 4);
        put(*log, 5);
        EXPECT_LT(log->durable_seq(), log->last_seq());
        fenv.fail_syncs = true;  // power goes before the next fsync completes
    }
    fenv.drop_unsynced_data();
    fenv.fail_syncs = false;
    auto log = open();
    EXPECT_EQ(recovered_ids(1), (std::vector<uint64_t>{1, 2, 3}));
}

TEST_F(SegmentLogTest, AShortWriteStallsTheLogAndACrashMeanwhileCutsTheTornRecord) {
    {
        auto log = open();
        put(*log, 1);
        ASSERT_TRUE(log->flush());
        fenv.write_budget = static_cast<int64_t>(fenv.bytes_written() + 30);
        put(*log, 2);
        auto s = log->flush();
        ASSERT_FALSE(s);
        EXPECT_TRUE(log->health()) << "a failed write is retried, not fatal";
        ASSERT_TRUE(log->stalled());
        EXPECT_EQ(log->durable_seq(), 1u);
        // Appends are still taken (publishers are blocked upstream) and read from memory.
        auto more = log->append_message(3, std::vector<uint64_t>{1}, body_for(3, 40));
        ASSERT_TRUE(more);
        EXPECT_EQ(*log->read(more->pos), body_for(3, 40));
    }  // crash while the disk is full: nothing after 1 was confirmed
    fenv.write_budget = -1;
    auto log = open();
    EXPECT_EQ(recovered_ids(1), (std::vector<uint64_t>{1}));
    // The torn record is cut at recovery, unless the closing flush's retry already truncated it.
    EXPECT_LE(rec.stats.torn_tails, 1u);
}

// A write that fails (full disk), an open that fails (no file descriptors) or an fsync that
// fails: the flusher retries with back-off, nothing is confirmed until it succeeds, and then
// every record is on disk exactly once, with no torn bytes of the failed attempts in between.
TEST_F(SegmentLogTest, FailedWritesOpensAndSyncsAreRetriedUntilTheySucceed) {
    for (int kind = 0; kind < 3; ++kind) {
        SCOPED_TRACE(kind == 0 ? "short write" : kind == 1 ? "open" : "fsync");
        std::filesystem::remove_all(dir);
        segment_log_options o;
        o.background_flush = true;
        o.segment_size = 4096;  // rolls over often: opens happen
        o.retry_min = std::chrono::milliseconds(1);
        o.retry_max = std::chrono::milliseconds(20);
        std::atomic<int> stalled{0}, resumed{0};
        o.on_stalled = [&](const error&) { ++stalled; };
        o.on_resumed = [&] { ++resumed; };
        std::atomic<uint64_t> durable{0};
        o.on_durable = [&](uint64_t seq) { durable = seq; };
        auto opened = segment_log::open(&fenv, dir, o, &rec);
        ASSERT_TRUE(opened);
        auto log = std::move(*opened);
        uint64_t id = 0;
        for (; id < 50; ++id) put(*log, id + 1, {1}, 100);
        ASSERT_TRUE(log->flush());
        if (kind == 0) fenv.write_budget = static_cast<int64_t>(fenv.bytes_written() + 250);
        if (kind == 1) fenv.fail_opens = true;
        if (kind == 2) fenv.fail_syncs = true;
        uint64_t last = 0;
        for (; id < 150; ++id) last = put(*log, id + 1, {1}, 100).seq;
        const auto deadline =
            std::chrono::steady_clock::now() + test::scaled(std::chrono::seconds(10));
        while (!log->stalled() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ASSERT_TRUE(log->stalled());
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a few retries fail too
        EXPECT_LT(durable.load(), last);
        EXPECT_EQ(stalled.load(), 1);
        EXPECT_EQ(resumed.load(), 0);
        fenv.write_budget = -1;  // space freed, descriptors back, the disk healthy again
        fenv.fail_opens = false;
        fenv.fail_syncs = false;
        while (durable.load() < last && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ASSERT_EQ(durable.load(), last);
        EXPECT_EQ(resumed.load(), 1);
        EXPECT_FALSE(log->stalled());
        // Still writing after the recovery.
        for (; id < 160; ++id) last = put(*log, id + 1, {1}, 100).seq;
        ASSERT_TRUE(log->flush());
        log.reset();
        fenv.drop_unsynced_data();  // and a power loss right after: all of it was synced
        auto again = open(false, 4096);
        std::vector<uint64_t> want(160);
        for (uint64_t i = 0; i < 160; ++i) want[i] = i + 1;
        EXPECT_EQ(recovered_ids(1), want);
        EXPECT_EQ(rec.stats.torn_tails, 0u);
        EXPECT_EQ(rec.stats.corrupt_regions, 0u);
        for (auto& m : rec.queues[1]) {
            auto r = again->read_message(m.message_id);
            ASSERT_TRUE(r) << m.message_id;
        }
    }
}

TEST_F(SegmentLogTest, ReadMessagesBatchesMatchOneByOneReads) {
    auto log = open(false, 4096);  // many segments
    for (uint64_t id = 1; id <= 300; ++id) put(*log, id, {1}, 20 + (id * 37) % 300);
    ASSERT_TRUE(log->flush());
    for (uint64_t id = 301; id <= 320; ++id) put(*log, id, {1}, 50);  // still in memory
    // Settle most of the early ones and compact, so some records move.
    std::vector<uint64_t> acked;
    for (uint64_t id = 1; id <= 200; ++id)
        if (id % 5 != 0) acked.push_back(id);
    ASSERT_TRUE(log->ack(1, acked));
    ASSERT_TRUE(log->flush());
    while (true) {
        auto more = log->compact();
        ASSERT_TRUE(more);
        if (!*more) break;
    }
    ASSERT_TRUE(log->flush());
    std::vector<uint64_t> ids;
    for (uint64_t id = 320; id >= 1; --id) ids.push_back(id);  // out of order, some gone
    ids.push_back(99999);                                      // never written
    auto batch = log->read_messages(ids);
    ASSERT_EQ(batch.size(), ids.size());
    size_t found = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
        auto one = log->read_message(ids[i]);
        ASSERT_EQ(bool(batch[i]), bool(one)) << ids[i];
        if (one) {
            ++found;
            EXPECT_EQ(*batch[i], *one) << ids[i];
            EXPECT_EQ(*batch[i], body_for(ids[i], ids[i] > 300 ? 50 : 20 + (ids[i] * 37) % 300));
        } else {
            EXPECT_EQ(batch[i].error().code, errc::not_found) << ids[i];
        }
    }
    EXPECT_EQ(found, 320u - acked.size());
}

TEST_F(SegmentLogTest, ConcurrentAppendsAndReadsWithBackgroundFlusher) {
    auto log = open(true, 64 * 1024);
    std::vector<segment_log::appended> a(5000);
    std::atomic<size_t> done{0};
    std::thread reader([&] {
        size_t checked = 0;
        while (checked < a.size()) {
            size_t upto = done.load(std::memory_order_acquire);
            for (; checked < upto; ++checked) {
                auto r = log->read(a[checked].pos);
                ASSERT_TRUE(r) << r.error().text;
                ASSERT_EQ(*r, body_for(checked + 1, 60));
            }
        }
    });
    for (uint64_t id = 1; id <= a.size(); ++id) {
        a[id - 1] = put(*log, id, {1}, 60);
        done.store(id, std::memory_order_release);
    }
    reader.join();
    ASSERT_TRUE(log->flush());
    EXPECT_EQ(log->durable_seq(), a.back().seq);
}

TEST_F(SegmentLogTest, Recovery100kSmallRecords) {
    constexpr uint64_t n = 100000;
    {
        auto log = open(false, 4 << 20);
        std::vector<uint64_t> acked;
        for (uint64_t id = 1; id <= n; ++id) {
            put(*log, id, {id % 8}, 48);
            if (id % 2 == 0) acked.push_back(id);
            if (acked.size() == 1000) {
                for (auto m : acked) ASSERT_TRUE(log->ack(m % 8, std::vector<uint64_t>{m}));
                acked.clear();
            }
        }
        ASSERT_TRUE(log->flush());
    }
    auto t0 = std::chrono::steady_clock::now();
    auto log = open(false, 4 << 20);
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0);
    std::printf("recovery of %llu records (%llu live): %.1f ms; %s\n",
                static_cast<unsigned long long>(rec.stats.records),
                static_cast<unsigned long long>(rec.stats.messages), ms.count(),
                rec.stats.summary().c_str());
    EXPECT_EQ(rec.stats.messages, n / 2);
    uint64_t total = 0;
    for (auto& [q, msgs] : rec.queues) {
        total += msgs.size();
        for (size_t i = 1; i < msgs.size(); ++i)
            EXPECT_LT(msgs[i - 1].message_id, msgs[i].message_id);
    }
    EXPECT_EQ(total, n / 2);
}

TEST_F(SegmentLogTest, CompactionMovesLiveMessagesAndDeletesSparseSegments) {
    std::vector<uint64_t> live;
    {
        auto log = open(false, 4096);
        std::vector<uint64_t> dead;
        for (uint64_t id = 1; id <= 300; ++id) {
            put(*log, id, {1}, 60);
            (id % 10 == 0 ? live : dead).push_back(id);
        }
        ASSERT_TRUE(log->ack(1, dead));
        ASSERT_TRUE(log->flush());
        size_t before = log->segments().size();
        int steps = 0;
        for (;;) {
            auto more = log->compact();
            ASSERT_TRUE(more);
            if (!*more) break;
            ASSERT_LT(++steps, 1000);
        }
        ASSERT_TRUE(log->flush());
        EXPECT_GT(log->stats().relocated, 0u);
        size_t after = log->segments().size();
        std::printf("compaction: %zu segments -> %zu, %llu records copied\n", before, after,
                    static_cast<unsigned long long>(log->stats().relocated));
        EXPECT_LE(after, 3u);
        for (uint64_t id : live) {
            auto r = log->read_message(id);
            ASSERT_TRUE(r) << id << ": " << r.error().text;
            EXPECT_EQ(*r, body_for(id, 60));
        }
        EXPECT_FALSE(log->read_message(1));
    }
    auto log = open(false, 4096);
    EXPECT_EQ(recovered_ids(1), live);
    for (const auto& m : rec.queues[1]) EXPECT_EQ(*log->read(m.pos), body_for(m.message_id, 60));
}

TEST_F(SegmentLogTest, CompactionCopySupersedesOriginalLeftAfterCrash) {
    std::map<std::string, std::string> backup;
    {
        auto log = open(false, 4096);
        std::vector<uint64_t> ack1, ack2;
        for (uint64_t id = 1; id <= 200; ++id) {
            put(*log, id, {1, 2}, 60);
            if (id % 10 != 0) ack1.push_back(id);                  // q1 keeps 10, 20, ...
            if (id % 10 != 0 && id % 10 != 5) ack2.push_back(id);  // q2 keeps 5, 10, 15, ...
        }
        ASSERT_TRUE(log->ack(1, ack1));
        ASSERT_TRUE(log->ack(2, ack2));
        ASSERT_TRUE(log->flush());
        for (auto& n : segment_files()) backup[n] = testing::slurp(dir + "/" + n);
        while (*log->compact()) {
        }
        ASSERT_TRUE(log->flush());
        ASSERT_GT(log->stats().relocated, 0u);
        // Settled after the copies were made.
        ASSERT_TRUE(log->ack(2, std::vector<uint64_t>{5}));
        ASSERT_TRUE(log->ack(1, std::vector<uint64_t>{10}));
        ASSERT_TRUE(log->flush());
    }
    // As if the deletions of the compacted segments never reached the disk.
    size_t restored = 0;
    for (auto& [n, bytes] : backup) {
        if (std::filesystem::exists(dir + "/" + n)) continue;
        std::ofstream(dir + "/" + n, std::ios::binary) << bytes;
        ++restored;
    }
    ASSERT_GT(restored, 0u);
    auto log = open(false, 4096);
    std::vector<uint64_t> want1, want2;
    for (uint64_t id = 20; id <= 200; id += 10) want1.push_back(id);
    for (uint64_t id = 10; id <= 200; id += 5) want2.push_back(id);
    EXPECT_EQ(recovered_ids(1), want1);
    EXPECT_EQ(recovered_ids(2), want2);
    for (const auto& [q, msgs] : rec.queues)
        for (const auto& m : msgs) EXPECT_EQ(*log->read(m.pos), body_for(m.message_id, 60));
}

TEST_F(SegmentLogTest, BackgroundFlusherCompactsWhenIdle) {
    auto log = open(true, 4096);
    std::vector<uint64_t> dead;
    for (uint64_t id = 1; id <= 400; ++id) {
        put(*log, id, {1}, 60);
        if (id % 20 != 0) dead.push_back(id);
    }
    ASSERT_TRUE(log->ack(1, dead));
    ASSERT_TRUE(log->flush());
    auto deadline = std::chrono::steady_clock::now() + test::scaled(std::chrono::seconds(10));
    while (log->segments().size() > 4 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_LE(log->segments().size(), 4u);
    for (uint64_t id = 20; id <= 400; id += 20) EXPECT_EQ(*log->read_message(id), body_for(id, 60));
}

TEST_F(SegmentLogTest, CompactionIsNotStarvedBySustainedLoad) {
    auto log = open(true, 4096);
    std::vector<uint64_t> dead;
    for (uint64_t id = 1; id <= 200; ++id) {
        put(*log, id, {1}, 60);
        if (id % 20 != 0) dead.push_back(id);
    }
    ASSERT_TRUE(log->flush());
    uint64_t first = log->segments().front().segment;
    // Sustained load that never lets the flusher go idle: each batch's durability callback
    // (run on the flusher before it looks for more work) appends the next message and its
    // ack, so every time the flusher looks, the next batch is waiting. Only once this load
    // runs do the old segments become sparse, so the idle path cannot be what compacts them.
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> batches{0};
    uint64_t id = 1000;
    std::function<void()> next = [&] {
        if (stop.load()) return;
        ++batches;
        put(*log, id, {2}, 60);
        auto seq = log->ack(2, std::vector<uint64_t>{id++});
        if (seq) log->on_durable(*seq, next);
    };
    next();
    while (batches.load() < 10) std::this_thread::yield();
    ASSERT_TRUE(log->ack(1, dead));
    auto deadline = std::chrono::steady_clock::now() + test::scaled(std::chrono::seconds(20));
    while (log->segments().front().segment == first && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_NE(log->segments().front().segment, first);
    stop = true;
    ASSERT_TRUE(log->flush());
    EXPECT_GT(batches.load(), 10u);
    for (uint64_t m = 20; m <= 200; m += 20) EXPECT_EQ(*log->read_message(m), body_for(m, 60));
    log.reset();
    log = open(true, 4096);
    std::vector<uint64_t> want;
    for (uint64_t m = 20; m <= 200; m += 20) want.push_back(m);
    EXPECT_EQ(recovered_ids(1), want);
    EXPECT_TRUE(recovered_ids(2).empty());
}

TEST_F(SegmentLogTest, RandomCorruptionNeverServesABadMessage) {
    {
        auto log = open();
        for (uint64_t id = 1; id <= 50; ++id) put(*log, id, {1}, 20 + id);
        ASSERT_TRUE(log->flush());
    }
    std::string path = first_segment_path();
    std::string name = segment_files().front();
    std::string original = testing::slurp(path);
    std::mt19937 rng(12345);
    for (int iter = 0; iter < 300; ++iter) {
        for (auto& n : segment_files()) std::filesystem::remove(dir + "/" + n);
        std::string bytes = original;
        int kind = iter % 3;
        if (kind == 0) {  // flip a byte
            size_t at = lf::header_size + rng() % (bytes.size() - lf::header_size);
            bytes[at] = static_cast<char>(bytes[at] ^ (1 + rng() % 255));
        } else if (kind == 1) {  // overwrite a stretch with garbage
            size_t at = lf::header_size + rng() % (bytes.size() - lf::header_size);
            size_t n = std::min<size_t>(1 + rng() % 64, bytes.size() - at);
            for (size_t i = 0; i < n; ++i) bytes[at + i] = static_cast<char>(rng());
        } else {  // cut short and append garbage
            bytes.resize(lf::header_size + rng() % (bytes.size() - lf::header_size));
            size_t n = rng() % 100;
            for (size_t i = 0; i < n; ++i) bytes.push_back(static_cast<char>(rng()));
        }
        { std::ofstream(path, std::ios::binary) << bytes; }
        auto log = open();
        ASSERT_NE(log, nullptr) << iter;
        uint64_t prev = 0;
        for (const auto& m : rec.queues[1]) {
            ASSERT_GT(m.message_id, prev);
            ASSERT_LE(m.message_id, 50u);
            prev = m.message_id;
            auto r = log->read(m.pos);
            ASSERT_TRUE(r) << iter << " id " << m.message_id;
            ASSERT_EQ(*r, body_for(m.message_id, 20 + m.message_id)) << iter;
        }
        if (kind == 0) {
            EXPECT_GE(rec.queues[1].size(), 49u) << iter;
        }
    }
}

TEST_F(SegmentLogTest, AppendMessageFieldsEncodesInPlace) {
    std::string body(5000, 'q');
    std::string props("\x80\x00\x02", 3);
    message_fields m{"amq.direct", "rk", props, body};
    {
        auto log = open();
        auto a = log->append_message(7, std::vector<uint64_t>{1}, m);
        ASSERT_TRUE(a);
        EXPECT_EQ(*log->read(a->pos), encode_message(m));
        ASSERT_TRUE(log->flush());
    }
    auto log = open();
    auto bytes = log->read_message(7);
    ASSERT_TRUE(bytes);
    auto back = decode_message(*bytes);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->exchange, "amq.direct");
    EXPECT_EQ(back->routing_key, "rk");
    EXPECT_EQ(back->properties, m.properties);
    EXPECT_EQ(back->body, body);
}

}  // namespace
}  // namespace warren::store
