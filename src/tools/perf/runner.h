#pragma once
// Runs one warren-perf scenario end to end: declares the topology with a blocking set-up
// connection, opens consumers, idle connections and producers on one or two Asio I/O threads,
// starts publishing once all are ready, prints a live line every second, decides when the run
// is over (time, message count, drain, interrupt), reads the queue depths back, tears down and
// fills a run_summary.
//
// Called from main() on the main thread; the I/O threads live only inside run().

#include <iosfwd>

#include "tools/perf/options.h"
#include "tools/perf/report.h"

namespace warren::perf {

// Returns the process exit code: 0 on success, 1 if any connection failed or set-up failed.
// Live lines go to `live`; the summary (text or JSON) to `out`.
int run(const perf_options& o, std::ostream& live, std::ostream& out);

// Set by SIGINT/SIGTERM: the run stops and still prints its summary.
void request_stop();

}  // namespace warren::perf
