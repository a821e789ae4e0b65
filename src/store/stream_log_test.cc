#include "store/stream_log.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "store/test_util.h"

namespace warren::store {
namespace {

using testing::temp_dir;

std::string data_for(uint64_t i, size_t len = 100) {
    std::string s = "record-" + std::to_string(i) + "-";
    while (s.size() < len) s.push_back(static_cast<char>('a' + (s.size() + i) % 26));
    return s;
}

class StreamLogTest : public ::testing::Test {
protected:
    std::string dir() const { return tmp.path() + "/s"; }
    std::shared_ptr<stream_log> open(uint64_t max_segment = 1 << 20, uint32_t interval = 512) {
        stream_log_options o;
        o.max_segment_bytes = max_segment;
        o.index_interval_bytes = interval;
        stats = {};
        auto r = stream_log::open(posix_env(), dir(), o, &stats);
        EXPECT_TRUE(r) << (r ? "" : r.error().text);
        return r ? *r : nullptr;
    }
    size_t seg_files() const {
        size_t n = 0;
        for (auto& e : std::filesystem::directory_iterator(dir()))
            if (e.path().extension() == ".seg") ++n;
        return n;
    }
    temp_dir tmp;
    stream_recovery_stats stats;
};

TEST_F(StreamLogTest, AppendsAndReadsFromAnyOffsetBeforeAndAfterSync) {
    auto log = open();
    for (uint64_t i = 0; i < 50; ++i) {
        auto off = log->append(1000 + i, i % 2 ? "odd" : "", data_for(i));
        ASSERT_TRUE(off);
        EXPECT_EQ(*off, i);
    }
    auto check = [&](uint64_t from, size_t n) {
        auto r = log->read(from, n, 1 << 20);
        ASSERT_TRUE(r) << r.error().text;
        ASSERT_EQ(r->size(), std::min<size_t>(n, 50 - from));
        for (size_t k = 0; k < r->size(); ++k) {
            EXPECT_EQ((*r)[k].offset, from + k);
            EXPECT_EQ((*r)[k].timestamp_ms, 1000 + from + k);
            EXPECT_EQ((*r)[k].data, data_for(from + k));
            EXPECT_EQ((*r)[k].filter, (from + k) % 2 ? "odd" : "");
        }
    };
    check(0, 10);  // still in the buffer
    check(37, 100);
    ASSERT_TRUE(log->sync());
    check(0, 50);
    check(49, 5);
    check(17, 3);
    EXPECT_TRUE(log->read(50, 10, 1 << 20)->empty());
    EXPECT_EQ(log->next_offset(), 50u);
    EXPECT_EQ(log->first_offset(), 0u);
    // max_bytes stops after the record that reaches it.
    EXPECT_EQ(log->read(0, 100, 250)->size(), 3u);
}

TEST_F(StreamLogTest, RollsSegmentsAndRecoversEveryRecordAfterReopen) {
    {
        auto log = open(4096);
        for (uint64_t i = 0; i < 200; ++i) ASSERT_TRUE(log->append(i, "", data_for(i)));
        ASSERT_TRUE(log->sync());
        EXPECT_GT(log->segments().size(), 4u);
    }
    EXPECT_GT(seg_files(), 4u);
    auto log = open(4096);
    EXPECT_EQ(stats.indexed + 1, log->segments().size());
    EXPECT_EQ(log->next_offset(), 200u);
    auto r = log->read(0, 1000, 1 << 30);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 200u);
    for (uint64_t i = 0; i < 200; ++i) EXPECT_EQ((*r)[i].data, data_for(i));
    // Appends continue after the recovered ones.
    EXPECT_EQ(*log->append(5, "", "x"), 200u);
    ASSERT_TRUE(log->sync());
    EXPECT_EQ(log->read(200, 1, 100)->at(0).data, "x");
}

TEST_F(StreamLogTest, SealedSegmentsAreRecoveredFromTheirIndexFilesWithoutAScan) {
    {
        auto log = open(4096);
        for (uint64_t i = 0; i < 200; ++i) ASSERT_TRUE(log->append(i, "", data_for(i)));
        ASSERT_TRUE(log->sync());
    }
    auto log = open(4096);
    const size_t segs = log->segments().size();
    EXPECT_EQ(stats.indexed, segs - 1);  // every sealed one
    EXPECT_LT(stats.records, 200u);      // only the newest segment was read
    auto r = log->read(0, 1000, 1 << 30);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 200u);
    EXPECT_EQ((*r)[123].data, data_for(123));
    EXPECT_EQ(*log->offset_at_time(150), 150u);
    log.reset();
    // A damaged index is not trusted: that segment is scanned (and its index written again).
    const std::string idx = dir() + "/" + std::string(20, '0') + ".idx";
    ASSERT_TRUE(std::filesystem::exists(idx));
    testing::flip_bit(idx, 20, 1);
    log = open(4096);
    EXPECT_EQ(stats.indexed, segs - 2);
    EXPECT_EQ(log->read(0, 1000, 1 << 30)->size(), 200u);
    log.reset();
    log = open(4096);
    EXPECT_EQ(stats.indexed, segs - 1);
}

TEST_F(StreamLogTest, ATornTailIsCutAndAppendsContinueFromTheLastWholeRecord) {
    std::string path;
    {
        auto log = open();
        for (uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(log->append(i, "", data_for(i)));
        ASSERT_TRUE(log->sync());
        path = dir() + "/" + std::string(20, '0') + ".seg";
    }
    const auto size = std::filesystem::file_size(path);
    testing::truncate_to(path, size - 30);  // the last record loses its end
    auto log = open();
    EXPECT_EQ(stats.records, 9u);
    EXPECT_GT(stats.bytes_truncated, 0u);
    EXPECT_EQ(log->next_offset(), 9u);
    EXPECT_EQ(*log->append(1, "", "again"), 9u);
    ASSERT_TRUE(log->sync());
    auto log2 = (log.reset(), open());
    EXPECT_EQ(log2->read(9, 1, 100)->at(0).data, "again");
}

TEST_F(StreamLogTest, ACorruptRecordEndsTheStreamThere) {
    {
        auto log = open();
        for (uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(log->append(i, "", data_for(i)));
        ASSERT_TRUE(log->sync());
    }
    const std::string path = dir() + "/" + std::string(20, '0') + ".seg";
    testing::flip_bit(path, 16 + 5 * (8 + 18 + 100) + 40, 3);  // inside record 5's data
    auto log = open();
    EXPECT_EQ(log->next_offset(), 5u);
}

TEST_F(StreamLogTest, RetentionDeletesWholeOldSegmentsBySizeAndAgeButNeverTheNewest) {
    auto log = open(4096);
    for (uint64_t i = 0; i < 300; ++i) ASSERT_TRUE(log->append(1000 + i, "", data_for(i)));
    ASSERT_TRUE(log->sync());
    const size_t before = log->segments().size();
    ASSERT_GT(before, 5u);
    auto n = log->apply_retention(3 * 4096, 0, 0);
    ASSERT_TRUE(n);
    EXPECT_GT(*n, 0u);
    EXPECT_LE(log->bytes(), 3u * 4096);
    EXPECT_EQ(seg_files(), log->segments().size());
    const uint64_t first = log->first_offset();
    EXPECT_GT(first, 0u);
    auto r = log->read(0, 1, 1 << 20);  // raised to the first kept offset
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ(r->at(0).offset, first);
    // By age: every segment whose newest record is older than now - max_age goes, except the
    // newest one.
    EXPECT_TRUE(log->apply_retention(0, 10, 1'000'000));
    EXPECT_EQ(log->segments().size(), 1u);
    EXPECT_EQ(log->next_offset(), 300u);
    // Survives a reopen.
    const uint64_t kept = log->first_offset();
    log.reset();
    log = open(4096);
    EXPECT_EQ(log->first_offset(), kept);
    EXPECT_EQ(log->next_offset(), 300u);
}

TEST_F(StreamLogTest, FindsTheFirstOffsetAtOrAfterATime) {
    auto log = open(4096, 256);
    for (uint64_t i = 0; i < 500; ++i) ASSERT_TRUE(log->append(10 * i, "", data_for(i)));
    EXPECT_EQ(*log->offset_at_time(0), 0u);
    EXPECT_EQ(*log->offset_at_time(1234), 124u);
    EXPECT_EQ(*log->offset_at_time(1240), 124u);
    EXPECT_EQ(*log->offset_at_time(4990), 499u);
    EXPECT_EQ(*log->offset_at_time(5000), 500u);  // after the last: the next one
}

TEST_F(StreamLogTest, ARecordLargerThanAReadBlockAndTheSegmentSizeIsKeptWhole) {
    auto log = open(4096);
    ASSERT_TRUE(log->append(1, "", data_for(1, 100)));
    ASSERT_TRUE(log->append(2, "", data_for(2, 600'000)));
    ASSERT_TRUE(log->append(3, "", data_for(3, 100)));
    ASSERT_TRUE(log->sync());
    auto r = log->read(0, 10, 10 << 20);
    ASSERT_TRUE(r) << r.error().text;
    ASSERT_EQ(r->size(), 3u);
    EXPECT_EQ(r->at(1).data, data_for(2, 600'000));
    EXPECT_EQ(r->at(2).data, data_for(3, 100));
}

TEST_F(StreamLogTest, ItsSyncRunsInTheSharedLogsGroupCommit) {
    segment_log_options o;
    o.background_flush = false;
    auto main = segment_log::open(posix_env(), tmp.path() + "/msgs", o, nullptr);
    ASSERT_TRUE(main);
    auto log = open();
    (*main)->add_participant(log);
    ASSERT_TRUE(log->append(1, "", "a"));
    const uint64_t seq = (*main)->note_external();
    EXPECT_GT(seq, (*main)->durable_seq());
    const auto path = dir() + "/" + std::string(20, '0') + ".seg";
    const auto before = std::filesystem::file_size(path);
    ASSERT_TRUE((*main)->flush());
    EXPECT_GE((*main)->durable_seq(), seq);
    EXPECT_GT(std::filesystem::file_size(path), before);  // written by the flush
    (*main)->remove_participant(log.get());
    ASSERT_TRUE(log->destroy());
    EXPECT_EQ(seg_files(), 0u);
}

}  // namespace
}  // namespace warren::store
