#include "apps/feed/presence.h"

#include <chrono>
#include <cstdarg>
#include <memory>
#include <stdexcept>

namespace warren::feed {

namespace {
struct reply_free {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_free>;

std::string key(int64_t user) {
    return "presence:" + std::to_string(user);
}
}  // namespace

presence::presence(std::string host, int port, std::string node)
    : _host(std::move(host)), _port(port), _node(std::move(node)) {
    connect();
}

presence::~presence() {
    if (_c) redisFree(_c);
}

void presence::connect() {
    if (_c) redisFree(_c);
    timeval tv{2, 0};
    _c = redisConnectWithTimeout(_host.c_str(), _port, tv);
    if (!_c || _c->err) {
        std::string e = _c ? _c->errstr : "out of memory";
        if (_c) redisFree(_c);
        _c = nullptr;
        throw std::runtime_error("redis " + _host + ":" + std::to_string(_port) + ": " + e);
    }
    redisSetTimeout(_c, tv);
}

redisReply* presence::command(const char* fmt, ...) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!_c) connect();
        va_list ap;
        va_start(ap, fmt);
        void* r = redisvCommand(_c, fmt, ap);
        va_end(ap);
        if (r) {
            auto* reply = static_cast<redisReply*>(r);
            if (reply->type == REDIS_REPLY_ERROR) {
                std::string e(reply->str, reply->len);
                freeReplyObject(reply);
                throw std::runtime_error("redis: " + e);
            }
            return reply;
        }
        redisFree(_c);  // connection error: one reconnect and retry
        _c = nullptr;
    }
    throw std::runtime_error("redis: connection lost");
}

void presence::online(int64_t user, const std::string& conn) {
    const std::string k = key(user);
    const std::string since =
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
    reply_ptr(command("HSET %s conn %s node %s since %s", k.c_str(), conn.c_str(), _node.c_str(),
                      since.c_str()));
    reply_ptr(command("SADD presence:online %lld", static_cast<long long>(user)));
}

void presence::offline(int64_t user, const std::string& conn) {
    const std::string k = key(user);
    reply_ptr r(command("HGET %s conn", k.c_str()));
    if (r->type != REDIS_REPLY_STRING || std::string(r->str, r->len) != conn) return;
    reply_ptr(command("DEL %s", k.c_str()));
    reply_ptr(command("SREM presence:online %lld", static_cast<long long>(user)));
}

bool presence::is_online(int64_t user) {
    reply_ptr r(command("EXISTS %s", key(user).c_str()));
    return r->type == REDIS_REPLY_INTEGER && r->integer == 1;
}

std::map<std::string, std::string> presence::details(int64_t user) {
    reply_ptr r(command("HGETALL %s", key(user).c_str()));
    std::map<std::string, std::string> out;
    if (r->type != REDIS_REPLY_ARRAY) return out;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        out.emplace(std::string(r->element[i]->str, r->element[i]->len),
                    std::string(r->element[i + 1]->str, r->element[i + 1]->len));
    return out;
}

uint64_t presence::online_count() {
    reply_ptr r(command("SCARD presence:online"));
    return r->type == REDIS_REPLY_INTEGER ? static_cast<uint64_t>(r->integer) : 0;
}

}  // namespace warren::feed
