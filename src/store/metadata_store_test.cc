// metadata_store: the topology as snapshot (topology.json) + metadata log (topology.log).
// Tests are named after the failure they cover.

#include "store/metadata_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "store/crc32c.h"
#include "store/fault_env.h"
#include "store/log_format.h"
#include "store/metadata_log.h"
#include "store/test_util.h"

namespace warren::store {
namespace {

topology base() {
    topology t;
    vhost_def v;
    v.name = "/";
    v.exchanges.push_back(exchange_def{"x", "topic", false, false, {}});
    v.queues.push_back(queue_def{"q1", 1, false, {}});
    v.bindings.push_back(binding_def{"x", "q1", false, "a.#", {}});
    t.vhosts.push_back(v);
    t.next_queue_id = 2;
    return t;
}

topology_change put_queue(std::string name, uint64_t id) {
    topology_change c;
    c.kind = topology_change::op::put_queue;
    c.vhost = "/";
    c.queue = queue_def{std::move(name), id, false, {}};
    core::set(c.queue.args, "x-max-length", core::field_value{int64_t{7}});
    return c;
}

topology_change bind(std::string q, std::string key, bool del = false) {
    topology_change c;
    c.kind = del ? topology_change::op::delete_binding : topology_change::op::put_binding;
    c.vhost = "/";
    c.binding = binding_def{"x", std::move(q), false, std::move(key), {}};
    return c;
}

std::string read_all(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}

void write_all(const std::string& p, const std::string& bytes) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f << bytes;
}

class MetadataLogTest : public ::testing::Test {
protected:
    MetadataLogTest() : fenv(posix_env()) {}
    std::string dir() const { return tmp.path() + "/meta"; }
    // A store with base() compacted and then `n` appended records (q2.., one per record).
    std::unique_ptr<metadata_store> with_records(int n) {
        auto m = std::make_unique<metadata_store>(&fenv, dir());
        EXPECT_TRUE(m->load());
        EXPECT_TRUE(m->compact(base()));
        for (int i = 0; i < n; ++i) {
            topology_change c = put_queue("q" + std::to_string(i + 2), i + 2);
            EXPECT_TRUE(m->append(std::span<const topology_change>(&c, 1)));
        }
        return m;
    }
    result<std::optional<topology>> reload(metadata_load_stats* st = nullptr) {
        metadata_store m(&fenv, dir());
        return m.load(st);
    }
    testing::temp_dir tmp;
    fault_env fenv;
};

TEST_F(MetadataLogTest, AppendedChangesAreReplayedOnTopOfTheSnapshot) {
    auto m = with_records(0);
    std::vector<topology_change> batch = {put_queue("q2", 2), bind("q2", "b"),
                                          bind("q1", "a.#", true)};
    fenv.reset_counters();
    ASSERT_TRUE(m->append(batch));
    EXPECT_EQ(fenv.file_syncs(), 1u);  // one fdatasync per save, no rename, no dir sync
    EXPECT_EQ(fenv.dir_syncs(), 0u);
    topology want = base();
    for (auto& c : batch) apply_change(want, c);
    metadata_load_stats st;
    auto r = reload(&st);
    ASSERT_TRUE(r) << r.error().text;
    ASSERT_TRUE(r->has_value());
    EXPECT_EQ(**r, want);
    EXPECT_EQ(st.records, 1u);
    EXPECT_EQ(want.vhosts[0].bindings.size(), 1u);  // a.# gone, b added
}

TEST_F(MetadataLogTest, CompactionFoldsTheLogIntoTheSnapshot) {
    auto m = with_records(3);
    auto before = reload();
    ASSERT_TRUE(before && before->has_value());
    const uint64_t log_before = m->log_bytes();
    ASSERT_TRUE(m->compact(**before));
    EXPECT_LT(m->log_bytes(), log_before);
    EXPECT_EQ(m->log_bytes(), metadata_log::header_size);
    metadata_load_stats st;
    auto after = reload(&st);
    ASSERT_TRUE(after && after->has_value());
    EXPECT_EQ(st.records, 0u);
    EXPECT_EQ((*after)->vhosts, (*before)->vhosts);
    EXPECT_NE(read_all(dir() + "/topology.json").find("\"log_generation\": 2"), std::string::npos);
}

TEST_F(MetadataLogTest, TruncatedTrailingRecordIsCut) {
    with_records(2);
    const std::string log = dir() + "/topology.log";
    std::string bytes = read_all(log);
    write_all(log, bytes.substr(0, bytes.size() - 5));  // a crash mid-append
    metadata_load_stats st;
    auto r = reload(&st);
    ASSERT_TRUE(r) << r.error().text;
    EXPECT_EQ(st.records, 1u);
    EXPECT_GT(st.torn_bytes, 0u);
    auto& qs = (*r)->vhosts[0].queues;
    ASSERT_EQ(qs.size(), 2u);
    EXPECT_EQ(qs[1].name, "q2");
}

TEST_F(MetadataLogTest, ZeroFilledTailIsCut) {
    with_records(1);
    const std::string log = dir() + "/topology.log";
    write_all(log, read_all(log) + std::string(300, '\0'));  // size extended, data never written
    metadata_load_stats st;
    auto r = reload(&st);
    ASSERT_TRUE(r) << r.error().text;
    EXPECT_EQ(st.records, 1u);
    EXPECT_EQ(st.torn_bytes, 300u);
}

TEST_F(MetadataLogTest, ChecksumMismatchInTheLastRecordIsCutAsATornTail) {
    with_records(2);
    const std::string log = dir() + "/topology.log";
    std::string bytes = read_all(log);
    bytes[bytes.size() - 3] ^= 0x20;
    write_all(log, bytes);
    metadata_load_stats st;
    auto r = reload(&st);
    ASSERT_TRUE(r) << r.error().text;
    EXPECT_EQ(st.records, 1u);
    EXPECT_GT(st.torn_bytes, 0u);
}

TEST_F(MetadataLogTest, ChecksumMismatchInTheMiddleRefusesToLoad) {
    with_records(3);
    const std::string log = dir() + "/topology.log";
    std::string bytes = read_all(log);
    bytes[metadata_log::header_size + log_format::record_header_size + 4] ^= 0x01;  // record 1
    write_all(log, bytes);
    auto r = reload();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::corruption);
    EXPECT_NE(r.error().text.find(log), std::string::npos);
    EXPECT_NE(r.error().text.find("good records follow"), std::string::npos);
}

TEST_F(MetadataLogTest, BadHeaderRefusesToLoad) {
    with_records(1);
    const std::string log = dir() + "/topology.log";
    std::string bytes = read_all(log);
    bytes[9] ^= 0x01;  // generation byte: header checksum fails
    write_all(log, bytes);
    auto r = reload();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::corruption);
    write_all(log, "WRN");  // shorter than a header
    EXPECT_FALSE(reload());
}

TEST_F(MetadataLogTest, NewerLogVersionRefusesToLoad) {
    with_records(1);
    const std::string log = dir() + "/topology.log";
    std::string bytes = read_all(log);
    bytes[6] = 2;  // format_version 2, with a valid header checksum
    std::string crc;
    log_format::put_u32(crc, crc32c::mask(crc32c::value(bytes.data(), 20)));
    bytes.replace(20, 4, crc);
    write_all(log, bytes);
    auto r = reload();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::unsupported_version);
    EXPECT_NE(r.error().text.find("Refusing to start"), std::string::npos);
}

TEST_F(MetadataLogTest, UnknownRecordTypeOrOperationRefusesToLoad) {
    with_records(0);
    const std::string log = dir() + "/topology.log";
    const std::string good = read_all(log);
    std::string bytes = good;
    metadata_log::append_record(bytes, static_cast<metadata_log::record_type>(9), "[]");
    write_all(log, bytes);
    auto r = reload();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::unsupported_version);

    bytes = good;
    metadata_log::append_record(bytes, metadata_log::record_type::changes,
                                R"([{"op": "put_stream", "vhost": "/"}])");
    write_all(log, bytes);
    r = reload();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::unsupported_version);

    bytes = good;
    metadata_log::append_record(bytes, metadata_log::record_type::changes, "{ not json");
    write_all(log, bytes);
    r = reload();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::corruption);
}

TEST_F(MetadataLogTest, TopologyJsonWithoutALogStillLoads) {
    // A data dir written before the metadata log existed: topology.json alone, no
    // log_generation.
    std::filesystem::create_directories(dir());
    write_all(dir() + "/topology.json", R"({
  "format_version": 1, "next_queue_id": 4,
  "vhosts": [{"name": "/", "exchanges": [{"name": "x", "type": "direct", "auto_delete": false,
               "internal": false, "arguments": []}],
              "queues": [{"name": "q", "id": 3, "auto_delete": false,
                          "arguments": [["x-max-length", {"type": "int64", "value": 5}]]}],
              "bindings": [{"source": "x", "destination": "q", "destination_type": "queue",
                            "routing_key": "k", "arguments": []}],
              "policies": []}],
  "users": [], "permissions": []})");
    metadata_store m(&fenv, dir());
    auto r = m.load();
    ASSERT_TRUE(r) << r.error().text;
    ASSERT_TRUE(r->has_value());
    EXPECT_EQ((*r)->log_generation, 0u);
    EXPECT_EQ((*r)->next_queue_id, 4u);
    ASSERT_EQ((*r)->vhosts.at(0).queues.size(), 1u);
    EXPECT_EQ((*r)->vhosts[0].queues[0].id, 3u);
    EXPECT_FALSE(m.can_append());  // no log yet: the first save compacts
    ASSERT_TRUE(m.compact(**r));
    topology_change c = put_queue("q2", 4);
    ASSERT_TRUE(m.append(std::span<const topology_change>(&c, 1)));
    auto again = reload();
    ASSERT_TRUE(again && again->has_value());
    EXPECT_EQ((*again)->vhosts[0].queues.size(), 2u);
    EXPECT_EQ((*again)->vhosts[0].bindings.size(), 1u);
}

TEST_F(MetadataLogTest, StaleLogAfterAnInterruptedCompactionIsIgnored) {
    auto m = with_records(1);
    const std::string log = dir() + "/topology.log";
    const std::string old_log = read_all(log);  // generation 1, with q2
    auto t = reload();
    ASSERT_TRUE(t && t->has_value());
    ASSERT_TRUE(m->compact(**t));  // generation 2
    write_all(log, old_log);       // as if the crash came between the snapshot and the new log
    metadata_load_stats st;
    auto r = reload(&st);
    ASSERT_TRUE(r) << r.error().text;
    EXPECT_TRUE(st.stale_log);
    EXPECT_EQ(st.records, 0u);
    EXPECT_EQ((*r)->vhosts, (*t)->vhosts);
}

TEST_F(MetadataLogTest, LogNewerThanItsSnapshotRefusesToLoad) {
    auto m = with_records(0);
    const std::string snap = dir() + "/topology.json";
    const std::string old_snap = read_all(snap);  // generation 1
    ASSERT_TRUE(m->compact(base()));              // generation 2, log generation 2
    write_all(snap, old_snap);
    auto r = reload();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::corruption);
}

TEST_F(MetadataLogTest, FailedAppendIsRefusedUntilTheNextCompaction) {
    auto m = with_records(1);
    fenv.write_budget = static_cast<int64_t>(fenv.bytes_written() + 10);  // disk full mid-record
    topology_change c = put_queue("q9", 9);
    EXPECT_FALSE(m->append(std::span<const topology_change>(&c, 1)));
    EXPECT_FALSE(m->can_append());
    fenv.write_budget = -1;
    EXPECT_FALSE(m->append(std::span<const topology_change>(&c, 1)));  // never after a partial
    metadata_load_stats st;
    auto r = reload(&st);  // the partial record is a torn tail
    ASSERT_TRUE(r) << r.error().text;
    EXPECT_EQ(st.records, 1u);
    EXPECT_EQ((*r)->vhosts[0].queues.size(), 2u);
    ASSERT_TRUE(m->compact(**r));
    EXPECT_TRUE(m->append(std::span<const topology_change>(&c, 1)));
    EXPECT_EQ((*reload())->vhosts[0].queues.size(), 3u);
}

TEST_F(MetadataLogTest, FailedSyncFailsTheAppend) {
    auto m = with_records(0);
    fenv.fail_syncs = true;
    topology_change c = put_queue("q2", 2);
    EXPECT_FALSE(m->append(std::span<const topology_change>(&c, 1)));
    fenv.fail_syncs = false;
    EXPECT_FALSE(m->can_append());
}

TEST(TopologyChanges, EncodeDecodeRoundTripKeepsTypes) {
    std::vector<topology_change> cs = {put_queue("q", 3), bind("q", "k"), bind("q", "k", true)};
    topology_change x;
    x.kind = topology_change::op::put_exchange;
    x.vhost = "v";
    x.exchange = exchange_def{"e", "headers", true, true, {}};
    core::set(x.exchange.args, "alternate-exchange", core::field_value{std::string("ae")});
    cs.push_back(x);
    topology_change n;
    n.kind = topology_change::op::next_queue_id;
    n.value = 42;
    cs.push_back(n);
    topology_change dq;
    dq.kind = topology_change::op::delete_queue;
    dq.vhost = "/";
    dq.queue.name = "q";
    cs.push_back(dq);
    auto back = decode_changes(encode_changes(cs));
    ASSERT_TRUE(back) << back.error().text;
    EXPECT_EQ(*back, cs);
}

}  // namespace
}  // namespace warren::store
