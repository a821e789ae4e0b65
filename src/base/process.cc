#include "base/process.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

namespace warren::process {

uint64_t resident_memory() {
    std::ifstream statm("/proc/self/statm");
    uint64_t size = 0, resident = 0;
    if (!(statm >> size >> resident)) return 0;
    return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

bool give_back_free_memory() {
#if defined(__GLIBC__)
    return malloc_trim(0) == 1;
#else
    return false;  // other allocators give memory back themselves
#endif
}

uint64_t free_heap_bytes() {
#if defined(__GLIBC__)
    return mallinfo2().fordblks;
#else
    return 0;
#endif
}

bool keep_freed_memory_for_reuse() {
#if defined(__GLIBC__)
    const char* tunables = std::getenv("GLIBC_TUNABLES");
    if (tunables && std::strstr(tunables, "glibc.malloc.")) return false;
    return mallopt(M_MMAP_THRESHOLD, int(heap_block_limit)) == 1 &&
           mallopt(M_TRIM_THRESHOLD, int(heap_top_kept)) == 1;
#else
    return false;
#endif
}

}  // namespace warren::process
