#include "net/listener.h"

#include "base/log.h"

namespace warren::net {

using boost::asio::ip::tcp;

listener::listener(boost::asio::io_context& io, std::string name, tcp::endpoint ep,
                   accept_fn on_accept)
    : _io(io),
      _name(std::move(name)),
      _endpoint(ep),
      _acceptor(io),
      _on_accept(std::move(on_accept)) {}

void listener::start() {
    boost::system::error_code ec;
    _acceptor.open(_endpoint.protocol(), ec);
    if (!ec) _acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) _acceptor.bind(_endpoint, ec);
    if (!ec) _acceptor.listen(1024, ec);
    if (ec) {
        throw std::system_error(ec, _name + " listener cannot listen on " +
                                        _endpoint.address().to_string() + ":" +
                                        std::to_string(_endpoint.port()));
    }
    do_accept();
}

void listener::stop() {
    _stopped = true;
    boost::system::error_code ec;
    _acceptor.close(ec);
}

tcp::endpoint listener::local_endpoint() const {
    boost::system::error_code ec;
    auto ep = _acceptor.local_endpoint(ec);
    return ec ? _endpoint : ep;
}

void listener::do_accept() {
    _acceptor.async_accept([this](boost::system::error_code ec, tcp::socket s) {
        if (_stopped) return;
        if (ec) {
            // Out of file descriptors and the like: log, and keep accepting after a pause
            // rather than spinning.
            WLOG_WARN("{} accept failed: {}", _name, ec.message());
            auto t = std::make_shared<boost::asio::steady_timer>(_io);
            t->expires_after(std::chrono::milliseconds(100));
            t->async_wait([this, t](auto) {
                if (!_stopped) do_accept();
            });
            return;
        }
        boost::system::error_code ignore;
        s.set_option(tcp::no_delay(true), ignore);
        _on_accept(std::move(s));
        do_accept();
    });
}

}  // namespace warren::net
