#include "ctl/table.h"

#include <algorithm>

namespace warren::ctl {

using nlohmann::json;

basic_result<std::vector<column>, std::string> select_columns(
    const std::vector<std::string>& requested, const std::vector<std::string_view>& defaults,
    const column_set& set) {
    std::vector<std::string> names = requested;
    if (names.empty()) names.assign(defaults.begin(), defaults.end());
    std::vector<column> out;
    for (const auto& n : names) {
        bool known = std::find(set.known.begin(), set.known.end(), n) != set.known.end();
        if (!known) {
            std::string list;
            for (auto k : set.known) list += (list.empty() ? "" : ", ") + std::string(k);
            return std::string("Info key(s) " + n + " are not supported. Valid keys: " + list);
        }
        std::string path = n;
        for (const auto& [alias, field] : set.aliases)
            if (alias == n) path = std::string(field);
        out.push_back({n, path});
    }
    return out;
}

const json& lookup(const json& row, std::string_view path) {
    static const json null_value;
    const json* at = &row;
    while (true) {
        if (!at->is_object()) return null_value;
        auto dot = path.find('.');
        auto it = at->find(std::string(path.substr(0, dot)));
        // A key holding a dot ("x-max-length" never does; policy "apply-to" neither) would be
        // unreachable; API field names have none.
        if (it == at->end()) return null_value;
        at = &*it;
        if (dot == std::string_view::npos) return *at;
        path.remove_prefix(dot + 1);
    }
}

std::string cell(const json& v) {
    std::string s;
    if (v.is_null()) {
        s = "";
    } else if (v.is_string()) {
        s = v.get<std::string>();
    } else if (v.is_array()) {
        s = "[";
        for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + cell(v[i]);
        s += "]";
    } else {
        s = v.dump();
    }
    std::string out;
    for (char c : s) {
        if (c == '\t')
            out += "\\t";
        else if (c == '\n')
            out += "\\n";
        else if (c == '\r')
            out += "\\r";
        else
            out += c;
    }
    return out;
}

json value_of(const json& row, const column& c) {
    if (!c.path.empty() && c.path[0] == '=') return c.path.substr(1);
    return lookup(row, c.path);
}

std::string render_table(const json& rows, const std::vector<column>& cols, bool headers) {
    std::string out;
    auto line = [&](auto&& field) {
        for (std::size_t i = 0; i < cols.size(); ++i) {
            if (i) out += '\t';
            out += field(cols[i]);
        }
        out += '\n';
    };
    if (headers) line([](const column& c) { return c.name; });
    if (rows.is_array())
        for (const auto& r : rows) line([&](const column& c) { return cell(value_of(r, c)); });
    return out;
}

json select_json(const json& rows, const std::vector<column>& cols) {
    json out = json::array();
    if (!rows.is_array()) return out;
    for (const auto& r : rows) {
        json o = json::object();
        for (const auto& c : cols) o[c.name] = value_of(r, c);
        out.push_back(std::move(o));
    }
    return out;
}

}  // namespace warren::ctl
