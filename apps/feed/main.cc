// feedd: the seed's real-time feed, end to end (apps/feed/README.md, docs/feed.md).
//
//   browser ──HTTP──▶ feedd ──one transaction──▶ SQLite (posts + outbox)
//                       │                              │ warren-outbox (confirms, row id = key)
//                       │ presence (WebSocket)         ▼
//                       ▼                       Warren: feed.posts (topic, deduplicating)
//                     Redis                            │ author.<id> bindings
//                                                      ▼
//   browser ◀──STOMP over WebSocket── feed.user.<id> (durable, x-message-ttl, x-max-length)
//
// Push mode: the page subscribes to its user's queue through Warren's /ws and shows each post
// as it arrives; what arrived while the page was closed waits in the queue for the TTL. A page
// load (refresh) reads the feed from the database. Pull mode (the seed's counter-example): the
// same page asks the database every --poll-ms instead.
//
// One I/O thread: HTTP (mgmt::http_server, the broker's own), SQLite, the broker's declares
// (a blocking AMQP client) and Redis all run on it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <nlohmann/json.hpp>

#include "apps/feed/feed_db.h"
#include "apps/feed/presence.h"
#include "mgmt/http_server.h"
#include "net/listener.h"
#include "tools/perf/amqp_client.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using json = nlohmann::json;
using namespace warren;

namespace {

struct options {
    std::string bind = "127.0.0.1";
    uint16_t port = 8080;
    std::string db = "feed.db";
    std::string amqp = "amqp://guest:guest@127.0.0.1:5672/";
    std::string redis = "127.0.0.1:6379";
    std::string stomp_url = "ws://127.0.0.1:15672/ws";
    std::string mode = "push";
    int64_t poll_ms = 2000;
    int64_t offline_ttl_ms = 24 * 3600 * 1000;
    int64_t max_length = 1000;
    std::string www;
    std::string stompjs;
    bool seed = false;
    uint16_t outbox_wake = 0;
};

// Wakes warren-outbox after a commit (its --wake-udp): SQLite has no NOTIFY.
class outbox_wake {
public:
    explicit outbox_wake(uint16_t port) {
        if (!port) return;
        _fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        _to.sin_family = AF_INET;
        _to.sin_port = htons(port);
        _to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    ~outbox_wake() {
        if (_fd >= 0) ::close(_fd);
    }
    void ring() {
        if (_fd >= 0)
            (void)::sendto(_fd, "w", 1, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&_to),
                           sizeof _to);
    }

private:
    int _fd = -1;
    sockaddr_in _to{};
};

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

mgmt::response reply(const mgmt::request& req, http::status st, const json& body) {
    return mgmt::make_response(req, st, body.dump());
}

mgmt::response bad(const mgmt::request& req, std::string why) {
    return reply(req, http::status::bad_request, json{{"error", std::move(why)}});
}

json to_json(const feed::post& p) {
    return json::parse(feed::post_json(p));
}

// The broker side: the posts exchange and each user's queue, declared through a blocking AMQP
// client that reconnects when a call fails.
class broker_setup {
public:
    broker_setup(perf::amqp_uri uri, const options& o) : _uri(std::move(uri)), _o(o) {}

    void exchange() {
        call([&](perf::sync_client& c) {
            // Deduplicating (LavinMQ's argument form, on a topic exchange): the outbox relay
            // publishes each row at least once; the row id is the key.
            c.declare_exchange(
                feed::k_posts_exchange, "topic", true,
                {{"x-message-deduplication", true}, {"x-cache-size", int64_t{1'000'000}}});
        });
    }
    // A user's queue, declared with the user: it holds their posts while they are offline.
    void user(int64_t id) {
        call([&](perf::sync_client& c) { declare_queue(c, id); });
    }
    void follow(int64_t follower, int64_t followee) {
        call([&](perf::sync_client& c) {
            declare_queue(c, follower);
            c.bind_queue(feed::user_queue(follower), feed::k_posts_exchange,
                         feed::author_key(followee));
        });
    }

    // Many at once: the declares and binds pipelined (nowait), then one round trip.
    void bulk(const std::vector<int64_t>& users,
              const std::vector<std::pair<int64_t, int64_t>>& follows) {
        call([&](perf::sync_client& c) {
            const core::field_table args{{"x-message-ttl", _o.offline_ttl_ms},
                                         {"x-max-length", _o.max_length}};
            for (int64_t u : users) c.declare_queue_nowait(feed::user_queue(u), true, args);
            for (auto [a, b] : follows) {
                c.declare_queue_nowait(feed::user_queue(a), true, args);
                c.bind_queue_nowait(feed::user_queue(a), feed::k_posts_exchange,
                                    feed::author_key(b));
            }
            c.sync();
        });
    }

private:
    void declare_queue(perf::sync_client& c, int64_t user) {
        c.declare_queue(feed::user_queue(user), true,
                        {{"x-message-ttl", _o.offline_ttl_ms}, {"x-max-length", _o.max_length}},
                        false);
    }
    template <typename F>
    void call(F&& f) {
        for (int attempt = 0;; ++attempt) {
            try {
                if (!_c) _c = std::make_unique<perf::sync_client>(_uri, nullptr, 10);
                f(*_c);
                return;
            } catch (const std::exception& e) {
                _c.reset();
                if (attempt == 1) throw;
            }
        }
    }

    perf::amqp_uri _uri;
    const options& _o;
    std::unique_ptr<perf::sync_client> _c;
};

// One page's presence WebSocket: the first message names the user; online until it closes.
class presence_session : public std::enable_shared_from_this<presence_session> {
public:
    presence_session(mgmt::ws_stream ws, feed::presence& p, feed::feed_db& db, uint64_t n)
        : _ws(std::move(ws)), _p(p), _db(db), _conn("c" + std::to_string(n)) {}
    void start() { read(); }

private:
    void read() {
        _ws.async_read(
            _buf, [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
    }
    void on_read(beast::error_code ec) {
        if (ec) {
            if (_user) try {
                    _p.offline(_user, _conn);
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "feedd: presence: %s\n", e.what());
                }
            return;
        }
        std::string msg = beast::buffers_to_string(_buf.data());
        _buf.consume(_buf.size());
        if (!_user) {
            try {
                int64_t id = std::stoll(msg);
                if (_db.find_user(id)) {
                    _user = id;
                    _p.online(_user, _conn);
                }
            } catch (const std::exception& e) {
                std::fprintf(stderr, "feedd: presence: %s\n", e.what());
            }
        }
        read();
    }

    mgmt::ws_stream _ws;
    beast::flat_buffer _buf;
    feed::presence& _p;
    feed::feed_db& _db;
    std::string _conn;
    int64_t _user = 0;
};

std::optional<int64_t> to_id(std::string_view s) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || v <= 0) return std::nullopt;
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    CLI::App app{"feedd: the seed's real-time feed (push through Warren, or pull from the DB)"};
    app.add_option("--bind", o.bind, "HTTP address")->capture_default_str();
    app.add_option("--port", o.port, "HTTP port")->capture_default_str();
    app.add_option("--db", o.db, "SQLite database file")->capture_default_str();
    app.add_option("--amqp", o.amqp, "the broker, for declaring queues")->capture_default_str();
    app.add_option("--redis", o.redis, "presence store host:port")->capture_default_str();
    app.add_option("--stomp-url", o.stomp_url, "Warren's STOMP-over-WebSocket URL, for browsers")
        ->capture_default_str();
    app.add_option("--mode", o.mode, "push (STOMP) or pull (poll the database)")
        ->check(CLI::IsMember({"push", "pull"}))
        ->capture_default_str();
    app.add_option("--poll-ms", o.poll_ms, "pull mode: the page's poll interval")
        ->capture_default_str();
    app.add_option("--offline-ttl-ms", o.offline_ttl_ms,
                   "how long a user's queue keeps posts while they are offline (x-message-ttl)")
        ->capture_default_str();
    app.add_option("--max-length", o.max_length, "posts a user's queue keeps (x-max-length)")
        ->capture_default_str();
    app.add_option("--www", o.www,
                   "the page's directory (default: apps/feed/www beside the source)");
    app.add_option("--stompjs", o.stompjs, "@stomp/stompjs's stomp.umd.min.js");
    app.add_flag("--seed", o.seed, "create demo users, follows and posts if the db is empty");
    app.add_option("--outbox-wake", o.outbox_wake,
                   "after each post, a datagram to 127.0.0.1:PORT (warren-outbox --wake-udp)");
    CLI11_PARSE(app, argc, argv);

    auto parsed = perf::parse_amqp_uri(o.amqp);
    if (auto* err = std::get_if<std::string>(&parsed)) {
        std::fprintf(stderr, "feedd: --amqp: %s\n", err->c_str());
        return 2;
    }
    const auto colon = o.redis.rfind(':');
    if (colon == std::string::npos) {
        std::fprintf(stderr, "feedd: --redis wants host:port\n");
        return 2;
    }
#ifdef FEED_SOURCE_DIR
    if (o.www.empty()) o.www = std::string(FEED_SOURCE_DIR) + "/www";
    if (o.stompjs.empty())
        o.stompjs = std::string(FEED_SOURCE_DIR) +
                    "/../../tests/node_modules/@stomp/stompjs/bundles/stomp.umd.min.js";
#endif
    try {
        const std::string index = read_file(o.www + "/index.html");
        const std::string stompjs = read_file(o.stompjs);
        feed::feed_db db(o.db);
        char host[256] = "feedd";
        ::gethostname(host, sizeof host - 1);
        feed::presence presence(o.redis.substr(0, colon), std::stoi(o.redis.substr(colon + 1)),
                                std::string(host) + ":" + std::to_string(o.port));
        broker_setup broker(std::get<perf::amqp_uri>(parsed), o);
        outbox_wake wake(o.outbox_wake);
        broker.exchange();
        if (o.seed && db.users().empty()) {
            const int64_t ann = db.create_user("ann"), bob = db.create_user("bob"),
                          cho = db.create_user("cho");
            for (int64_t u : {ann, bob, cho}) broker.user(u);
            for (auto [a, b] : {std::pair{bob, ann}, {cho, ann}, {ann, bob}, {cho, bob}}) {
                db.follow(a, b);
                broker.follow(a, b);
            }
            db.create_post(ann, "Hello from ann: posts reach online followers at once.");
            db.create_post(bob, "bob here. Close the tab, post as ann, reopen: it waits.");
        }

        asio::io_context io;
        mgmt::http_server server(io);
        auto& r = server.routes();
        r.add("GET", "/", [&](const mgmt::call& c) {
            return mgmt::make_response(c.req, http::status::ok, index, "text/html; charset=utf-8");
        });
        r.add("GET", "/stomp.umd.min.js", [&](const mgmt::call& c) {
            return mgmt::make_response(c.req, http::status::ok, stompjs, "text/javascript");
        });
        r.add("GET", "/api/config", [&](const mgmt::call& c) {
            return reply(c.req, http::status::ok,
                         json{{"mode", o.mode},
                              {"poll_ms", o.poll_ms},
                              {"stomp_url", o.stomp_url},
                              {"offline_ttl_ms", o.offline_ttl_ms}});
        });
        r.add("GET", "/api/users", [&](const mgmt::call& c) {
            json out = json::array();
            for (auto& u : db.users()) out.push_back({{"id", u.id}, {"name", u.name}});
            return reply(c.req, http::status::ok, out);
        });
        r.add("POST", "/api/users", [&](const mgmt::call& c) {
            auto j = json::parse(c.req.body(), nullptr, false);
            if (!j.is_object() || !j.contains("name") || !j["name"].is_string() ||
                j["name"].get<std::string>().empty())
                return bad(c.req, "want {\"name\": \"...\"}");
            auto name = j["name"].get<std::string>();
            const int64_t id = db.create_user(name);
            broker.user(id);
            return reply(c.req, http::status::ok, json{{"id", id}, {"name", name}});
        });
        r.add("POST", "/api/follows", [&](const mgmt::call& c) {
            auto j = json::parse(c.req.body(), nullptr, false);
            if (!j.is_object() || !j.contains("follower") || !j.contains("followee") ||
                !j["follower"].is_number_integer() || !j["followee"].is_number_integer())
                return bad(c.req, "want {\"follower\": id, \"followee\": id}");
            const int64_t a = j["follower"], b = j["followee"];
            if (!db.follow(a, b))
                return reply(c.req, http::status::not_found, json{{"error", "no such user"}});
            broker.follow(a, b);
            return reply(c.req, http::status::ok, json{{"follower", a}, {"followee", b}});
        });
        r.add("POST", "/api/posts", [&](const mgmt::call& c) {
            auto j = json::parse(c.req.body(), nullptr, false);
            if (!j.is_object() || !j.contains("author") || !j["author"].is_number_integer() ||
                !j.contains("text") || !j["text"].is_string())
                return bad(c.req, "want {\"author\": id, \"text\": \"...\"}");
            auto p = db.create_post(j["author"].get<int64_t>(), j["text"].get<std::string>());
            if (!p) return reply(c.req, http::status::not_found, json{{"error", "no such user"}});
            wake.ring();
            return reply(c.req, http::status::ok, to_json(*p));
        });
        // Bulk set-up for feed-bench: {"names": [...]} and {"pairs": [[follower, followee], ...]}.
        r.add("POST", "/api/users/bulk", [&](const mgmt::call& c) {
            auto j = json::parse(c.req.body(), nullptr, false);
            if (!j.is_object() || !j.contains("names") || !j["names"].is_array())
                return bad(c.req, "want {\"names\": [...]}");
            std::vector<std::string> names;
            for (auto& n : j["names"])
                if (n.is_string()) names.push_back(n.get<std::string>());
            auto ids = db.create_users(names);
            broker.bulk(ids, {});
            return reply(c.req, http::status::ok, json{{"ids", ids}});
        });
        r.add("POST", "/api/follows/bulk", [&](const mgmt::call& c) {
            auto j = json::parse(c.req.body(), nullptr, false);
            if (!j.is_object() || !j.contains("pairs") || !j["pairs"].is_array())
                return bad(c.req, "want {\"pairs\": [[follower, followee], ...]}");
            std::vector<std::pair<int64_t, int64_t>> pairs;
            for (auto& p : j["pairs"])
                if (p.is_array() && p.size() == 2 && p[0].is_number_integer() &&
                    p[1].is_number_integer())
                    pairs.emplace_back(p[0].get<int64_t>(), p[1].get<int64_t>());
            const size_t n = db.follow_many(pairs);
            broker.bulk({}, pairs);
            return reply(c.req, http::status::ok, json{{"followed", n}});
        });
        r.add("GET", "/api/feed/{user}", [&](const mgmt::call& c) {
            auto u = to_id(c.param("user"));
            if (!u) return bad(c.req, "bad user id");
            int64_t after = 0, limit = 50;
            if (auto a = c.query_value("after")) after = to_id(*a).value_or(0);
            if (auto l = c.query_value("limit"))
                limit = std::min<int64_t>(to_id(*l).value_or(50), 500);
            json out = json::array();
            for (auto& p : db.feed(*u, static_cast<size_t>(limit), after))
                out.push_back(to_json(p));
            return reply(c.req, http::status::ok, out);
        });
        r.add("GET", "/api/presence/{user}", [&](const mgmt::call& c) {
            auto u = to_id(c.param("user"));
            if (!u) return bad(c.req, "bad user id");
            auto d = presence.details(*u);
            return reply(c.req, http::status::ok, json{{"online", !d.empty()}, {"details", d}});
        });
        r.add("GET", "/api/stats", [&](const mgmt::call& c) {
            return reply(c.req, http::status::ok,
                         json{{"db_queries", db.queries()}, {"online", presence.online_count()}});
        });
        uint64_t sessions = 0;
        server.on_websocket(
            "/presence", {"feed-presence"}, [&](mgmt::ws_stream ws, const std::string&) {
                std::make_shared<presence_session>(std::move(ws), presence, db, ++sessions)
                    ->start();
            });
        net::listener l(io, "http", asio::ip::tcp::endpoint(asio::ip::make_address(o.bind), o.port),
                        [&](asio::ip::tcp::socket s) { server.accept(std::move(s)); });
        l.start();
        std::fprintf(stderr, "feedd: %s mode, http://%s:%u/ (db %s, redis %s, broker %s)\n",
                     o.mode.c_str(), o.bind.c_str(),
                     static_cast<unsigned>(l.local_endpoint().port()), o.db.c_str(),
                     o.redis.c_str(), o.amqp.c_str());
        asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&](beast::error_code, int) {
            l.stop();
            server.shutdown();
            io.stop();
        });
        io.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "feedd: %s\n", e.what());
        return 1;
    }
    return 0;
}
