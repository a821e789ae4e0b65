#include "core/fields.h"

namespace warren::core {

namespace {
template <typename P>
bool deep_equal_ptr(const P& a, const P& b) {
    if (a == b) return true;
    if (!a || !b) return false;
    return *a == *b;
}
}  // namespace

bool field_value::operator==(const field_value& o) const {
    if (v.index() != o.v.index()) return false;
    if (auto* a = std::get_if<std::shared_ptr<field_table>>(&v))
        return deep_equal_ptr(*a, std::get<std::shared_ptr<field_table>>(o.v));
    if (auto* a = std::get_if<std::shared_ptr<field_array>>(&v))
        return deep_equal_ptr(*a, std::get<std::shared_ptr<field_array>>(o.v));
    return v == o.v;
}

std::optional<int64_t> field_value::as_int() const {
    return std::visit(
        [](const auto& x) -> std::optional<int64_t> {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, bool>) {
                return std::nullopt;
            } else if constexpr (std::is_integral_v<T>) {
                return static_cast<int64_t>(x);
            } else {
                return std::nullopt;
            }
        },
        v);
}

std::optional<bool> field_value::as_bool() const {
    if (auto* b = std::get_if<bool>(&v)) return *b;
    return std::nullopt;
}

const field_value* find(const field_table& t, std::string_view key) {
    for (auto& [k, val] : t)
        if (k == key) return &val;
    return nullptr;
}

field_value* find(field_table& t, std::string_view key) {
    for (auto& [k, val] : t)
        if (k == key) return &val;
    return nullptr;
}

void set(field_table& t, std::string_view key, field_value v) {
    if (auto* p = find(t, key)) {
        *p = std::move(v);
        return;
    }
    t.emplace_back(std::string(key), std::move(v));
}

bool erase(field_table& t, std::string_view key) {
    for (auto it = t.begin(); it != t.end(); ++it) {
        if (it->first == key) {
            t.erase(it);
            return true;
        }
    }
    return false;
}

bool basic_properties::operator==(const basic_properties& o) const {
    return content_type == o.content_type && content_encoding == o.content_encoding &&
           headers == o.headers && delivery_mode == o.delivery_mode && priority == o.priority &&
           correlation_id == o.correlation_id && reply_to == o.reply_to &&
           expiration == o.expiration && message_id == o.message_id && timestamp == o.timestamp &&
           type == o.type && user_id == o.user_id && app_id == o.app_id &&
           cluster_id == o.cluster_id;
}

}  // namespace warren::core
