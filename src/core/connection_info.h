#pragma once
// What a client connection tells the management API and /metrics about itself: protocol,
// addresses, user, channels and their consumers, byte and frame counters. Protocol-neutral:
// each front end fills one on request (vhost::connection_opened's info callback); nothing here
// is kept up to date on the hot path except the counters the front end already owns.
//
// Plain values, built on the broker thread when asked for.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/fields.h"

namespace warren::core {

struct consumer_info {
    std::string tag;
    std::string queue;
    bool ack_required = true;
    bool exclusive = false;
    uint32_t prefetch_count = 0;  // 0 = none
    int priority = 0;
    field_table arguments;  // basic.consume arguments
};

struct channel_info {
    uint16_t number = 0;
    bool confirm = false;
    bool transactional = false;
    uint64_t messages_unacknowledged = 0;
    uint64_t messages_unconfirmed = 0;
    uint32_t prefetch_count = 0;         // basic.qos for new consumers
    uint32_t global_prefetch_count = 0;  // basic.qos global
    std::vector<consumer_info> consumers;
};

// Bytes and reads/writes of one connection: kept by its front end, read cheaply (the rate
// sampler reads them every few seconds without building a whole connection_info).
struct io_counters {
    uint64_t recv_oct = 0, recv_cnt = 0, send_oct = 0, send_cnt = 0;
};

struct connection_info {
    std::string protocol;       // "AMQP 0-9-1", "STOMP 1.2"
    std::string peer_address;   // "127.0.0.1:4242", "[::1]:4242"
    std::string local_address;  // "127.0.0.1:5672"
    bool tls = false;
    bool websocket = false;
    uint64_t connected_at_ms = 0;  // wall clock, ms since the epoch
    uint32_t frame_max = 0;
    uint16_t channel_max = 0;
    uint32_t heartbeat_s = 0;
    // RabbitMQ's state: "running", "blocking" (a resource alarm is on; blocked at its next
    // publish), "blocked" (not read: it published under an alarm).
    std::string state = "running";
    io_counters io;
    // The client's properties worth showing (product, version, platform, connection_name,
    // information), as strings.
    std::vector<std::pair<std::string, std::string>> client_properties;
    std::vector<channel_info> channels;
};

}  // namespace warren::core
