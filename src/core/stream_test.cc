#include "core/stream.h"

#include <gtest/gtest.h>

#include "core/message_log.h"
#include "core/queue.h"
#include "core/test_consumer.h"
#include "core/vhost.h"

namespace warren::core {
namespace {

using testing::make_msg;
using testing::test_consumer;

std::shared_ptr<queue> make_stream(field_table extra = {}) {
    field_table args{{"x-queue-type", field_value{std::string("stream")}}};
    for (auto& kv : extra) args.push_back(kv);
    return std::make_shared<queue>(queue_decl{.name = "s", .durable = true, .args = args});
}

int64_t offset_of(const delivery& d) {
    return *find(*d.msg->props.headers, "x-stream-offset")->as_int();
}

TEST(Stream, MessagesStayAfterDeliveryAndEachConsumerReadsFromItsOwnOffset) {
    auto q = make_stream();
    ASSERT_TRUE(q->is_stream());
    for (int i = 0; i < 10; ++i) q->enqueue(make_msg("m" + std::to_string(i)));
    EXPECT_EQ(q->stream_state()->next_offset(), 10u);

    test_consumer a("a"), b("b", 3), c("c");
    a.args = {{"x-stream-offset", field_value{std::string("first")}}};
    b.args = {{"x-stream-offset", field_value{int64_t{4}}}};
    c.args = {};  // default: next
    ASSERT_TRUE(q->add_consumer(&a));
    ASSERT_TRUE(q->add_consumer(&b));
    ASSERT_TRUE(q->add_consumer(&c));
    q->dispatch();
    ASSERT_EQ(a.got.size(), 10u);
    EXPECT_EQ(offset_of(a.got[0]), 0);
    EXPECT_EQ(offset_of(a.got[9]), 9);
    ASSERT_EQ(b.got.size(), 3u);  // credit: 3
    EXPECT_EQ(b.bodies(), (std::vector<std::string>{"m4", "m5", "m6"}));
    EXPECT_TRUE(c.got.empty());

    q->enqueue(make_msg("m10"));
    EXPECT_EQ(a.got.size(), 11u);
    ASSERT_EQ(c.got.size(), 1u);
    EXPECT_EQ(offset_of(c.got[0]), 10);
    b.credit = 100;  // credit back (an ack): it goes on where it stopped
    q->dispatch();
    EXPECT_EQ(b.got.size(), 7u);
    EXPECT_EQ(offset_of(b.got.back()), 10);
    // An ack removes nothing.
    q->ack(a.got[0].seq);
    EXPECT_EQ(q->stream_state()->message_count(), 11u);
    EXPECT_FALSE(q->get().has_value());
    q->remove_consumer(&a);
    q->remove_consumer(&b);
    q->remove_consumer(&c);
}

TEST(Stream, LastStartsAtTheNewestMessageAndABadOffsetIsRefused) {
    auto q = make_stream();
    for (int i = 0; i < 5; ++i) q->enqueue(make_msg("m" + std::to_string(i)));
    test_consumer last("l");
    last.args = {{"x-stream-offset", field_value{std::string("last")}}};
    ASSERT_TRUE(q->add_consumer(&last));
    q->dispatch();
    ASSERT_EQ(last.got.size(), 1u);
    EXPECT_EQ(last.bodies()[0], "m4");
    test_consumer bad("b");
    bad.args = {{"x-stream-offset", field_value{std::string("sideways")}}};
    auto r = q->add_consumer(&bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, reply_code::precondition_failed);
    EXPECT_EQ(q->consumer_count(), 1u);
    q->remove_consumer(&last);
}

TEST(Stream, FiltersDeliverOnlyMatchingValuesAndUnfilteredOnRequest) {
    auto q = make_stream();
    auto with = [](std::string body, std::string filter) {
        auto m = std::make_shared<message>();
        m->body = std::move(body);
        if (!filter.empty())
            m->props.headers = field_table{{"x-stream-filter-value", field_value{filter}}};
        return message_ptr(m);
    };
    q->enqueue(with("r1", "red"));
    q->enqueue(with("b1", "blue"));
    q->enqueue(with("n1", ""));
    q->enqueue(with("g1", "green"));
    test_consumer red("r"), many("m");
    red.args = {{"x-stream-offset", field_value{std::string("first")}},
                {"x-stream-filter", field_value{std::string("red")}}};
    auto arr = std::make_shared<field_array>(
        field_array{field_value{std::string("blue")}, field_value{std::string("green")}});
    many.args = {{"x-stream-offset", field_value{std::string("first")}},
                 {"x-stream-filter", field_value{arr}},
                 {"x-stream-match-unfiltered", field_value{true}}};
    ASSERT_TRUE(q->add_consumer(&red));
    ASSERT_TRUE(q->add_consumer(&many));
    q->dispatch();
    EXPECT_EQ(red.bodies(), (std::vector<std::string>{"r1"}));
    EXPECT_EQ(many.bodies(), (std::vector<std::string>{"b1", "n1", "g1"}));
    q->remove_consumer(&red);
    q->remove_consumer(&many);
}

TEST(Stream, RetentionBySizeDropsWholeSegmentsAndConsumersSkipAhead) {
    auto q = make_stream({{"x-stream-max-segment-size-bytes", field_value{int64_t{1000}}},
                          {"x-max-length-bytes", field_value{int64_t{3000}}}});
    for (int i = 0; i < 100; ++i) q->enqueue(make_msg(std::string(100, 'x')));
    stream& s = *q->stream_state();
    EXPECT_GT(s.first_offset(), 0u);
    EXPECT_LE(s.bytes(), 3000u + 1000u);
    EXPECT_EQ(s.next_offset(), 100u);
    test_consumer c("c");
    c.args = {{"x-stream-offset", field_value{int64_t{0}}}};
    ASSERT_TRUE(q->add_consumer(&c));
    q->dispatch();
    ASSERT_FALSE(c.got.empty());
    EXPECT_EQ(static_cast<uint64_t>(offset_of(c.got[0])), s.first_offset());
    EXPECT_EQ(offset_of(c.got.back()), 99);
    q->remove_consumer(&c);
}

TEST(Stream, MaxAgeParsesRabbitMQsUnits) {
    EXPECT_EQ(parse_max_age("10s"), 10'000u);
    EXPECT_EQ(parse_max_age("30m"), 1'800'000u);
    EXPECT_EQ(parse_max_age("1h"), 3'600'000u);
    EXPECT_EQ(parse_max_age("7D"), 7 * 86'400'000ull);
    EXPECT_EQ(parse_max_age("1M"), 30 * 86'400'000ull);
    EXPECT_EQ(parse_max_age("1Y"), 365 * 86'400'000ull);
    EXPECT_FALSE(parse_max_age("0s"));
    EXPECT_FALSE(parse_max_age("1x"));
    EXPECT_FALSE(parse_max_age("h"));
    EXPECT_FALSE(parse_max_age("10"));
}

// A storage on "disk": reads are answered only when the test says so (read_async).
struct deferred_storage : stream_storage {
    std::unique_ptr<stream_storage> mem = memory_stream_storage(1 << 20);
    std::vector<std::function<void()>> pending;
    uint64_t append(const message& m, uint64_t ts, std::string_view f) override {
        return mem->append(m, ts, f);
    }
    std::vector<entry> read(uint64_t from, size_t n, size_t b) override {
        return mem->read(from, n, b);
    }
    bool reads_async() const override { return true; }
    void read_async(uint64_t from, size_t n, size_t b, read_done done) override {
        pending.push_back([this, from, n, b, done = std::move(done)] { done(read(from, n, b)); });
    }
    uint64_t first_offset() const override { return mem->first_offset(); }
    uint64_t next_offset() const override { return mem->next_offset(); }
    uint64_t offset_at_time(uint64_t ts) override { return mem->offset_at_time(ts); }
    uint64_t bytes() const override { return mem->bytes(); }
    size_t segment_count() const override { return mem->segment_count(); }
    void retain(uint64_t a, uint64_t b, uint64_t c) override { mem->retain(a, b, c); }
    void set_max_segment_bytes(uint64_t n) override { mem->set_max_segment_bytes(n); }
    void destroy() override { mem->destroy(); }
    void run() {
        auto p = std::move(pending);
        pending.clear();
        for (auto& f : p) f();
    }
};

struct stream_log_double : message_log {
    deferred_storage* last = nullptr;
    uint64_t write_message(const message&, std::span<const uint64_t>) override { return 1; }
    uint64_t spill(const message&, uint64_t) override { return 0; }
    uint64_t write_held(const message&, std::string_view, uint64_t, uint64_t*) override {
        return 0;
    }
    message_ptr read(uint64_t, uint64_t*) override { return nullptr; }
    void settle(uint64_t, uint64_t) override {}
    void queue_deleted(uint64_t, std::span<const uint64_t>) override {}
    uint64_t queue_memory_limit() const override { return 0; }
    std::unique_ptr<stream_storage> open_stream(uint64_t, uint64_t) override {
        auto s = std::make_unique<deferred_storage>();
        last = s.get();
        return s;
    }
};

TEST(Stream, AConsumerBehindReadsOffTheBrokerThreadAndWaitsForIt) {
    stream_log_double log;
    vhost vh{"/"};
    vh.set_storage({.log = &log});
    queue_decl d{.name = "s", .durable = true, .store_id = 3};
    d.args = {{"x-queue-type", field_value{std::string("stream")}}};
    ASSERT_TRUE(vh.declare_queue(d, 1));
    auto q = vh.find_queue("s");
    // 20 messages of 1 MiB: the tail cache (8 MiB) keeps only the newest few.
    for (int i = 0; i < 20; ++i) q->enqueue(make_msg(std::string(1 << 20, char('a' + i))));
    ASSERT_NE(log.last, nullptr);
    test_consumer c("c"), gone("g");
    c.args = {{"x-stream-offset", field_value{std::string("first")}}};
    gone.args = c.args;
    ASSERT_TRUE(q->add_consumer(&c));
    ASSERT_TRUE(q->add_consumer(&gone));
    q->dispatch();
    EXPECT_TRUE(c.got.empty()) << "offset 0 is not in memory: it must wait for the read";
    EXPECT_EQ(log.last->pending.size(), 2u);  // one read per reader, not one per dispatch
    q->dispatch();
    EXPECT_EQ(log.last->pending.size(), 2u);
    q->remove_consumer(&gone);  // its read lands after it left: dropped
    while (!log.last->pending.empty()) log.last->run();
    ASSERT_EQ(c.got.size(), 20u);
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(offset_of(c.got[i]), i);
        EXPECT_EQ(c.got[i].msg->body[0], char('a' + i));
    }
    EXPECT_TRUE(gone.got.empty());
    q->remove_consumer(&c);
}

TEST(Stream, DeletingTheQueueCancelsItsConsumers) {
    auto q = make_stream();
    test_consumer c("c");
    ASSERT_TRUE(q->add_consumer(&c));
    q->mark_deleted();
    EXPECT_EQ(c.cancelled, 1);
}

}  // namespace
}  // namespace warren::core
