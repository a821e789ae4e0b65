// Fuzz target: the management HTTP API behind warrend's HTTP listener: every route (users,
// vhosts, permissions, limits, exchanges, queues, bindings, publish/get, policies, operator
// policies, parameters, definitions export and import, the UI's files, /metrics) fed arbitrary
// requests on a fresh in-memory broker, as the administrator guest or, by the first byte, as a
// management-only user. Up to four requests per input, separated by "\n--\n"; each is
// "METHOD\nTARGET\nBODY" (the body is everything after the second line). Besides no crash and
// no sanitizer report: no reply is 5xx (nothing can fail to save here, so a 5xx is a bug), and
// every reply that claims JSON parses as JSON.

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include <string>

#include "base/log.h"
#include "fuzz/api_world.h"
#include "fuzz/fuzz_input.h"
#include "mgmt/definitions_import.h"
#include "mgmt/http_server.h"
#include "mgmt/metrics.h"
#include "mgmt/policy_api.h"
#include "mgmt/ui_assets.h"

using namespace warren;

namespace {

void one_request(mgmt::http_server& http, std::string_view text, const char* authorization) {
    auto nl = text.find('\n');
    if (nl == std::string_view::npos) return;
    const auto method =
        boost::beast::http::string_to_verb(boost::beast::string_view(text.data(), nl));
    if (method == boost::beast::http::verb::unknown) return;
    text.remove_prefix(nl + 1);
    nl = text.find('\n');
    std::string_view target = text.substr(0, nl);
    std::string_view body = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (target.empty() || target.size() > 4096) return;
    mgmt::request req{method, boost::beast::string_view(target.data(), target.size()), 11};
    req.set(boost::beast::http::field::content_type, "application/json");
    req.set(boost::beast::http::field::authorization, authorization);
    req.body() = std::string(body);
    req.prepare_payload();
    mgmt::response r = http.dispatch(req, "127.0.0.1:4242");
    FUZZ_CHECK(r.result_int() >= 100 && r.result_int() < 500);
    auto type = r.find(boost::beast::http::field::content_type);
    if (type != r.end() && type->value().starts_with("application/json") && !r.body().empty())
        FUZZ_CHECK(nlohmann::json::accept(r.body()));
}

}  // namespace

// Every management route: the access and management APIs (fuzz/api_world.h), policies,
// definitions import, /metrics and the UI's files.
struct world : fuzz::api_world {
    world() : api_world(users()) {
        policies.install(http);
        definitions.install(http);
        metrics.install(http);
        mgmt::install_ui(http.routes());
    }

    void reset() {
        api_world::reset();
        rates->sample(0);
    }

    // guest (administrator) and mg (management, all permissions on "/").
    static auth::authority users() {
        auth::authority a;
        a.seed_default_user("guest", "guest", "/");
        a.users.put_user("mg", auth::hash_password("mg"), {"management"});
        (void)a.users.set_permissions("mg", "/", {".*", ".*", ".*"});
        return a;
    }

    mgmt::policy_api policies{*broker, authority, management.node_name()};
    mgmt::definitions_import definitions{*broker, authority};
    mgmt::metrics metrics{*broker, nullptr};
};

// A log line per user created or import stopped would cost more than the request.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    log::init(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::input in(data, size);
    const bool as_management_user = in.byte() & 1;
    static world w;
    w.reset();
    // guest:guest and mg:mg, base64.
    const char* authorization = as_management_user ? "Basic bWc6bWc=" : "Basic Z3Vlc3Q6Z3Vlc3Q=";
    fuzz::split(in.rest(), "\n--\n", 4,
                [&](std::string_view part) { one_request(w.http, part, authorization); });
    w.rates->sample(5000);
    return 0;
}
