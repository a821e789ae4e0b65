#pragma once
// Facts about this process that more than one module reports (the resource monitor's memory
// alarm, the management API's /api/nodes).

#include <cstdint>

namespace warren::process {

// Resident set size in bytes (/proc/self/statm; 0 if unreadable).
uint64_t resident_memory();

}  // namespace warren::process
