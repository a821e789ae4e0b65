#include "core/message.h"

#include <atomic>

namespace warren::core {

uint64_t next_message_id() {
    static std::atomic<uint64_t> last{0};
    return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace warren::core
