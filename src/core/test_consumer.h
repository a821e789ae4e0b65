#pragma once
// Test doubles for core tests: a consumer with a credit counter that records what it gets.

#include <climits>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/message.h"
#include "core/queue.h"

namespace warren::core::testing {

struct test_consumer : consumer {
    explicit test_consumer(std::string t = "c", int credit_ = INT_MAX) : credit(credit_) {
        tag = std::move(t);
    }
    bool can_accept() const override { return credit > 0; }
    void deliver(delivery d) override {
        --credit;
        got.push_back(d);
        if (on_deliver) on_deliver(got.back());
    }
    void cancelled_by_broker() override { ++cancelled; }

    std::vector<std::string> bodies() const {
        std::vector<std::string> out;
        for (auto& d : got) out.push_back(d.msg->body);
        return out;
    }

    int credit;
    std::vector<delivery> got;
    int cancelled = 0;
    std::function<void(delivery&)> on_deliver;
};

inline message_ptr make_msg(std::string body, std::string key = "") {
    auto m = std::make_shared<message>();
    m->body = std::move(body);
    m->routing_key = std::move(key);
    return m;
}

}  // namespace warren::core::testing
