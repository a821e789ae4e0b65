#pragma once
// The one place core reads the system clock. Everything else in core asks its vhost
// (vhost::now_ms / wall_ms / wall_seconds), which uses the clock the server or a test injected
// (vhost::set_clock, broker::set_clock) and falls back to these only when none was injected.
// A queue without a vhost (unit tests) uses these directly.
//
//   uint64_t deadline = core::system_steady_ms() + ttl;   // only as a default, never in logic
//
// Thread-safe (they read the OS clocks); no state.

#include <cstdint>

namespace warren::core {

// Milliseconds of std::chrono::steady_clock (monotonic; for TTLs and timers).
uint64_t system_steady_ms();
// Milliseconds since the Unix epoch (std::chrono::system_clock; for what outlives the
// process: publish times in the store, x-death "time").
uint64_t system_wall_ms();

}  // namespace warren::core
