#include "auth/permissions.h"

#include <fmt/format.h>

namespace warren::auth {

namespace {

using core::reply_code;

// "" allows nothing but the empty name (RabbitMQ substitutes "^$"); otherwise a regular
// expression (base/name_pattern.h), searched anywhere in the name like Erlang's re:run.
core::result<std::optional<name_pattern>> compile_one(const std::string& pattern,
                                                      std::string_view what) {
    if (pattern.empty()) return std::optional<name_pattern>();
    auto re = name_pattern::compile(pattern);
    if (!re)
        return core::error{
            reply_code::precondition_failed,
            fmt::format("invalid {} regular expression '{}': {}", what, pattern, re.error())};
    return std::optional<name_pattern>(std::move(*re));
}

bool search(const std::optional<name_pattern>& re, std::string_view name) {
    if (!re) return name.empty();  // "^$"
    return re->search(name);
}

std::string expand(std::string pattern, std::string_view username, std::string_view vhost) {
    auto replace_all = [&](std::string_view var, std::string_view value) {
        for (size_t at = pattern.find(var); at != std::string::npos;
             at = pattern.find(var, at + value.size()))
            pattern.replace(at, var.size(), value);
    };
    replace_all("{username}", username);
    replace_all("{vhost}", vhost);
    return pattern;
}

std::string_view kind_name(resource_kind k) {
    switch (k) {
        case resource_kind::queue:
            return "queue";
        case resource_kind::exchange:
            return "exchange";
        case resource_kind::topic:
            return "topic";
    }
    return "queue";
}

}  // namespace

std::string_view permission_name(permission p) {
    switch (p) {
        case permission::configure:
            return "configure";
        case permission::write:
            return "write";
        case permission::read:
            return "read";
    }
    return "read";
}

core::result<permission_set> permission_set::compile(permission_patterns p) {
    permission_set s;
    auto c = compile_one(p.configure, "configure");
    if (!c) return c.error();
    auto w = compile_one(p.write, "write");
    if (!w) return w.error();
    auto r = compile_one(p.read, "read");
    if (!r) return r.error();
    s._configure = std::move(*c);
    s._write = std::move(*w);
    s._read = std::move(*r);
    s._configure_all = p.configure == ".*";
    s._write_all = p.write == ".*";
    s._read_all = p.read == ".*";
    s._patterns = std::move(p);
    return s;
}

bool permission_set::allows(permission p, std::string_view name) const {
    switch (p) {
        case permission::configure:
            return _configure_all || search(_configure, name);
        case permission::write:
            return _write_all || search(_write, name);
        case permission::read:
            return _read_all || search(_read, name);
    }
    return false;
}

core::result<topic_permission> topic_permission::compile(std::string exchange, std::string write,
                                                         std::string read,
                                                         std::string_view username,
                                                         std::string_view vhost) {
    topic_permission t;
    auto w = compile_one(expand(write, username, vhost), "write");
    if (!w) return w.error();
    auto r = compile_one(expand(read, username, vhost), "read");
    if (!r) return r.error();
    t._exchange = std::move(exchange);
    t._write_src = std::move(write);
    t._read_src = std::move(read);
    t._write = std::move(*w);
    t._read = std::move(*r);
    return t;
}

bool topic_permission::allows(permission p, std::string_view routing_key) const {
    if (p == permission::configure) return true;  // topic permissions have no configure
    return search(p == permission::write ? _write : _read, routing_key);
}

core::error refused(resource_kind kind, std::string_view name, std::string_view vhost,
                    std::string_view user) {
    return core::error{reply_code::access_refused,
                       fmt::format("access to {} '{}' in vhost '{}' refused for user '{}'",
                                   kind_name(kind), name, vhost, user),
                       fmt::format("{} '{}' in vhost '{}'", kind_name(kind), name, vhost)};
}

core::error topic_refused(std::string_view routing_key, std::string_view exchange,
                          std::string_view vhost, std::string_view user) {
    return core::error{reply_code::access_refused,
                       fmt::format("access to topic '{}' in exchange '{}' in vhost '{}' refused "
                                   "for user '{}'",
                                   routing_key, exchange, vhost, user),
                       fmt::format("exchange '{}' in vhost '{}'", exchange, vhost)};
}

}  // namespace warren::auth
