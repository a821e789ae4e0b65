#pragma once
// Who is online, in Redis (the seed keeps "the connection details of online users in a separate
// key-value store"): a hash per online user, presence:<user> = {conn, node, since}, written when
// the user's page connects and removed when it disconnects (only by the connection that wrote
// it, so a reconnect racing the old close is not wiped). A set `presence:online` lists them.
//
//   feed::presence p("127.0.0.1", 6379, "feedd@host:8080");
//   p.online(7, "c42");  ...  p.offline(7, "c42");
//   bool on = p.is_online(7);
//
// Synchronous hiredis calls on the app's thread (sub-millisecond on loopback). Reconnects on the
// next call after an error; errors throw std::runtime_error.

#include <hiredis/hiredis.h>

#include <cstdint>
#include <map>
#include <string>

namespace warren::feed {

class presence {
public:
    presence(std::string host, int port, std::string node);
    ~presence();
    presence(const presence&) = delete;
    presence& operator=(const presence&) = delete;

    void online(int64_t user, const std::string& conn);
    void offline(int64_t user, const std::string& conn);
    bool is_online(int64_t user);
    // presence:<user>'s fields (empty if offline).
    std::map<std::string, std::string> details(int64_t user);
    uint64_t online_count();

private:
    redisReply* command(const char* fmt, ...);
    void connect();

    std::string _host;
    int _port;
    std::string _node;
    redisContext* _c = nullptr;
};

}  // namespace warren::feed
