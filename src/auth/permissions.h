#pragma once
// Who may do what, as RabbitMQ decides it: per user and vhost, three regular expressions
// (configure, write, read) matched against resource names, and per user, vhost and topic
// exchange, two more (write, read) matched against routing keys. An empty expression allows
// nothing (RabbitMQ reads "" as "^$"); a match anywhere in the name allows (re:run semantics,
// unanchored unless the pattern anchors itself). Topic patterns may use {username} and {vhost},
// expanded when the permission is set.
//
//   auto p = auth::permission_set::compile({".*", "^amq\\.gen", ".*"});
//   if (!p->allows(auth::permission::write, "orders")) ... refused(...)
//
// Which operation needs which permission on which resource is the front ends' call (RabbitMQ's
// rules: declare and delete need configure, publish needs write on the exchange, bind needs write
// on the destination and read on the source, consume/get/purge need read on the queue); this
// file only answers "does this user's pattern allow this name" and words the refusal.

#include <optional>
#include <string>
#include <string_view>

#include "base/name_pattern.h"
#include "core/access.h"
#include "core/error.h"

namespace warren::auth {

using permission = core::permission;  // configure, write, read (core/access.h)
using resource_kind = core::resource_kind;

std::string_view permission_name(permission p);  // "configure", "write", "read"

struct permission_patterns {
    std::string configure;
    std::string write;
    std::string read;
};

class permission_set {
public:
    // 400-class error with RabbitMQ's wording if a pattern is not a valid regular expression.
    static core::result<permission_set> compile(permission_patterns p);
    bool allows(permission p, std::string_view name) const;
    const permission_patterns& patterns() const { return _patterns; }

private:
    permission_patterns _patterns;
    std::optional<name_pattern> _configure, _write, _read;  // none: "", only the empty name
    // ".*" (the usual grant) matches every name: no regex search.
    bool _configure_all = false, _write_all = false, _read_all = false;
};

// Topic permissions of one user in one vhost for one exchange (RabbitMQ's topic permissions).
class topic_permission {
public:
    static core::result<topic_permission> compile(std::string exchange, std::string write,
                                                  std::string read, std::string_view username,
                                                  std::string_view vhost);
    const std::string& exchange() const { return _exchange; }
    bool allows(permission p, std::string_view routing_key) const;
    const std::string& write_pattern() const { return _write_src; }
    const std::string& read_pattern() const { return _read_src; }

private:
    std::string _exchange, _write_src, _read_src;
    std::optional<name_pattern> _write, _read;
};

// RabbitMQ's refusal: 403 "access to queue 'q' in vhost '/' refused for user 'u'" (each
// protocol renders it: AMQP as "ACCESS_REFUSED - access to ...").
core::error refused(resource_kind kind, std::string_view name, std::string_view vhost,
                    std::string_view user);
// Topic refusal: "access to topic 'key' in exchange 'x' in vhost '/' refused for user 'u'".
core::error topic_refused(std::string_view routing_key, std::string_view exchange,
                          std::string_view vhost, std::string_view user);

}  // namespace warren::auth
