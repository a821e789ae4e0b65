#pragma once
// warrend's configuration: a file in RabbitMQ's `key = value` style (rabbitmq.conf), overridden
// by command-line flags. Every key is documented in docs/configuration.md and in
// config::describe(). A bad file yields one error line naming the file, line, key and problem;
// warrend exits with code 2 on it.
//
//   auto cfg = server::load_config_file("warren.conf");   // throws config_error
//   server::apply_setting(cfg, "amqp.port", "5673");        // throws config_error

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace warren::server {

class config_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// One `policy = <name> <pattern> <apply-to> <priority> <definition JSON>` line (RabbitMQ's
// `rabbitmqctl set_policy` arguments), applied to default_vhost at start (server/policies.h).
struct policy_setting {
    std::string name;
    std::string pattern;
    std::string apply_to;  // queues, exchanges, all
    int priority = 0;
    std::string definition;  // a JSON object, checked to parse when the config is read
};

struct config {
    std::string bind = "127.0.0.1";
    // nullopt = listener off
    std::optional<uint16_t> amqp_port = 5672;
    std::optional<uint16_t> stomp_port = 61613;
    std::optional<uint16_t> http_port = 15672;
    // TLS listeners (net/tls_context.h), each off by default; all use the tls_* settings below.
    std::optional<uint16_t> amqp_tls_port;   // AMQPS, conventionally 5671
    std::optional<uint16_t> stomp_tls_port;  // STOMP over TLS, conventionally 61614
    std::optional<uint16_t> http_tls_port;   // HTTPS and WSS, conventionally 15671
    std::string tls_cert_file;
    std::string tls_key_file;
    std::string tls_ca_file;
    std::string tls_verify = "none";    // none, peer, fail_if_no_peer_cert
    std::string tls_login_from = "cn";  // cn, dn: the user a client certificate logs in as
    uint32_t tls_handshake_timeout_ms = 10000;
    std::string data_dir = "data";
    uint64_t queue_memory_limit = 16ull << 20;
    uint64_t flow_queue_ready_messages = 1000;  // credit flow mark (core/flow.h)
    uint64_t flow_queue_ready_bytes = 8ull << 20;
    std::string log_level = "info";
    uint32_t amqp_frame_max = 131072;
    uint16_t amqp_channel_max = 2047;
    uint16_t amqp_heartbeat = 60;
    uint64_t consumer_timeout_ms = 1'800'000;  // RabbitMQ's consumer_timeout (0 = none)
    // RabbitMQ's collect_statistics_interval: how often message rates are sampled (ms).
    uint64_t collect_statistics_interval_ms = 5000;
    std::string default_user = "guest";
    std::string default_pass = "guest";
    std::string default_pass_hash;  // RabbitMQ's base64 form; wins over default_pass
    std::vector<std::string> loopback_users{"guest"};
    std::string default_vhost = "/";
    // Largest message body any protocol accepts, bytes (RabbitMQ's max_message_size default).
    uint64_t max_message_size = 128ull << 20;
    // Most open connections per protocol (AMQP; STOMP), TCP, TLS and WebSocket together; one more
    // is closed at once with a log line (0 = no limit).
    uint64_t max_connections = 0;
    // The same per protocol listener set; unset: max_connections.
    std::optional<uint64_t> amqp_max_connections;
    std::optional<uint64_t> stomp_max_connections;
    // RabbitMQ's connection_max: most AMQP and STOMP connections on the node, every listener
    // together; one over it is refused at connection.open / CONNECT (server/connection_cap.h).
    // Unset: derived from the descriptor limit (default_connection_max); 0 = no limit
    // (`infinity` in the file).
    std::optional<uint64_t> connection_max;
    // RabbitMQ's consumer_max_per_channel: most consumers on one AMQP channel (STOMP: on one
    // connection, whose subscriptions share a channel in RabbitMQ); 0 = no limit (`infinity`).
    uint64_t consumer_max_per_channel = 0;
    uint32_t stomp_max_frame_size = 4 * 1024 * 1024;  // STOMP command + headers
    uint32_t stomp_max_headers = 1000;                // headers in one STOMP frame
    uint32_t stomp_max_header_length = 64 * 1024;     // one header line, escaped form
    uint16_t stomp_heartbeat_ms = 10000;
    std::vector<policy_setting> policies;  // `policy` lines, in file order
    // Resource alarms (server/resource_monitor.h), RabbitMQ's keys and defaults: the memory
    // alarm goes off when resident memory passes relative x total memory (or the absolute
    // value, if set); the disk alarm when free space on data_dir falls below the absolute limit
    // (or relative x total memory, if set). SIGHUP re-reads these four from the config file.
    double vm_memory_high_watermark_relative = 0.4;
    std::optional<uint64_t> vm_memory_high_watermark_absolute;
    uint64_t disk_free_limit_absolute = 50'000'000;
    std::optional<double> disk_free_limit_relative;
    uint32_t resource_check_interval_ms = 1000;
};

struct key_doc {
    std::string_view key;
    std::string_view default_value;
    std::string_view meaning;
};
// Every key the file accepts, for docs and --help.
const std::vector<key_doc>& describe();

// Sets one key from its text value. Throws config_error("unknown key 'x'") or
// ("key 'x': <problem>").
void apply_setting(config& c, std::string_view key, std::string_view value);
// Parses a whole file's text; `origin` names it in errors ("warren.conf:3: ...").
void parse_config(config& c, std::string_view text, std::string_view origin);
config load_config_file(const std::string& path);
// Checks that hold across keys (after the file and the flags): a TLS listener needs
// tls.cert_file and tls.key_file, tls.verify other than none needs tls.ca_file. Throws
// config_error.
void check_config(const config& c);
bool tls_enabled(const config& c);
// A size in RabbitMQ's information units: 1000000, 50MB (10^6), 512MiB or 512M (2^20), kB, KiB,
// GB, GiB... Throws config_error naming `key`.
uint64_t parse_bytes(std::string_view key, std::string_view v);

}  // namespace warren::server
