#include "server/config.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "auth/password.h"
#include "base/log.h"

namespace warren::server {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

template <typename T>
T parse_uint(std::string_view key, std::string_view v, uint64_t min, uint64_t max) {
    uint64_t out = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size())
        throw config_error(fmt::format("key '{}': '{}' is not a number", key, v));
    if (out < min || out > max)
        throw config_error(
            fmt::format("key '{}': {} is out of range ({}..{})", key, out, min, max));
    return static_cast<T>(out);
}

// A non-negative decimal no larger than `max`.
double parse_fraction(std::string_view key, std::string_view v, double max) {
    double out = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size() || !(out >= 0) || out > max)
        throw config_error(fmt::format("key '{}': '{}' is not a number from 0 to {}", key, v, max));
    return out;
}

std::optional<uint16_t> parse_port(std::string_view key, std::string_view v) {
    if (v == "off") return std::nullopt;
    return parse_uint<uint16_t>(key, v, 1, 65535);
}

std::string parse_string(std::string_view key, std::string_view v) {
    if (v.size() >= 2 &&
        ((v.front() == '"' && v.back() == '"') || (v.front() == '\'' && v.back() == '\'')))
        v = v.substr(1, v.size() - 2);
    if (v.empty()) throw config_error(fmt::format("key '{}': value is empty", key));
    return std::string(v);
}

// A file name; empty (or "") = not set.
std::string parse_path(std::string_view key, std::string_view v) {
    if (v.empty() || v == "\"\"" || v == "''") return {};
    return parse_string(key, v);
}

}  // namespace

const std::vector<key_doc>& describe() {
    static const std::vector<key_doc> docs = {
        {"bind", "127.0.0.1", "address every listener binds to"},
        {"amqp.port", "5672", "AMQP 0-9-1 port, or off"},
        {"stomp.port", "61613", "STOMP port, or off"},
        {"http.port", "15672", "HTTP port (management API, STOMP over WebSocket at /ws), or off"},
        {"amqp.tls.port", "off", "AMQPS (AMQP 0-9-1 over TLS) port, e.g. 5671, or off"},
        {"stomp.tls.port", "off", "STOMP over TLS port, e.g. 61614, or off"},
        {"http.tls.port", "off", "HTTPS port (management API, WSS at /ws), e.g. 15671, or off"},
        {"tls.cert_file", "", "PEM server certificate (then intermediates) for every TLS port"},
        {"tls.key_file", "", "PEM private key of tls.cert_file (unencrypted)"},
        {"tls.ca_file", "", "PEM CA certificates client certificates must chain to"},
        {"tls.verify", "none",
         "client certificates: none (not asked for), peer (checked if sent), "
         "fail_if_no_peer_cert (required)"},
        {"tls.login_from", "cn",
         "the user a verified client certificate logs in as (SASL EXTERNAL, STOMP CONNECT "
         "without login): cn (common name) or dn (whole subject, RFC 4514)"},
        {"tls.handshake_timeout", "10000",
         "milliseconds a client has to complete its TLS handshake (100..600000)"},
        {"data_dir", "data", "directory for durable state (created if missing)"},
        {"queue_memory_limit", "16777216",
         "bytes of ready messages (body + ~650 B each) one queue keeps in RAM; the rest is "
         "read from disk (0 = all)"},
        {"flow.queue_ready_messages", "1000",
         "credit flow: a queue with consumers and more ready messages than this holds its "
         "publishers until it is down to half (1..100000000)"},
        {"flow.queue_ready_bytes", "8388608",
         "credit flow: the same mark in bytes of ready message bodies (1024..1125899906842624)"},
        {"log.level", "info", "trace, debug, info, warn, error, critical or off"},
        {"amqp.frame_max", "131072", "largest AMQP frame the broker accepts (4096..16777216)"},
        {"amqp.channel_max", "2047", "most channels per AMQP connection (1..65535)"},
        {"amqp.heartbeat", "60", "heartbeat interval offered to AMQP clients, seconds (0 = off)"},
        {"collect_statistics_interval", "5000",
         "milliseconds between two samples of the management API's message rates "
         "(*_details.rate), as RabbitMQ's collect_statistics_interval"},
        {"consumer_timeout", "1800000",
         "milliseconds a delivery may stay unacknowledged before its channel is closed with 406 "
         "PRECONDITION_FAILED, as RabbitMQ's consumer_timeout (0 = no limit)"},
        {"default_user", "guest", "user created on first start"},
        {"default_pass", "guest", "password of default_user"},
        {"default_pass_hash", "",
         "instead of default_pass: its RabbitMQ password hash (base64 of salt + SHA-256, as in "
         "definitions exports), so the password need not be in this file"},
        {"default_vhost", "/", "vhost created on first start"},
        {"loopback_users", "guest",
         "comma-separated users who may log in only from this host (none = nobody)"},
        {"max_message_size", "134217728",
         "largest message body accepted, bytes (1..536870912; RabbitMQ's default, 128 MiB)"},
        {"max_connections", "0",
         "most open connections per protocol (AMQP; STOMP), TCP, TLS and WebSocket together; "
         "one more is closed at once and logged (0 = no limit)"},
        {"amqp.max_connections", "",
         "most open AMQP connections (TCP, TLS and WebSocket together); one more is closed at "
         "once and logged (0 = no limit; unset: max_connections)"},
        {"stomp.max_connections", "",
         "most open STOMP connections (TCP, TLS and WebSocket together); one more is closed at "
         "once and logged (0 = no limit; unset: max_connections)"},
        {"connection_max", "auto",
         "most AMQP and STOMP connections on the node (RabbitMQ's connection_max): one more is "
         "refused at connection.open (530 NOT_ALLOWED) or CONNECT (ERROR); auto = the "
         "descriptor limit minus a reserve for the store; infinity = no limit"},
        {"consumer_max_per_channel", "infinity",
         "most consumers on one AMQP channel or STOMP connection (RabbitMQ's "
         "consumer_max_per_channel); one more: 530 NOT_ALLOWED / ERROR"},
        {"stomp.max_headers", "1000",
         "most headers in one STOMP frame (1..100000); more: ERROR 'Too many headers'"},
        {"stomp.max_header_length", "65536",
         "longest STOMP header line (or command), bytes, as sent (64..16777216); longer: ERROR "
         "'Header too long'"},
        {"stomp.max_frame_size", "4194304",
         "largest STOMP command + headers accepted, bytes (the body: max_message_size)"},
        {"stomp.heartbeat", "10000", "STOMP heart-beat the broker offers, milliseconds (0 = off)"},
        {"policy", "",
         "repeatable: <name> <pattern> <apply-to> <priority> <definition JSON>, a policy on "
         "default_vhost (docs/queue-arguments.md)"},
        {"vm_memory_high_watermark.relative", "0.4",
         "memory alarm (publishers blocked) above this fraction of total memory (0..1; 0 = "
         "always blocked)"},
        {"vm_memory_high_watermark.absolute", "",
         "instead of .relative: the memory alarm threshold as a size (e.g. 2GB, 1536MiB)"},
        {"disk_free_limit.absolute", "50MB",
         "disk alarm (publishers blocked) when free space on data_dir is below this size"},
        {"disk_free_limit.relative", "",
         "instead of .absolute: the disk limit as a multiple of total memory (e.g. 1.0)"},
        {"resource_check_interval", "1000",
         "milliseconds between memory and disk checks (100..60000)"},
    };
    return docs;
}

namespace {
// <name> <pattern> <apply-to> <priority> <json>: four words, then the rest of the line.
policy_setting parse_policy(std::string_view key, std::string_view v) {
    policy_setting p;
    std::string_view words[4];
    for (auto& w : words) {
        v = trim(v);
        auto sp = v.find_first_of(" \t");
        if (v.empty() || sp == std::string_view::npos)
            throw config_error(fmt::format(
                "key '{}': expected '<name> <pattern> <apply-to> <priority> <definition JSON>'",
                key));
        w = v.substr(0, sp);
        v = v.substr(sp);
    }
    p.name = std::string(words[0]);
    p.pattern = std::string(words[1]);
    p.apply_to = std::string(words[2]);
    if (p.apply_to != "queues" && p.apply_to != "exchanges" && p.apply_to != "all")
        throw config_error(fmt::format("key '{}': apply-to '{}' is not queues, exchanges or all",
                                       key, p.apply_to));
    p.priority = static_cast<int>(parse_uint<uint32_t>(key, words[3], 0, 1000000));
    p.definition = std::string(trim(v));
    auto j = nlohmann::json::parse(p.definition, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        throw config_error(
            fmt::format("key '{}': policy '{}': definition '{}' is not a JSON "
                        "object",
                        key, p.name, p.definition));
    return p;
}
}  // namespace

void apply_setting(config& c, std::string_view key, std::string_view value) {
    value = trim(value);
    if (key == "bind") {
        c.bind = parse_string(key, value);
    } else if (key == "amqp.port") {
        c.amqp_port = parse_port(key, value);
    } else if (key == "stomp.port") {
        c.stomp_port = parse_port(key, value);
    } else if (key == "http.port") {
        c.http_port = parse_port(key, value);
    } else if (key == "amqp.tls.port") {
        c.amqp_tls_port = parse_port(key, value);
    } else if (key == "stomp.tls.port") {
        c.stomp_tls_port = parse_port(key, value);
    } else if (key == "http.tls.port") {
        c.http_tls_port = parse_port(key, value);
    } else if (key == "tls.cert_file") {
        c.tls_cert_file = parse_path(key, value);
    } else if (key == "tls.key_file") {
        c.tls_key_file = parse_path(key, value);
    } else if (key == "tls.ca_file") {
        c.tls_ca_file = parse_path(key, value);
    } else if (key == "tls.verify") {
        std::string v = parse_string(key, value);
        if (v != "none" && v != "peer" && v != "fail_if_no_peer_cert")
            throw config_error(
                fmt::format("key '{}': '{}' is not none, peer or fail_if_no_peer_cert", key, v));
        c.tls_verify = v;
    } else if (key == "tls.login_from") {
        std::string v = parse_string(key, value);
        if (v != "cn" && v != "dn")
            throw config_error(fmt::format("key '{}': '{}' is not cn or dn", key, v));
        c.tls_login_from = v;
    } else if (key == "tls.handshake_timeout") {
        c.tls_handshake_timeout_ms = parse_uint<uint32_t>(key, value, 100, 600000);
    } else if (key == "collect_statistics_interval") {
        c.collect_statistics_interval_ms = parse_uint<uint64_t>(key, value, 100, 3'600'000);
    } else if (key == "consumer_timeout") {
        c.consumer_timeout_ms = parse_uint<uint64_t>(key, value, 0, uint64_t{1} << 40);
    } else if (key == "vm_memory_high_watermark.relative") {
        c.vm_memory_high_watermark_relative = parse_fraction(key, value, 1.0);
    } else if (key == "vm_memory_high_watermark.absolute") {
        if (value.empty())
            c.vm_memory_high_watermark_absolute.reset();  // the documented default: unset
        else
            c.vm_memory_high_watermark_absolute = parse_bytes(key, value);
    } else if (key == "disk_free_limit.absolute") {
        c.disk_free_limit_absolute = parse_bytes(key, value);
    } else if (key == "disk_free_limit.relative") {
        if (value.empty())
            c.disk_free_limit_relative.reset();
        else
            c.disk_free_limit_relative = parse_fraction(key, value, 1000.0);
    } else if (key == "resource_check_interval") {
        c.resource_check_interval_ms = parse_uint<uint32_t>(key, value, 100, 60000);
    } else if (key == "data_dir") {
        c.data_dir = parse_string(key, value);
    } else if (key == "queue_memory_limit") {
        c.queue_memory_limit = parse_uint<uint64_t>(key, value, 0, uint64_t{1} << 50);
    } else if (key == "flow.queue_ready_messages") {
        c.flow_queue_ready_messages = parse_uint<uint64_t>(key, value, 1, 100'000'000);
    } else if (key == "flow.queue_ready_bytes") {
        c.flow_queue_ready_bytes = parse_uint<uint64_t>(key, value, 1024, uint64_t{1} << 50);
    } else if (key == "log.level") {
        spdlog::level::level_enum l;
        std::string v = parse_string(key, value);
        if (!log::parse_level(v, l))
            throw config_error(fmt::format(
                "key '{}': unknown level '{}' (trace, debug, info, warn, error, critical, off)",
                key, v));
        c.log_level = v;
    } else if (key == "amqp.frame_max") {
        c.amqp_frame_max = parse_uint<uint32_t>(key, value, 4096, 16 * 1024 * 1024);
    } else if (key == "amqp.channel_max") {
        c.amqp_channel_max = parse_uint<uint16_t>(key, value, 1, 65535);
    } else if (key == "amqp.heartbeat") {
        c.amqp_heartbeat = parse_uint<uint16_t>(key, value, 0, 65535);
    } else if (key == "default_user") {
        c.default_user = parse_string(key, value);
    } else if (key == "default_pass") {
        c.default_pass = parse_string(key, value);
    } else if (key == "default_pass_hash") {
        c.default_pass_hash = std::string(value);  // empty: use default_pass
        if (!c.default_pass_hash.empty() && !auth::password_hash::parse(c.default_pass_hash))
            throw config_error(fmt::format("{}: not a base64 password hash", key));
    } else if (key == "loopback_users") {
        c.loopback_users.clear();
        std::string v = parse_string(key, value);
        if (v != "none") {
            size_t at = 0;
            while (at <= v.size()) {
                size_t comma = v.find(',', at);
                std::string name = v.substr(at, comma == std::string::npos ? comma : comma - at);
                while (!name.empty() && name.front() == ' ') name.erase(name.begin());
                while (!name.empty() && name.back() == ' ') name.pop_back();
                if (!name.empty()) c.loopback_users.push_back(name);
                if (comma == std::string::npos) break;
                at = comma + 1;
            }
        }
    } else if (key == "default_vhost") {
        c.default_vhost = parse_string(key, value);
    } else if (key == "max_connections") {
        c.max_connections = parse_uint<uint64_t>(key, value, 0, 10'000'000);
    } else if (key == "amqp.max_connections") {
        c.amqp_max_connections.reset();  // empty: max_connections
        if (!value.empty())
            c.amqp_max_connections = parse_uint<uint64_t>(key, value, 0, 10'000'000);
    } else if (key == "stomp.max_connections") {
        c.stomp_max_connections.reset();
        if (!value.empty())
            c.stomp_max_connections = parse_uint<uint64_t>(key, value, 0, 10'000'000);
    } else if (key == "connection_max") {
        if (value == "auto")
            c.connection_max.reset();
        else if (value == "infinity")
            c.connection_max = 0;
        else
            c.connection_max = parse_uint<uint64_t>(key, value, 1, 100'000'000);
    } else if (key == "consumer_max_per_channel") {
        c.consumer_max_per_channel =
            value == "infinity" ? 0 : parse_uint<uint64_t>(key, value, 1, 100'000'000);
    } else if (key == "stomp.max_headers") {
        c.stomp_max_headers = parse_uint<uint32_t>(key, value, 1, 100'000);
    } else if (key == "stomp.max_header_length") {
        c.stomp_max_header_length = parse_uint<uint32_t>(key, value, 64, 16 * 1024 * 1024);
    } else if (key == "max_message_size") {
        // RabbitMQ caps max_message_size at 512 MiB.
        c.max_message_size = parse_uint<uint64_t>(key, value, 1, 512ull << 20);
    } else if (key == "stomp.max_frame_size") {
        c.stomp_max_frame_size = parse_uint<uint32_t>(key, value, 1024, 256 * 1024 * 1024);
    } else if (key == "stomp.heartbeat") {
        c.stomp_heartbeat_ms = parse_uint<uint16_t>(key, value, 0, 65535);
    } else if (key == "policy") {
        if (!value.empty()) c.policies.push_back(parse_policy(key, value));  // empty: none
    } else {
        throw config_error(fmt::format("unknown key '{}'", key));
    }
}

void parse_config(config& c, std::string_view text, std::string_view origin) {
    size_t line_no = 0;
    while (!text.empty()) {
        ++line_no;
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        line = trim(line);
        if (line.empty() || line.front() == '#' || line.front() == ';') continue;
        auto eq = line.find('=');
        if (eq == std::string_view::npos)
            throw config_error(
                fmt::format("{}:{}: expected 'key = value', got '{}'", origin, line_no, line));
        auto key = trim(line.substr(0, eq));
        auto value = trim(line.substr(eq + 1));
        if (key.empty())
            throw config_error(fmt::format("{}:{}: missing key before '='", origin, line_no));
        try {
            apply_setting(c, key, value);
        } catch (const config_error& e) {
            throw config_error(fmt::format("{}:{}: {}", origin, line_no, e.what()));
        }
    }
}

bool tls_enabled(const config& c) {
    return c.amqp_tls_port || c.stomp_tls_port || c.http_tls_port;
}

void check_config(const config& c) {
    if (!tls_enabled(c)) return;
    const char* which = c.amqp_tls_port    ? "amqp.tls.port"
                        : c.stomp_tls_port ? "stomp.tls.port"
                                           : "http.tls.port";
    if (c.tls_cert_file.empty() || c.tls_key_file.empty())
        throw config_error(
            fmt::format("key '{}': a TLS listener needs tls.cert_file and tls.key_file", which));
    if (c.tls_verify != "none" && c.tls_ca_file.empty())
        throw config_error(fmt::format("key 'tls.verify': {} needs tls.ca_file", c.tls_verify));
}

config load_config_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw config_error(fmt::format("{}: cannot read config file", path));
    std::stringstream ss;
    ss << in.rdbuf();
    config c;
    parse_config(c, ss.str(), path);
    return c;
}

uint64_t parse_bytes(std::string_view key, std::string_view v) {
    size_t digits = 0;
    while (digits < v.size() && v[digits] >= '0' && v[digits] <= '9') ++digits;
    const std::string_view unit = v.substr(digits);
    struct unit_factor {
        std::string_view name;
        uint64_t factor;
    };
    // RabbitMQ's information units: k, kiB, KiB = 2^10; kB, KB = 10^3; likewise M, G, T.
    static constexpr unit_factor units[] = {
        {"", 1},           {"k", 1ull << 10},   {"kiB", 1ull << 10},   {"KiB", 1ull << 10},
        {"kB", 1000},      {"KB", 1000},        {"M", 1ull << 20},     {"MiB", 1ull << 20},
        {"MB", 1000000},   {"G", 1ull << 30},   {"GiB", 1ull << 30},   {"GB", 1000000000},
        {"T", 1ull << 40}, {"TiB", 1ull << 40}, {"TB", 1000000000000},
    };
    const unit_factor* u = nullptr;
    for (const auto& x : units)
        if (x.name == unit) u = &x;
    if (digits == 0 || !u)
        throw config_error(fmt::format(
            "key '{}': '{}' is not a size (a number, optionally with kB, KiB, MB, MiB, GB, GiB, "
            "...)",
            key, v));
    const uint64_t n = parse_uint<uint64_t>(key, v.substr(0, digits), 0, uint64_t{1} << 50);
    if (n > (uint64_t{1} << 62) / u->factor)
        throw config_error(fmt::format("key '{}': '{}' is too large", key, v));
    return n * u->factor;
}

}  // namespace warren::server
