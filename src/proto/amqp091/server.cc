#include "proto/amqp091/server.h"

#include <vector>

#include "base/log.h"
#include "proto/amqp091/connection.h"

namespace warren::amqp {

server::server(boost::asio::io_context& io, core::broker& b, settings s)
    : _io(io), _broker(b), _settings(std::move(s)) {
    if (_settings.frame_max != 0 && _settings.frame_max < frame_min_size)
        _settings.frame_max = frame_min_size;
}

server::~server() {
    // Pending handlers may keep connections alive after us: cut them loose first.
    auto conns = std::move(_connections);
    _connections.clear();
    for (auto& [id, c] : conns) c->abandon();
}

void server::accept(boost::asio::ip::tcp::socket s) {
    if (_shutting_down) {
        boost::system::error_code ec;
        s.close(ec);
        return;
    }
    uint64_t id = _broker.next_connection_id();
    auto c = std::make_shared<connection>(*this, std::move(s), id);
    _connections.emplace(id, c);
    c->start();
}

void server::shutdown() {
    _shutting_down = true;
    std::vector<std::shared_ptr<connection>> conns;
    conns.reserve(_connections.size());
    for (auto& [id, c] : _connections) conns.push_back(c);
    for (auto& c : conns) c->force_close("shutdown");
}

void server::remove(uint64_t connection_id) { _connections.erase(connection_id); }

}  // namespace warren::amqp
