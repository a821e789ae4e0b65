#pragma once
// Facts about this process that more than one module reports (the resource monitor's memory
// alarm, the management API's /api/nodes).

#include <cstdint>

namespace warren::process {

// Resident set size in bytes (/proc/self/statm; 0 if unreadable).
uint64_t resident_memory();

// The allocator (glibc malloc) keeps memory that was freed in its heap for reuse, so a broker
// that held millions of messages keeps their pages after they are gone. This gives the free
// pages back to the OS (malloc_trim). It walks the heap's free chunks (milliseconds for
// gigabytes): call it after a large drop in what the broker holds, not routinely. Returns true
// if memory was released.
bool give_back_free_memory();

}  // namespace warren::process
