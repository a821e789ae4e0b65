#pragma once
// The HTTP server and the management APIs a fuzz target drives, built once per process: the
// broker, the users and the rate sampler are recreated in place before every input (reset()),
// so every input starts from the same state, while the routes (hundreds of handlers, whose
// installation cost more than most inputs) are installed once. The routes hold references to
// the API objects and those to the broker, the users and the sampler: recreating them in the
// same storage (std::optional::emplace, and assignment for the users) keeps every reference
// valid.
//
//   struct world : fuzz::api_world {
//       world() : api_world(users()) { /* more routes */ }
//   };
//   static world w;  w.reset();  w.http.dispatch(...);

#include <boost/asio/io_context.hpp>

#include <optional>
#include <utility>

#include "auth/authority.h"
#include "core/broker.h"
#include "mgmt/access_api.h"
#include "mgmt/http_server.h"
#include "mgmt/management_api.h"
#include "mgmt/message_stats.h"

namespace warren::fuzz {

struct api_world {
    // seeded: the users every input starts with (hashed once; each input gets a copy).
    explicit api_world(auth::authority seeded_users) : seeded(std::move(seeded_users)) {
        access.install(http);
        management.install(http);
    }
    api_world(const api_world&) = delete;
    api_world& operator=(const api_world&) = delete;

    // A fresh broker with vhost "/", the seeded users and an empty rate sampler.
    void reset() {
        rates.reset();
        broker.reset();
        broker.emplace();
        broker->add_vhost("/");
        authority = seeded;
        rates.emplace(*broker);
        access.set_rates(&*rates);
        management.set_rates(&*rates);
    }

    const auth::authority seeded;
    boost::asio::io_context io;
    std::optional<core::broker> broker{std::in_place};
    auth::authority authority = seeded;
    std::optional<mgmt::rate_sampler> rates{std::in_place, *broker};
    mgmt::http_server http{io};
    mgmt::access_api access{*broker, authority, nullptr};
    mgmt::management_api management{*broker, authority};
};

}  // namespace warren::fuzz
