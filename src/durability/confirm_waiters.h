#pragma once
// confirm_waiters: core::confirm_gate over the segment log's group commit. Front ends register
// a durable_waiter when a confirm (tx.commit-ok, receipt) must wait for the disk; the log's
// flusher thread reports each durable advance, which is posted to the broker's event loop (one
// notification in flight at a time) and handed to every registered waiter there. A store
// failure is posted the same way and fails every waiter (the front ends close with 541 /
// ERROR instead of waiting forever).
//
//   durability::confirm_waiters gate(io);
//   opts.on_durable = gate.on_durable_callback();   // flusher thread -> loop
//   opts.on_failed = gate.on_failed_callback(...);
//   gate.attach(&log);                              // durable_seq() reads it
//
// Owned by broker_store; lives on the broker thread. The callbacks it hands out hold only
// shared flags, so a late flusher post after destruction is a no-op.

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/confirm_gate.h"
#include "store/error.h"
#include "store/segment_log.h"

namespace warren::durability {

class confirm_waiters final : public core::confirm_gate {
public:
    explicit confirm_waiters(boost::asio::io_context& io);
    ~confirm_waiters() override;

    // Callbacks for segment_log_options (called on the flusher thread).
    std::function<void(uint64_t)> on_durable_callback();
    // `failed` runs on the loop before the waiters are failed (e.g. marks the store unhealthy).
    std::function<void(const store::error&)> on_failed_callback(
        std::function<void(const std::string&)> failed);
    void attach(const store::segment_log* log) { _log = log; }

    // core::confirm_gate
    uint64_t durable_seq() const override { return _log ? _log->durable_seq() : 0; }
    void wait(core::durable_waiter* w) override;
    void cancel_wait(core::durable_waiter* w) override;

private:
    void notify();    // on the loop: durable_seq advanced
    void fail_all();  // on the loop: the store failed
    template <typename F>
    void take_waiters(F&& call);  // calls `call` on every waiter, unregistered first

    boost::asio::io_context& _io;
    const store::segment_log* _log = nullptr;
    std::vector<core::durable_waiter*> _waiters;
    std::vector<core::durable_waiter*>* _notifying = nullptr;
    std::shared_ptr<std::atomic<bool>> _notify_posted;
    std::shared_ptr<std::atomic<bool>> _alive;
};

}  // namespace warren::durability
