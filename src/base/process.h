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

// Bytes the allocator holds free for reuse (glibc: mallinfo2's fordblks; 0 elsewhere). It
// walks the free lists: for a once-a-second check, not a hot path. Giving memory back does not
// lower it (the pages go, the free chunks stay); freeing and allocating move it.
uint64_t free_heap_bytes();

// Called once at start, before the broker allocates: glibc's defaults give a freed block of
// 128 KiB or more straight back to the OS (mmap/munmap, or trimming the heap's top past a few
// MiB), so a broker relaying 1 MiB messages faulted in fresh zeroed pages for every body (about
// 100 page faults a second per MB/s, 40% of its time). Here blocks up to 16 MiB come from the
// heap and up to 64 MiB of free heap top is kept for reuse; give_back_free_memory() still
// returns everything when the resource monitor asks. Leaves glibc alone if GLIBC_TUNABLES sets
// malloc parameters (an operator's choice wins). Returns true if the settings were applied.
bool keep_freed_memory_for_reuse();
inline constexpr uint64_t heap_block_limit = 16ull << 20;  // M_MMAP_THRESHOLD
inline constexpr uint64_t heap_top_kept = 64ull << 20;     // M_TRIM_THRESHOLD

}  // namespace warren::process
