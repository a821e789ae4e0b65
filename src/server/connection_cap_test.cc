#include "server/connection_cap.h"

#include <gtest/gtest.h>

namespace warren::server {
namespace {

TEST(connection_cap, default_keeps_half_of_a_small_descriptor_limit_for_the_store) {
    EXPECT_EQ(descriptor_reserve(1024), 512u);
    EXPECT_EQ(default_connection_max(1024), 1024u - 512 - handshake_slack);
}

TEST(connection_cap, default_keeps_16384_descriptors_of_a_large_limit) {
    EXPECT_EQ(descriptor_reserve(1048576), 16384u);
    EXPECT_EQ(default_connection_max(1048576), 1048576u - 16384 - handshake_slack);
    EXPECT_EQ(default_connection_max(65536), 65536u - 16384 - handshake_slack);
}

TEST(connection_cap, default_is_at_least_one_connection) {
    EXPECT_EQ(default_connection_max(0), 1u);
    EXPECT_EQ(default_connection_max(100), 1u);
}

TEST(connection_cap, gate_admits_until_the_cap_plus_handshake_slack) {
    size_t open = 0;
    connection_gate g(2, [&] { return open; });
    for (open = 0; open < 2 + handshake_slack; ++open) EXPECT_TRUE(g.admit("amqp", 0)) << open;
    EXPECT_FALSE(g.admit("amqp", 0));
    EXPECT_FALSE(g.admit("stomp", 10));
    EXPECT_EQ(g.refused_total(), 2u);
    open = 1;
    EXPECT_TRUE(g.admit("amqp", 20)) << "a freed slot is usable again";
}

TEST(connection_cap, gate_without_a_cap_admits_everything) {
    connection_gate g(0, [] { return size_t(1) << 40; });
    EXPECT_TRUE(g.admit("amqp", 0));
}

TEST(connection_cap, node_limit_text_is_rabbitmqs) {
    EXPECT_EQ(node_limit_text(3), "connection refused: node connection limit (3) is reached");
}

}  // namespace
}  // namespace warren::server
