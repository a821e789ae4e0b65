#pragma once
// Policies from the config file (`policy = ...` lines) into core: the JSON definition becomes
// a field table (integers -> long, strings -> longstr, booleans -> bool) and core validates it
// (core/policy.h). The management API will call core's vhost::set_policy the same way later.

#include <string>

#include "core/broker.h"
#include "core/error.h"
#include "core/policy.h"
#include "server/config.h"

namespace warren::server {

// JSON object text -> core policy definition; error text if not representable.
core::result<core::field_table> policy_definition(const std::string& json);
core::result<core::policy> to_core_policy(const policy_setting& s);
// Sets every configured policy on cfg.default_vhost. Fails with the first error (its text
// names the policy).
core::result<void> apply_config_policies(core::broker& b, const config& cfg);

}  // namespace warren::server
