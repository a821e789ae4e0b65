#include "server/config.h"

#include <gtest/gtest.h>

namespace warren::server {
namespace {

TEST(config, defaults_listen_on_loopback_with_standard_ports) {
    config c;
    EXPECT_EQ(c.bind, "127.0.0.1");
    EXPECT_EQ(c.amqp_port, 5672);
    EXPECT_EQ(c.stomp_port, 61613);
    EXPECT_EQ(c.http_port, 15672);
}

TEST(config, parses_keys_comments_and_off) {
    config c;
    parse_config(c,
                 "# comment\n"
                 "amqp.port = 5673\r\n"
                 "  stomp.port=off\n"
                 "\n"
                 "data_dir = \"/tmp/w\"\n"
                 "log.level = debug\n"
                 "amqp.heartbeat = 0\n",
                 "t.conf");
    EXPECT_EQ(c.amqp_port, 5673);
    EXPECT_FALSE(c.stomp_port.has_value());
    EXPECT_EQ(c.data_dir, "/tmp/w");
    EXPECT_EQ(c.log_level, "debug");
    EXPECT_EQ(c.amqp_heartbeat, 0);
}

TEST(config, resource_alarm_keys_take_rabbitmq_sizes_and_fractions) {
    config c;
    EXPECT_DOUBLE_EQ(c.vm_memory_high_watermark_relative, 0.4);
    EXPECT_EQ(c.disk_free_limit_absolute, 50'000'000u);
    parse_config(c,
                 "vm_memory_high_watermark.relative = 0.6\n"
                 "vm_memory_high_watermark.absolute = 2GiB\n"
                 "disk_free_limit.absolute = 1GB\n"
                 "disk_free_limit.relative = 1.5\n"
                 "resource_check_interval = 250\n",
                 "t");
    EXPECT_DOUBLE_EQ(c.vm_memory_high_watermark_relative, 0.6);
    EXPECT_EQ(c.vm_memory_high_watermark_absolute, uint64_t{2} << 30);
    EXPECT_EQ(c.disk_free_limit_absolute, 1'000'000'000u);
    EXPECT_EQ(c.disk_free_limit_relative, 1.5);
    EXPECT_EQ(c.resource_check_interval_ms, 250u);
    EXPECT_EQ(parse_bytes("k", "512"), 512u);
    EXPECT_EQ(parse_bytes("k", "50MB"), 50'000'000u);
    EXPECT_EQ(parse_bytes("k", "50MiB"), 50u << 20);
    EXPECT_EQ(parse_bytes("k", "50M"), 50u << 20);
    EXPECT_EQ(parse_bytes("k", "3kB"), 3000u);
    EXPECT_EQ(parse_bytes("k", "3KiB"), 3072u);
    for (const char* bad : {"", "MB", "5 MB", "5XB", "-1", "1.5GB", "99999999999TB"})
        EXPECT_THROW(parse_bytes("k", bad), config_error) << bad;
    config d;
    EXPECT_THROW(apply_setting(d, "vm_memory_high_watermark.relative", "1.5"), config_error);
    EXPECT_THROW(apply_setting(d, "vm_memory_high_watermark.relative", "x"), config_error);
    EXPECT_THROW(apply_setting(d, "resource_check_interval", "10"), config_error);
}

TEST(config, tls_listeners_are_off_by_default) {
    config c;
    EXPECT_FALSE(c.amqp_tls_port.has_value());
    EXPECT_FALSE(c.stomp_tls_port.has_value());
    EXPECT_FALSE(c.http_tls_port.has_value());
    EXPECT_EQ(c.tls_verify, "none");
    EXPECT_EQ(c.tls_login_from, "cn");
    EXPECT_EQ(c.tls_handshake_timeout_ms, 10000u);
    EXPECT_FALSE(tls_enabled(c));
    EXPECT_NO_THROW(check_config(c));
}

TEST(config, parses_tls_keys) {
    config c;
    parse_config(c,
                 "amqp.tls.port = 5671\n"
                 "stomp.tls.port = 61614\n"
                 "http.tls.port = off\n"
                 "tls.cert_file = /etc/warren/server.pem\n"
                 "tls.key_file = /etc/warren/server.key\n"
                 "tls.ca_file = /etc/warren/ca.pem\n"
                 "tls.verify = fail_if_no_peer_cert\n"
                 "tls.login_from = dn\n"
                 "tls.handshake_timeout = 2500\n",
                 "t.conf");
    EXPECT_EQ(c.amqp_tls_port, 5671);
    EXPECT_EQ(c.stomp_tls_port, 61614);
    EXPECT_FALSE(c.http_tls_port.has_value());
    EXPECT_EQ(c.tls_cert_file, "/etc/warren/server.pem");
    EXPECT_EQ(c.tls_key_file, "/etc/warren/server.key");
    EXPECT_EQ(c.tls_ca_file, "/etc/warren/ca.pem");
    EXPECT_EQ(c.tls_verify, "fail_if_no_peer_cert");
    EXPECT_EQ(c.tls_login_from, "dn");
    EXPECT_EQ(c.tls_handshake_timeout_ms, 2500u);
    EXPECT_NO_THROW(check_config(c));
}

TEST(config, bad_tls_values_name_the_key) {
    config c;
    try {
        apply_setting(c, "tls.verify", "verify_peer");
        FAIL() << "expected config_error";
    } catch (const config_error& e) {
        EXPECT_STREQ(e.what(),
                     "key 'tls.verify': 'verify_peer' is not none, peer or fail_if_no_peer_cert");
    }
    EXPECT_THROW(apply_setting(c, "tls.login_from", "email"), config_error);
    EXPECT_THROW(apply_setting(c, "tls.handshake_timeout", "0"), config_error);
}

TEST(config, tls_listener_without_certificate_is_an_error) {
    config c;
    apply_setting(c, "stomp.tls.port", "61614");
    try {
        check_config(c);
        FAIL() << "expected config_error";
    } catch (const config_error& e) {
        EXPECT_STREQ(e.what(),
                     "key 'stomp.tls.port': a TLS listener needs tls.cert_file and tls.key_file");
    }
    apply_setting(c, "tls.cert_file", "s.pem");
    apply_setting(c, "tls.key_file", "s.key");
    EXPECT_NO_THROW(check_config(c));
    apply_setting(c, "tls.verify", "peer");
    EXPECT_THROW(check_config(c), config_error);  // needs tls.ca_file
    apply_setting(c, "tls.ca_file", "ca.pem");
    EXPECT_NO_THROW(check_config(c));
}

TEST(config, max_message_size_defaults_to_rabbitmqs_128_mib) {
    config c;
    EXPECT_EQ(c.max_message_size, 134217728u);
    parse_config(c, "max_message_size = 1048576\n", "t.conf");
    EXPECT_EQ(c.max_message_size, 1048576u);
    try {
        apply_setting(c, "max_message_size", "536870913");
        FAIL() << "expected config_error";
    } catch (const config_error& e) {
        EXPECT_STREQ(e.what(), "key 'max_message_size': 536870913 is out of range (1..536870912)");
    }
    EXPECT_THROW(apply_setting(c, "max_message_size", "0"), config_error);
}

TEST(config, connection_and_consumer_limits_take_rabbitmqs_keys_and_infinity) {
    config c;
    EXPECT_FALSE(c.connection_max.has_value()) << "unset: derived from the descriptor limit";
    EXPECT_EQ(c.consumer_max_per_channel, 0u);
    EXPECT_FALSE(c.amqp_max_connections.has_value());
    EXPECT_FALSE(c.stomp_max_connections.has_value());
    EXPECT_EQ(c.stomp_max_headers, 1000u);
    EXPECT_EQ(c.stomp_max_header_length, 65536u);
    parse_config(c,
                 "connection_max = 5000\nconsumer_max_per_channel = 16\n"
                 "amqp.max_connections = 100\nstomp.max_connections = 0\n"
                 "stomp.max_headers = 20\nstomp.max_header_length = 1024\n",
                 "t.conf");
    EXPECT_EQ(c.connection_max, 5000u);
    EXPECT_EQ(c.consumer_max_per_channel, 16u);
    EXPECT_EQ(c.amqp_max_connections, 100u);
    EXPECT_EQ(c.stomp_max_connections, 0u);
    EXPECT_EQ(c.stomp_max_headers, 20u);
    EXPECT_EQ(c.stomp_max_header_length, 1024u);
    parse_config(c, "connection_max = infinity\nconsumer_max_per_channel = infinity\n", "t");
    EXPECT_EQ(c.connection_max, 0u);
    EXPECT_EQ(c.consumer_max_per_channel, 0u);
    parse_config(c, "connection_max = auto\n", "t");
    EXPECT_FALSE(c.connection_max.has_value());
    try {
        apply_setting(c, "connection_max", "0");
        FAIL() << "expected config_error";
    } catch (const config_error& e) {
        EXPECT_STREQ(e.what(), "key 'connection_max': 0 is out of range (1..100000000)");
    }
    EXPECT_THROW(apply_setting(c, "consumer_max_per_channel", "0"), config_error);
    EXPECT_THROW(apply_setting(c, "stomp.max_headers", "0"), config_error);
    EXPECT_THROW(apply_setting(c, "stomp.max_header_length", "10"), config_error);
    EXPECT_THROW(apply_setting(c, "amqp.max_connections", "many"), config_error);
}

TEST(config, unknown_key_names_file_line_and_key) {
    config c;
    try {
        parse_config(c, "amqp.port = 1\nbogus.key = 3\n", "w.conf");
        FAIL() << "expected config_error";
    } catch (const config_error& e) {
        EXPECT_STREQ(e.what(), "w.conf:2: unknown key 'bogus.key'");
    }
}

TEST(config, malformed_line_is_an_error) {
    config c;
    EXPECT_THROW(parse_config(c, "this is not a setting\n", "x"), config_error);
    EXPECT_THROW(parse_config(c, "= 3\n", "x"), config_error);
}

TEST(config, bad_values_say_what_is_wrong) {
    config c;
    try {
        apply_setting(c, "amqp.port", "70000");
        FAIL();
    } catch (const config_error& e) {
        EXPECT_STREQ(e.what(), "key 'amqp.port': 70000 is out of range (1..65535)");
    }
    EXPECT_THROW(apply_setting(c, "amqp.port", "12ab"), config_error);
    EXPECT_THROW(apply_setting(c, "log.level", "loud"), config_error);
    EXPECT_THROW(apply_setting(c, "amqp.frame_max", "100"), config_error);
    EXPECT_THROW(apply_setting(c, "data_dir", ""), config_error);
}

TEST(config, every_documented_key_is_accepted) {
    for (auto& d : describe()) {
        config c;
        EXPECT_NO_THROW(apply_setting(c, d.key, d.default_value)) << d.key;
    }
}

TEST(config, policy_lines_repeat_and_are_checked) {
    config c;
    parse_config(c,
                 "policy = ttl ^q\\. queues 1 {\"message-ttl\": 200}\n"
                 "policy = ae .* exchanges 0 {\"alternate-exchange\": \"my ae\"}\n",
                 "t.conf");
    ASSERT_EQ(c.policies.size(), 2u);
    EXPECT_EQ(c.policies[0].name, "ttl");
    EXPECT_EQ(c.policies[0].pattern, "^q\\.");
    EXPECT_EQ(c.policies[0].apply_to, "queues");
    EXPECT_EQ(c.policies[0].priority, 1);
    EXPECT_EQ(c.policies[0].definition, "{\"message-ttl\": 200}");
    EXPECT_EQ(c.policies[1].definition, "{\"alternate-exchange\": \"my ae\"}");
    EXPECT_THROW(parse_config(c, "policy = p .* queues 0 {not json}\n", "t.conf"), config_error);
    EXPECT_THROW(parse_config(c, "policy = p .* sometimes 0 {}\n", "t.conf"), config_error);
    EXPECT_THROW(parse_config(c, "policy = p .* queues\n", "t.conf"), config_error);
    EXPECT_THROW(parse_config(c, "policy = p .* queues x {}\n", "t.conf"), config_error);
}

}  // namespace
}  // namespace warren::server
