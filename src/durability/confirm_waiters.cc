#include "durability/confirm_waiters.h"

#include <boost/asio/post.hpp>

#include <algorithm>

namespace warren::durability {

confirm_waiters::confirm_waiters(boost::asio::io_context& io)
    : _io(io),
      _notify_posted(std::make_shared<std::atomic<bool>>(false)),
      _alive(std::make_shared<std::atomic<bool>>(true)) {}

confirm_waiters::~confirm_waiters() {
    _alive->store(false);
}

std::function<void(uint64_t)> confirm_waiters::on_durable_callback() {
    return [&io = _io, posted = _notify_posted, alive = _alive, self = this](uint64_t) {
        if (posted->exchange(true)) return;  // one notification in flight is enough
        boost::asio::post(io, [posted, alive, self] {
            posted->store(false);
            if (alive->load()) self->notify();
        });
    };
}

std::function<void(const store::error&)> confirm_waiters::on_failed_callback(
    std::function<void(const std::string&)> failed) {
    return [&io = _io, alive = _alive, self = this,
            failed = std::move(failed)](const store::error& e) {
        boost::asio::post(io, [alive, self, failed, text = e.text] {
            if (!alive->load()) return;
            failed(text);
            self->fail_all();
        });
    };
}

void confirm_waiters::wait(core::durable_waiter* w) {
    if (std::find(_waiters.begin(), _waiters.end(), w) == _waiters.end()) _waiters.push_back(w);
}

void confirm_waiters::cancel_wait(core::durable_waiter* w) {
    auto it = std::find(_waiters.begin(), _waiters.end(), w);
    if (it != _waiters.end()) _waiters.erase(it);
    if (_notifying)
        std::replace(_notifying->begin(), _notifying->end(), w,
                     static_cast<core::durable_waiter*>(nullptr));
}

template <typename F>
void confirm_waiters::take_waiters(F&& call) {
    std::vector<core::durable_waiter*> ws;
    ws.swap(_waiters);
    _notifying = &ws;  // a waiter destroyed meanwhile is nulled here by cancel_wait
    for (size_t i = 0; i < ws.size(); ++i)
        if (auto* w = ws[i]) call(*w);
    _notifying = nullptr;
}

void confirm_waiters::fail_all() {
    take_waiters([](core::durable_waiter& w) { w.durable_failed(); });
}

void confirm_waiters::notify() {
    if (_waiters.empty()) return;
    const uint64_t seq = durable_seq();
    // A waiter still waiting after this re-registers itself.
    take_waiters([seq](core::durable_waiter& w) { w.durable_advanced(seq); });
}

}  // namespace warren::durability
