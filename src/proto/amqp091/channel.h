#pragma once
// One AMQP channel on a connection: content assembly for basic.publish, the channel's
// consumers, its unacked deliveries (delivery tags), prefetch (basic.qos), publisher confirms,
// transactions, and one handler per channel-level method (exchange.*, queue.*, basic.*,
// confirm.*, tx.*), each translating to core calls.
//
// Owned by its connection (unique_ptr, indexed by channel number) and lives on the broker
// thread. A channel is open until the client closes it (close-ok sent, then destroyed) or until
// an error closes it from our side (channel.close sent; every frame but close/close-ok is then
// ignored until the client's close-ok). Either way release() runs first: consumers are
// removed from their queues and unacked messages go back to them, in order.

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/connection_info.h"
#include "core/message.h"
#include "core/queue.h"
#include "core/settle.h"
#include "proto/amqp091/codec/frame.h"
#include "proto/amqp091/codec/methods.h"
#include "proto/amqp091/errors.h"
#include "proto/amqp091/session.h"

namespace warren::amqp {

class session;
class channel;

// A basic.consume: registered with a core queue, delivers into the channel's connection output.
// Owned by the channel; the queue holds a raw pointer until remove_consumer/cancelled_by_broker.
class amqp_consumer final : public core::consumer {
public:
    amqp_consumer(channel& ch, core::queue_ptr q, uint16_t prefetch)
        : _ch(ch), q(std::move(q)), prefetch(prefetch) {}
    bool can_accept() const override;
    void deliver(core::delivery d) override;
    void cancelled_by_broker() override;

    channel& _ch;
    core::queue_ptr q;
    uint16_t prefetch;     // per-consumer limit, 0 = none
    uint32_t unacked = 0;  // deliveries held by the client (ack mode only)
};

class channel final : public core::durable_waiter {
public:
    channel(session& conn, uint16_t id);
    ~channel() override;
    channel(const channel&) = delete;
    channel& operator=(const channel&) = delete;
    // For the management API: confirm/tx mode, unacked, prefetch, consumers.
    core::channel_info info() const;

    uint16_t id() const { return _id; }
    bool closing() const { return _state == state::closing; }

    // Called with channel.open already checked by the connection (sends open-ok).
    void open();
    // One frame for this channel. Errors are reported from here (channel.close, or
    // connection_error on the connection for hard errors).
    void handle_frame(const frame_view& f);
    // Cancels consumers and requeues unacked messages. Idempotent.
    void release();
    // End of an input batch: send coalesced publisher confirms, drop cancelled consumers.
    void end_of_batch();
    // Output drained: let consumers take messages again.
    void resume_consumers();
    // consumer_timeout (RabbitMQ's evaluate_consumer_timeout): deliveries get their time at the
    // first check after they went out (so a stale clock can only make a timeout late); if the
    // oldest unacknowledged one is older than timeout_ms, 406 PRECONDITION_FAILED "delivery
    // acknowledgement on channel N timed out. ..." closes the channel (its deliveries go back).
    void check_ack_timeout(uint64_t now_ms, uint64_t timeout_ms);
    bool holds_unacked() const { return _held != 0; }

    // ---- used by amqp_consumer ----
    bool deliverable() const;
    bool global_prefetch_reached() const {
        return _global_prefetch != 0 && _held >= _global_prefetch;
    }
    void on_deliver(amqp_consumer& c, core::delivery& d);
    void on_cancelled(amqp_consumer& c);
    // Direct reply-to: a reply published to amq.rabbitmq.reply-to.<our suffix>.
    void deliver_reply(const core::message& m);
    // The store reached durable_seq: send the confirms / tx.commit-ok waiting for it.
    void durable_advanced(uint64_t durable_seq) override;
    // The store failed with confirms outstanding: close the connection with 541.
    void durable_failed() override;

private:
    enum class state { open, closing };
    enum class content_state { none, header, body };
    using settle_op = core::settle_op;

    struct unacked_entry {
        uint64_t tag;
        core::queue_ptr q;
        uint64_t seq;
        amqp_consumer* c;  // null for basic.get or after the consumer went away
        enum : uint8_t { live, in_tx, settled } st;
        uint64_t at_ms = 0;  // consumer_timeout clock; 0 = not stamped yet
    };
    struct tx_publish {
        std::string exchange;
        bool mandatory;
        core::message_ptr msg;
    };
    struct tx_settle {
        uint64_t tag;
        settle_op op;
    };

    // Dispatch.
    core::result<void> handle_method(const method& m);
    void fail(const core::error& e, uint16_t class_id, uint16_t method_id);
    void start_content(std::string_view exchange, std::string_view routing_key, bool mandatory,
                       bool immediate);
    core::result<void> handle_header(const frame_view& f);
    core::result<void> handle_body(const frame_view& f);
    core::result<void> publish_complete();
    core::result<void> check_properties(const core::message& m) const;
    core::result<void> consume_replies(const basic_consume& m);
    core::result<void> rewrite_reply_to(core::message& m);
    // The message's content properties in wire form: props_raw, or encoded into the
    // connection's scratch buffer (valid until the next use of it).
    std::string_view wire_props(const core::message& m);
    core::result<void> route(std::string_view exchange, bool mandatory,
                             const core::message_ptr& msg);

    template <typename M>
    void send(const M& m) {
        append_method_frame(_conn.out(), _id, m);
        _conn.output_appended();
    }

    // Handlers, one per method.
    core::result<void> on(const channel_open& m);
    core::result<void> on(const channel_flow& m);
    core::result<void> on(const channel_close& m);
    core::result<void> on(const channel_close_ok& m);
    core::result<void> on(const access_request& m);
    core::result<void> on(const exchange_declare& m);
    core::result<void> on(const exchange_delete& m);
    core::result<void> on(const exchange_bind& m);
    core::result<void> on(const exchange_unbind& m);
    core::result<void> on(const queue_declare& m);
    core::result<void> on(const queue_bind& m);
    core::result<void> on(const queue_purge& m);
    core::result<void> on(const queue_delete& m);
    core::result<void> on(const queue_unbind& m);
    core::result<void> on(const basic_qos& m);
    core::result<void> on(const basic_consume& m);
    core::result<void> on(const basic_cancel& m);
    core::result<void> on(const basic_get& m);
    core::result<void> on(const basic_ack& m);
    core::result<void> on(const basic_reject& m);
    core::result<void> on(const basic_nack& m);
    core::result<void> on(const basic_recover_async& m);
    core::result<void> on(const basic_recover& m);
    core::result<void> on(const confirm_select& m);
    core::result<void> on(const tx_select& m);
    core::result<void> on(const tx_commit& m);
    core::result<void> on(const tx_rollback& m);

    // Queue-name shortcuts: "" means the queue most recently declared on this channel.
    core::result<std::string_view> expand_queue(std::string_view name) const;

    // Acks.
    unacked_entry* find_live(uint64_t tag);
    // Collects into _settle the live entries an ack/nack/reject names (406 for an unknown tag).
    core::result<void> collect(uint64_t tag, bool multiple, settle_op op);
    // A nack/reject that names a stream delivery: RabbitMQ's 540 (nothing settled).
    core::result<void> refuse_stream_settle();
    // Settles what _settle holds (or, in a transaction, parks it until commit).
    void settle_collected();
    void settle_now();
    void trim_unacked();
    void requeue_all_unacked();
    void kick_consumers(bool all);

    // Confirms.
    void flush_confirms();

    session& _conn;
    uint16_t _id;
    state _state = state::open;
    bool _released = false;

    // Content assembly for the basic.publish in progress.
    content_state _content = content_state::none;
    std::string _pub_exchange;
    std::string _pub_routing_key;
    bool _pub_mandatory = false;
    bool _pub_immediate = false;
    uint64_t _pub_remaining = 0;
    std::shared_ptr<core::message> _pub_msg;

    // Consumers by tag; cancelled ones wait in _dead until the end of the batch (the queue may
    // still be on the stack when it cancels them).
    std::unordered_map<std::string, std::unique_ptr<amqp_consumer>> _consumers;
    std::vector<std::unique_ptr<amqp_consumer>> _dead;

    // Deliveries awaiting ack, in delivery-tag order.
    std::deque<unacked_entry> _unacked;
    size_t _held = 0;  // entries not settled (live or in_tx): what prefetch limits
    uint64_t _next_tag = 1;
    std::vector<std::pair<unacked_entry*, settle_op>> _settle;  // scratch
    core::settle_batch _settle_batch;                           // scratch
    std::vector<amqp_consumer*> _kick;                          // scratch

    uint16_t _consumer_prefetch = 0;  // basic.qos global=false: for new consumers
    uint16_t _global_prefetch = 0;    // basic.qos global=true: whole channel
    std::string _last_queue;
    // Direct reply-to consumer (basic.consume on amq.rabbitmq.reply-to), if any.
    std::string _reply_tag;
    std::string _reply_suffix;

    // Publisher confirms.
    bool _confirm = false;
    uint64_t _publish_seq = 0;      // last sequence number assigned
    uint64_t _confirm_pending = 0;  // confirms not yet sent: the last _confirm_pending up to
                                    // _publish_seq
    // Replies held until the store has the messages on disk (in order: a later confirm never
    // overtakes an earlier one). store_seq 0: nothing to wait for, only order.
    struct held_reply {
        enum : uint8_t { ack, nack, commit_ok } kind;
        uint64_t publish_seq;  // ack: confirms up to this; nack: this one
        uint64_t count;        // ack: how many it covers
        uint64_t store_seq;
    };
    std::deque<held_reply> _held_replies;
    uint64_t _tx_store_seq = 0;     // highest store seq of the publishes a tx.commit routed
    uint64_t _batch_store_seq = 0;  // highest store seq among the _confirm_pending publishes
    bool _waiting_durable = false;
    // Sends now, or holds until the store catches up.
    void reply_when_durable(held_reply r);
    void send_held(const held_reply& r);
    void wait_durable(core::persistence* p);  // registers once
    core::persistence* persist();             // null before open or without a store
    void stop_waiting_durable();
    // Transactions.
    bool _tx = false;
    std::vector<tx_publish> _tx_publishes;
    std::vector<tx_settle> _tx_settles;
};

}  // namespace warren::amqp
