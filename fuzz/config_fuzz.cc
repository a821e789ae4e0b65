// Fuzz target: warrend's configuration file parser (server/config.h) and the policies it
// carries (server/policies.h). A bad file must end in config_error (warrend prints it and
// exits 2); any other exception, or a crash, is a bug. Policies that parse are applied to a
// fresh broker, as warrend does at start.

#include <string>

#include "core/broker.h"
#include "fuzz/fuzz_input.h"
#include "server/config.h"
#include "server/policies.h"

using namespace warren;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    server::config c;
    try {
        server::parse_config(c, text, "fuzz.conf");
        server::check_config(c);
    } catch (const server::config_error&) {
        return 0;
    }
    (void)server::tls_enabled(c);
    if (!c.policies.empty()) {
        core::broker b;
        (void)server::apply_config_policies(b, c);
    }
    return 0;
}
