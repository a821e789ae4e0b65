#include "server/policies.h"

#include "store/topology.h"

namespace warren::server {

core::result<core::field_table> policy_definition(const std::string& json) {
    auto t = store::parse_policy_definition(json);
    if (!t)
        return core::error{core::reply_code::precondition_failed,
                           "definition is not a JSON object"};
    return std::move(*t);
}

core::result<core::policy> to_core_policy(const policy_setting& s) {
    auto def = policy_definition(s.definition);
    if (!def) return def.error();
    return core::policy{s.name, s.pattern, s.apply_to, s.priority, std::move(*def)};
}

core::result<void> apply_config_policies(core::broker& b, const config& cfg) {
    core::vhost* vh = b.find_vhost(cfg.default_vhost);
    if (!vh && !cfg.policies.empty())
        return core::error{core::reply_code::not_found,
                           "vhost '" + cfg.default_vhost + "' does not exist",
                           "vhost '" + cfg.default_vhost + "'"};
    auto named = [](const policy_setting& s, const core::error& e) {
        return core::error{e.code, "policy '" + s.name + "': " + e.text, e.resource};
    };
    for (auto& s : cfg.policies) {
        auto p = to_core_policy(s);
        if (!p) return named(s, p.error());
        auto r = vh->set_policy(std::move(*p));
        if (!r) return named(s, r.error());
    }
    return {};
}

}  // namespace warren::server
