#pragma once
// A TCP listener that knows no protocol: it binds, accepts, and hands each accepted socket to
// the protocol front end's callback (amqp::server::accept, stomp::server::accept, the HTTP
// server). Lives on the broker thread; owned by server::broker_server for the process lifetime.
//
//   net::listener l(io, "amqp", endpoint, [&](tcp::socket s) { amqp.accept(std::move(s)); });
//   l.start();   // throws std::system_error if the port cannot be bound

#include <boost/asio.hpp>

#include <functional>
#include <string>

namespace warren::net {

class listener {
public:
    using accept_fn = std::function<void(boost::asio::ip::tcp::socket)>;

    listener(boost::asio::io_context& io, std::string name, boost::asio::ip::tcp::endpoint ep,
             accept_fn on_accept);
    // Binds and starts accepting. Throws std::system_error naming the address on failure.
    void start();
    void stop();
    boost::asio::ip::tcp::endpoint local_endpoint() const;
    const std::string& name() const { return _name; }

private:
    void do_accept();

    boost::asio::io_context& _io;
    std::string _name;
    boost::asio::ip::tcp::endpoint _endpoint;
    boost::asio::ip::tcp::acceptor _acceptor;
    accept_fn _on_accept;
    bool _stopped = false;
};

}  // namespace warren::net
