#include "tools/perf/report.h"

#include <gtest/gtest.h>

namespace warren::perf {
namespace {

TEST(PerfReport, FormatsDurations) {
    EXPECT_EQ(format_ns(999), "999 ns");
    EXPECT_EQ(format_ns(1500), "1.5 us");
    EXPECT_EQ(format_ns(2345678), "2.35 ms");
    EXPECT_EQ(format_ns(3200000000ull), "3.20 s");
}

TEST(PerfReport, ThroughputCountsConsumedPlusQueueGrowth) {
    run_summary s;
    s.duration_s = 2;
    s.received = 1000;
    s.depth_known = true;
    s.depth_start = 10;
    s.depth_end = 510;
    EXPECT_DOUBLE_EQ(s.throughput(), 750);
    s.depth_known = false;
    EXPECT_DOUBLE_EQ(s.throughput(), 500);
    s.published = 1000;
    s.cpu_s = 0.001;
    EXPECT_DOUBLE_EQ(s.cpu_ns_per_message(), 500);
}

TEST(PerfReport, JsonHasTheNumbersTestsRelyOn) {
    run_summary s;
    s.published = 3000;
    s.received = 3000;
    s.duration_s = 1.5;
    histogram h;
    h.record(1000);
    h.record(2000);
    s.latency = summarize(h);
    auto j = summary_json(s);
    EXPECT_EQ(j["sent"], 3000);
    EXPECT_EQ(j["received"], 3000);
    EXPECT_EQ(j["latency_ns"]["count"], 2);
    EXPECT_EQ(j["latency_ns"]["max"], 2000);
    EXPECT_TRUE(j["errors"].is_array());
    EXPECT_TRUE(j["queue_depth_end"].is_null());
    EXPECT_TRUE(j["queue_depth_after_close"].is_null());
    s.depth_known = s.depth_after_close_known = true;
    s.depth_end = 1200;
    s.depth_after_close = 5200;
    EXPECT_EQ(summary_json(s)["queue_depth_end"], 1200) << "read with the clients connected";
    EXPECT_EQ(summary_json(s)["queue_depth_after_close"], 5200);
    EXPECT_NE(format_summary(s).find("1200 at end, 5200 after the clients closed"),
              std::string::npos);
    s.depth_known = s.depth_after_close_known = false;
    EXPECT_DOUBLE_EQ(j["send_rate"].get<double>(), 2000);
    EXPECT_TRUE(j["tls"].is_null()) << "plain connection";
    s.tls = "TLSv1.3 TLS_AES_256_GCM_SHA384, certificate not verified";
    EXPECT_EQ(summary_json(s)["tls"], s.tls);
    EXPECT_NE(format_summary(s).find("TLSv1.3"), std::string::npos);
}

TEST(PerfReport, PerConsumerResults) {
    run_summary s;
    s.consumers = 2;
    s.expected = 2000;
    s.consumer_results.push_back({1000, 0.5, 0.0123});
    s.consumer_results.push_back({1000, 2.0, -1});
    EXPECT_DOUBLE_EQ(s.consumer_results[0].rate(), 2000);
    auto j = summary_json(s);
    ASSERT_EQ(j["consumer_results"].size(), 2u);
    EXPECT_EQ(j["consumer_results"][0]["received"], 1000);
    EXPECT_DOUBLE_EQ(j["consumer_results"][0]["receive_rate"].get<double>(), 2000);
    EXPECT_NEAR(j["consumer_results"][0]["first_delivery_ms"].get<double>(), 12.3, 1e-9);
    EXPECT_TRUE(j["consumer_results"][1]["first_delivery_ms"].is_null()) << "none arrived";
    std::string t = format_summary(s);
    EXPECT_NE(t.find("1000 msg in 0.500 s (2000 msg/s), first delivery after 12.3 ms"),
              std::string::npos)
        << t;
    EXPECT_NE(t.find("first delivery none"), std::string::npos);
    EXPECT_TRUE(summary_json(run_summary{})["consumer_results"].is_array());
}

TEST(PerfReport, LiveLineShowsRatesAndLatency) {
    histogram h;
    h.record(500000);
    std::string line = format_live_line(3, 1000, 0, 990, false, h, 0);
    EXPECT_NE(line.find("sent"), std::string::npos);
    EXPECT_NE(line.find("1000 msg/s"), std::string::npos);
    EXPECT_NE(line.find("p50 500.0 us"), std::string::npos);
    EXPECT_EQ(line.find("confirmed"), std::string::npos);
    EXPECT_NE(format_live_line(1, 1, 1, 1, true, h, 1).find("blocked"), std::string::npos);
}

TEST(PerfReport, SummaryTextListsErrors) {
    run_summary s;
    s.errors.push_back("consumer 0: broker closed the channel: 404 NOT_FOUND");
    std::string t = format_summary(s);
    EXPECT_NE(t.find("404 NOT_FOUND"), std::string::npos);
}

}  // namespace
}  // namespace warren::perf
