#include "tools/perf/options.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <vector>

namespace warren::perf {
namespace {

std::variant<perf_options, parse_exit> parse(std::initializer_list<const char*> args) {
    std::vector<const char*> argv{"warren-perf"};
    argv.insert(argv.end(), args.begin(), args.end());
    return parse_options(static_cast<int>(argv.size()), argv.data());
}

perf_options ok(std::initializer_list<const char*> args) {
    auto r = parse(args);
    if (auto* e = std::get_if<parse_exit>(&r)) ADD_FAILURE() << e->message;
    return std::holds_alternative<perf_options>(r) ? std::get<perf_options>(r) : perf_options{};
}

int exit_code(std::initializer_list<const char*> args) {
    auto r = parse(args);
    return std::holds_alternative<parse_exit>(r) ? std::get<parse_exit>(r).code : -1;
}

TEST(PerfOptions, Defaults) {
    perf_options o = ok({});
    EXPECT_EQ(o.producers, 1);
    EXPECT_EQ(o.consumers, 1);
    ASSERT_EQ(o.queues.size(), 1u);
    EXPECT_EQ(o.queues[0], "warren-perf");
    EXPECT_EQ(o.size, 16u);
    EXPECT_EQ(o.confirm, 0u);
    EXPECT_FALSE(o.auto_ack);
    EXPECT_EQ(o.broker.host, "127.0.0.1");
    EXPECT_EQ(o.broker.port, 5672);
    EXPECT_EQ(o.broker.vhost, "/");
    EXPECT_EQ(o.broker.user, "guest");
    EXPECT_TRUE(o.exchange.empty());
}

TEST(PerfOptions, ShortFlagsOfTheScenarios) {
    perf_options o = ok({"-x",           "2",  "-y",   "3",  "-u",   "q1",          "-s",  "1024",
                         "--persistent", "-c", "1000", "-q", "1000", "--multi-ack", "100", "-r",
                         "10000",        "-z", "30",   "-C", "5000", "--json"});
    EXPECT_EQ(o.producers, 2);
    EXPECT_EQ(o.consumers, 3);
    EXPECT_EQ(o.queues, std::vector<std::string>{"q1"});
    EXPECT_EQ(o.size, 1024u);
    EXPECT_TRUE(o.persistent);
    EXPECT_TRUE(o.durable) << "--persistent implies durable queues";
    EXPECT_EQ(o.confirm, 1000u);
    EXPECT_EQ(o.prefetch, 1000);
    EXPECT_EQ(o.multi_ack, 100u);
    EXPECT_DOUBLE_EQ(o.rate, 10000);
    EXPECT_DOUBLE_EQ(o.time_s, 30);
    EXPECT_EQ(o.pmessages, 5000u);
    EXPECT_TRUE(o.json);
    EXPECT_TRUE(ok({"-a"}).auto_ack);
}

TEST(PerfOptions, QueuePatternMakesOneQueuePerIndex) {
    perf_options o = ok({"--queues", "3", "--queue-pattern", "load-%d-q", "-x", "3", "-y", "3"});
    EXPECT_EQ(o.queues, (std::vector<std::string>{"load-0-q", "load-1-q", "load-2-q"}));
    EXPECT_EQ(o.queue_for(4), "load-1-q");
    perf_options d = ok({"--queues", "2"});
    EXPECT_EQ(d.queues, (std::vector<std::string>{"warren-perf-0", "warren-perf-1"}));
    EXPECT_NE(exit_code({"--queues", "2", "-u", "x"}), 0) << "--queues excludes --queue";
}

TEST(PerfOptions, ExchangeTypeAndRoutingKey) {
    perf_options o = ok({"--exchange", "fan", "--type", "fanout", "-k", "rk"});
    EXPECT_EQ(o.exchange, "fan");
    EXPECT_EQ(o.exchange_type, "fanout");
    EXPECT_EQ(o.routing_key, "rk");
    EXPECT_TRUE(o.routing_key_given);
    EXPECT_FALSE(ok({}).routing_key_given);
    EXPECT_NE(exit_code({"--exchange", "e", "--type", "bogus"}), 0);
    EXPECT_NE(exit_code({"--type", "fanout"}), 0) << "a fanout type needs an exchange name";
}

TEST(PerfOptions, UriAndOverrides) {
    perf_options o = ok({"--uri", "amqp://bob:s%40cret@broker.example:5673/my%2Fvhost"});
    EXPECT_EQ(o.broker.user, "bob");
    EXPECT_EQ(o.broker.password, "s@cret");
    EXPECT_EQ(o.broker.host, "broker.example");
    EXPECT_EQ(o.broker.port, 5673);
    EXPECT_EQ(o.broker.vhost, "my/vhost");
    perf_options p = ok({"--uri", "amqp://bob:pw@h:1/v", "-h", "other", "--port", "2", "--vhost",
                         "w", "--user", "u", "--password", "p"});
    EXPECT_EQ(p.broker.host, "other");
    EXPECT_EQ(p.broker.port, 2);
    EXPECT_EQ(p.broker.vhost, "w");
    EXPECT_EQ(p.broker.user, "u");
    EXPECT_EQ(p.broker.password, "p");
    EXPECT_EQ(exit_code({"--uri", "http://x"}), 2);
}

TEST(PerfOptions, TlsFlagAndAmqpsUri) {
    perf_options plain = ok({});
    EXPECT_FALSE(plain.broker.tls);
    EXPECT_TRUE(plain.tls_ca.empty());

    perf_options t = ok({"--tls"});
    EXPECT_TRUE(t.broker.tls);
    EXPECT_EQ(t.broker.port, 5671) << "--tls without a port: AMQPS's port";
    EXPECT_TRUE(t.tls_ca.empty()) << "no CA: the certificate is not verified";
    EXPECT_EQ(ok({"--tls", "--port", "5681"}).broker.port, 5681);
    EXPECT_EQ(ok({"--port", "5681", "--tls"}).broker.port, 5681);
    EXPECT_EQ(ok({"--uri", "amqp://h:5999/", "--tls"}).broker.port, 5999);
    perf_options u = ok({"--uri", "amqp://h/", "--tls"});
    EXPECT_TRUE(u.broker.tls);
    EXPECT_EQ(u.broker.port, 5671);

    perf_options s = ok({"--uri", "amqps://bob:pw@broker.example/v"});
    EXPECT_TRUE(s.broker.tls);
    EXPECT_EQ(s.broker.port, 5671);
    EXPECT_EQ(s.broker.host, "broker.example");
    EXPECT_EQ(s.broker.vhost, "v");
    EXPECT_EQ(ok({"--uri", "amqps://h:6000"}).broker.port, 6000);
    EXPECT_EQ(ok({"--uri", "amqps://h", "--port", "7000"}).broker.port, 7000);

    // --tls-ca names a file that must exist, and implies --tls.
    perf_options c = ok({"--tls-ca", "/dev/null", "--port", "5681"});
    EXPECT_TRUE(c.broker.tls);
    EXPECT_EQ(c.tls_ca, "/dev/null");
    EXPECT_EQ(c.broker.port, 5681);
    EXPECT_NE(exit_code({"--tls-ca", "/nonexistent/ca.pem"}), 0);
    EXPECT_NE(exit_code({"--tls-ca"}), 0);
    EXPECT_NE(exit_code({"--tls=maybe"}), 0);
    auto help = std::get<parse_exit>(parse({"--help"})).message;
    EXPECT_NE(help.find("NOT verified"), std::string::npos) << "the unverified mode is labelled";
}

TEST(PerfOptions, UriParsing) {
    auto u = std::get<amqp_uri>(parse_amqp_uri("amqp://"));
    EXPECT_EQ(u.host, "127.0.0.1");
    EXPECT_EQ(u.vhost, "/");
    u = std::get<amqp_uri>(parse_amqp_uri("amqp://localhost/"));
    EXPECT_EQ(u.host, "localhost");
    EXPECT_EQ(u.port, 5672);
    EXPECT_EQ(u.vhost, "/");
    u = std::get<amqp_uri>(parse_amqp_uri("amqp://[::1]:5999/%2F"));
    EXPECT_EQ(u.host, "::1");
    EXPECT_EQ(u.port, 5999);
    EXPECT_EQ(u.vhost, "/");
    EXPECT_FALSE(u.tls);
    EXPECT_TRUE(u.port_given);
    u = std::get<amqp_uri>(parse_amqp_uri("amqps://h"));
    EXPECT_TRUE(u.tls);
    EXPECT_EQ(u.port, 5671);
    EXPECT_FALSE(u.port_given);
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_amqp_uri("amqpss://h")));
    u = std::get<amqp_uri>(parse_amqp_uri("amqp://onlyuser@h"));
    EXPECT_EQ(u.user, "onlyuser");
    EXPECT_EQ(u.password, "guest");
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_amqp_uri("amqp://h:0")));
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_amqp_uri("amqp://h:99999")));
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_amqp_uri("amqp://h:abc")));
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_amqp_uri("amqp://h/%zz")));
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_amqp_uri("amqp://h/%2")));
}

TEST(PerfOptions, QueueArguments) {
    perf_options o = ok(
        {"--queue-args", "x-max-length=1000,x-queue-type=classic,x-single-active-consumer=true"});
    ASSERT_EQ(o.queue_args.size(), 3u);
    EXPECT_EQ(core::find(o.queue_args, "x-max-length")->as_int(), 1000);
    EXPECT_TRUE(std::holds_alternative<int64_t>(core::find(o.queue_args, "x-max-length")->v));
    EXPECT_EQ(*core::find(o.queue_args, "x-queue-type")->as_string(), "classic");
    EXPECT_EQ(core::find(o.queue_args, "x-single-active-consumer")->as_bool(), true);
    EXPECT_EQ(exit_code({"--queue-args", "novalue"}), 2);
    EXPECT_EQ(exit_code({"--queue-args", "=1"}), 2);
}

TEST(PerfOptions, ConsumerArgumentsAndStreams) {
    perf_options o =
        ok({"--queue-args", "x-queue-type=stream", "--consumer-args", "x-stream-offset=first", "-x",
            "0", "-y", "3", "-q", "1000", "-D", "2000000"});
    EXPECT_TRUE(o.stream_queues());
    EXPECT_TRUE(o.durable) << "a stream is durable (RabbitMQ refuses anything else)";
    EXPECT_EQ(*core::find(o.consumer_args, "x-stream-offset")->as_string(), "first");
    EXPECT_EQ(o.cmessages, 2000000u);
    EXPECT_EQ(o.consumers, 3);
    perf_options n =
        ok({"--consumer-args", "x-stream-offset=5000000,x-priority=3", "--cmessages", "10"});
    EXPECT_TRUE(std::holds_alternative<int64_t>(core::find(n.consumer_args, "x-stream-offset")->v))
        << "a numeric offset is sent as a long, as RabbitMQ wants it";
    EXPECT_EQ(core::find(n.consumer_args, "x-stream-offset")->as_int(), 5000000);
    EXPECT_FALSE(n.stream_queues());
    EXPECT_FALSE(n.durable);
    EXPECT_TRUE(ok({}).consumer_args.empty());
    EXPECT_EQ(ok({}).cmessages, 0u);

    auto r = parse({"--consumer-args", "x-stream-offset"});
    ASSERT_TRUE(std::holds_alternative<parse_exit>(r));
    EXPECT_EQ(std::get<parse_exit>(r).code, 2);
    EXPECT_NE(std::get<parse_exit>(r).message.find("consumer argument 'x-stream-offset'"),
              std::string::npos);
    EXPECT_EQ(exit_code({"--no-consume", "-D", "5"}), 2) << "--cmessages needs consumers";
    EXPECT_EQ(exit_code({"--queue-args", "x-queue-type=stream", "-a"}), 2)
        << "a stream consumer cannot auto-ack";
    EXPECT_EQ(exit_code({"--queue-args", "x-queue-type=stream"}), 2)
        << "a stream consumer needs a prefetch";
    perf_options fill =
        ok({"--queue-args", "x-queue-type=stream", "--no-consume", "-c", "1000", "-C", "1000000"});
    EXPECT_TRUE(fill.durable);
    EXPECT_EQ(fill.consumers, 0) << "filling a stream needs no prefetch";
}

TEST(PerfOptions, FillModeAndIdleConnections) {
    perf_options o = ok({"--no-consume", "-C", "1000000"});
    EXPECT_TRUE(o.no_consume);
    EXPECT_EQ(o.consumers, 0);
    perf_options c = ok({"-x", "0", "-y", "0", "--connections", "10000", "-z", "20"});
    EXPECT_EQ(c.idle_connections, 10000);
    EXPECT_EQ(exit_code({"-x", "0", "-y", "0"}), 2) << "nothing to do";
}

TEST(PerfOptions, RejectsBadValues) {
    EXPECT_NE(exit_code({"-s", "4"}), 0) << "the body holds an 8-byte timestamp";
    EXPECT_NE(exit_code({"-x", "-1"}), 0);
    EXPECT_NE(exit_code({"-r", "-5"}), 0);
    EXPECT_NE(exit_code({"--unknown"}), 0);
    EXPECT_NE(exit_code({"-q", "70000"}), 0) << "prefetch-count is 16 bits";
    EXPECT_EQ(exit_code({"--help"}), 0);
    auto r = parse({"--help"});
    EXPECT_NE(std::get<parse_exit>(r).message.find("--producers"), std::string::npos);
}

}  // namespace
}  // namespace warren::perf
