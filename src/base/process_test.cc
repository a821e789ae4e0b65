#include "base/process.h"

#include <gtest/gtest.h>

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace warren {
namespace {

TEST(Process, ResidentMemoryIsReported) {
    EXPECT_GT(process::resident_memory(), 0u);
}

TEST(Process, FreedSmallAllocationsAreGivenBack) {
    if (std::getenv("WARREN_SANITIZED")) GTEST_SKIP() << "ASan's allocator keeps its own memory";
    // 256 MiB in message-sized pieces (what a queue of a million messages leaves behind), each
    // touched so it is resident, then freed: glibc keeps the pages in its heap for reuse.
    std::vector<void*> blocks(1 << 20);
    for (auto& b : blocks) {
        b = std::malloc(240);
        std::memset(b, 1, 240);
    }
    const uint64_t full = process::resident_memory();
    // One in 64 stays (messages still queued elsewhere): the heap cannot shrink from its top,
    // so free() alone gives nothing back.
    std::vector<void*> kept;
    for (size_t i = 0; i < blocks.size(); ++i) {
        if (i % 64 == 0)
            kept.push_back(blocks[i]);
        else
            std::free(blocks[i]);
    }
    std::vector<void*>().swap(blocks);
    EXPECT_GT(process::resident_memory() + (16u << 20), full) << "free() gave it back already";
    EXPECT_TRUE(process::give_back_free_memory());
    const uint64_t after = process::resident_memory();
    EXPECT_LT(after + (100u << 20), full) << "full " << full << " after " << after;
    for (auto* b : kept) std::free(b);
}

TEST(Process, BlocksUpTo16MiBComeFromTheHeap) {
    if (std::getenv("WARREN_SANITIZED")) GTEST_SKIP() << "ASan's allocator keeps its own memory";
    ASSERT_TRUE(process::keep_freed_memory_for_reuse());
    // 12 MiB: above glibc's own mmap threshold even after it adapted (it rises only to the
    // largest block freed so far), below heap_block_limit.
    const size_t n = 12u << 20;
    const size_t mapped = mallinfo2().hblks;
    void* b = std::malloc(n);
    asm volatile("" : : "r"(b) : "memory");  // the compiler may not drop the pair
    EXPECT_EQ(mallinfo2().hblks, mapped) << "a 12 MiB block was mmapped";
    std::memset(b, 1, n);
    std::free(b);
    EXPECT_TRUE(process::give_back_free_memory());
}

}  // namespace
}  // namespace warren
