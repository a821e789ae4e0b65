#include "core/message.h"

#include <atomic>

namespace warren::core {

namespace {
std::atomic<uint64_t> g_last_id{0};
}

uint64_t next_message_id() {
    return g_last_id.fetch_add(1, std::memory_order_relaxed) + 1;
}

uint64_t last_message_id() {
    return g_last_id.load(std::memory_order_relaxed);
}

void advance_message_ids(uint64_t last) {
    uint64_t cur = g_last_id.load(std::memory_order_relaxed);
    while (cur < last && !g_last_id.compare_exchange_weak(cur, last, std::memory_order_relaxed)) {
    }
}

}  // namespace warren::core
