#include "mgmt/list_query.h"

#include <algorithm>
#include <charconv>
#include <numeric>

#include <fmt/format.h>

namespace warren::mgmt {

namespace {

constexpr int64_t max_page_size = 500;
constexpr int64_t default_page_size = 100;

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    while (!s.empty()) {
        size_t at = s.find(sep);
        if (at != 0) out.emplace_back(s.substr(0, at));
        if (at == std::string_view::npos) break;
        s.remove_prefix(at + 1);
    }
    return out;
}

std::optional<int64_t> parse_int(std::string_view s) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

// A dotted column's value; missing = 0 (RabbitMQ's get_dotted_value).
const json& dotted(const json& item, const std::vector<std::string>& path) {
    static const json zero = 0;
    const json* at = &item;
    for (const auto& k : path) {
        if (!at->is_object()) return zero;
        auto it = at->find(k);
        if (it == at->end()) return zero;
        at = &*it;
    }
    return *at;
}

// Erlang's term order, as far as JSON goes: numbers < atoms (true/false/null) < strings <
// lists/objects.
int rank(const json& v) {
    if (v.is_number()) return 0;
    if (v.is_boolean() || v.is_null()) return 1;
    if (v.is_string()) return 2;
    return 3;
}

int compare(const json& a, const json& b) {
    int ra = rank(a), rb = rank(b);
    if (ra != rb) return ra < rb ? -1 : 1;
    if (ra == 0) {
        double x = a.get<double>(), y = b.get<double>();
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.is_string()) {
        int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (a.is_boolean() && b.is_boolean()) {
        // atoms by name: false < true
        return a.get<bool>() == b.get<bool>() ? 0 : a.get<bool>() ? 1 : -1;
    }
    std::string x = a.dump(), y = b.dump();
    return x < y ? -1 : x > y ? 1 : 0;
}

bool icontains(std::string_view hay, std::string_view needle) {
    auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
    });
    return it != hay.end();
}

json pick(const json& item, const std::vector<std::vector<std::string>>& cols, size_t depth) {
    if (!item.is_object()) return item;
    json out = json::object();
    for (auto it = item.begin(); it != item.end(); ++it) {
        std::vector<std::vector<std::string>> sub;
        bool wanted = false, whole = false;
        for (const auto& c : cols) {
            if (c.size() <= depth || c[depth] != it.key()) continue;
            wanted = true;
            if (c.size() == depth + 1)
                whole = true;
            else
                sub.push_back(c);
        }
        if (!wanted) continue;
        out[it.key()] =
            whole || !it.value().is_object() ? it.value() : pick(it.value(), sub, depth + 1);
    }
    return out;
}

}  // namespace

list_query::list_query(const call& c) : _c(c) {
    if (auto s = c.query_value("sort"); s && !s->empty()) _sort.emplace_back(*s);
    if (auto r = c.query_value("sort_reverse")) _reverse = *r == "true";
    if (auto n = c.query_value("name")) _name = std::string(*n);
    if (auto r = c.query_value("use_regex")) _regex = *r == "true";
    if (auto cols = c.query_value("columns"))
        for (auto& col : split(*cols, ',')) _columns.push_back(split(col, '.'));
    auto page = c.query_value("page");
    auto size = c.query_value("page_size");
    if (page) {
        auto p = parse_int(*page);
        auto s = size ? parse_int(*size) : std::optional<int64_t>(default_page_size);
        if (!p || !s || *p <= 0 || *s <= 0 || *s > max_page_size) {
            auto show = [](std::optional<std::string_view> raw) {
                return raw ? std::string(*raw) : std::string("undefined");
            };
            _error = error_reply(c.req, http::status::bad_request, "invalid_pagination_parameters",
                                 fmt::format("Invalid pagination parameters: page number {}, "
                                             "page size {}",
                                             show(page), show(size)));
            return;
        }
        _paged = true;
        _page = *p;
        _page_size = *s;
    }
    if (_regex && !_name.empty()) {
        auto re = name_pattern::compile(_name, name_pattern::letter_case::ignored);
        if (re)
            _pattern = std::move(*re);
        else
            _error = bad_request(c.req, fmt::format("invalid regular expression '{}'", _name));
    }
}

json list_query::select_columns(json item) const {
    if (_columns.empty()) return item;
    return pick(item, _columns, 0);
}

response list_query::reply(json items, std::vector<std::string> default_sort) const {
    std::vector<json> v;
    v.reserve(items.size());
    for (auto& i : items) v.push_back(std::move(i));
    auto str = [&](size_t i, const char* key) -> std::string_view {
        auto it = v[i].find(key);
        return it != v[i].end() && it->is_string()
                   ? std::string_view(it->get_ref<const std::string&>())
                   : std::string_view();
    };
    return reply(
        v.size(), [&](size_t i) { return str(i, "name"); },
        [&](size_t i) { return str(i, "vhost"); }, [&](size_t i) { return v[i]; },
        std::move(default_sort));
}

response list_query::reply(size_t n, const std::function<std::string_view(size_t)>& name,
                           const std::function<std::string_view(size_t)>& vhost,
                           const std::function<json(size_t)>& make,
                           std::vector<std::string> default_sort, const number_fn& number) const {
    std::vector<size_t> idx(n);
    std::iota(idx.begin(), idx.end(), 0);

    // Sort: the requested column first, then the defaults (rabbit_mgmt_util:merge_sorts).
    std::vector<std::string> sorts = _sort;
    for (auto& d : default_sort)
        if (std::find(sorts.begin(), sorts.end(), d) == sorts.end()) sorts.push_back(d);
    // Columns the caller knows as numbers (number(i, column)) are sorted without building
    // any JSON; any other column needs every item's JSON.
    auto is_string_column = [](const std::string& s) { return s == "name" || s == "vhost"; };
    bool cheap = std::all_of(sorts.begin(), sorts.end(), [&](const std::string& s) {
        return is_string_column(s) || (number && (n == 0 || number(0, s).has_value()));
    });
    std::vector<json> built;  // index -> JSON, when the sort needs it
    if (cheap) {
        std::vector<std::vector<double>> keys(sorts.size());
        for (size_t k = 0; k < sorts.size(); ++k) {
            if (is_string_column(sorts[k])) continue;
            keys[k].resize(n);
            for (size_t i = 0; i < n; ++i) keys[k][i] = number(i, sorts[k]).value_or(0);
        }
        std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
            for (size_t k = 0; k < sorts.size(); ++k) {
                if (!is_string_column(sorts[k])) {
                    if (keys[k][a] != keys[k][b]) return keys[k][a] < keys[k][b];
                    continue;
                }
                auto x = sorts[k] == "name" ? name(a) : vhost(a);
                auto y = sorts[k] == "name" ? name(b) : vhost(b);
                if (x != y) return x < y;
            }
            return false;
        });
    } else {
        built.resize(n);
        for (size_t i = 0; i < n; ++i) built[i] = make(i);
        std::vector<std::vector<std::string>> paths;
        for (auto& s : sorts) paths.push_back(split(s, '.'));
        std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
            for (auto& p : paths) {
                int c = compare(dotted(built[a], p), dotted(built[b], p));
                if (c != 0) return c < 0;
            }
            return false;
        });
    }
    if (_reverse) std::reverse(idx.begin(), idx.end());
    auto json_of = [&](size_t i) { return built.empty() ? make(i) : std::move(built[i]); };

    if (!_paged) {
        json out = json::array();
        for (size_t i : idx) out.push_back(select_columns(json_of(i)));
        return mgmt::reply(_c.req, http::status::ok, out);
    }
    // Paged: filter by name, then cut the page.
    std::vector<size_t> kept;
    if (_name.empty()) {
        kept = std::move(idx);
    } else if (_pattern) {
        for (size_t i : idx)
            if (_pattern->search(name(i))) kept.push_back(i);
    } else {
        for (size_t i : idx)
            if (icontains(name(i), _name)) kept.push_back(i);
    }
    const uint64_t offset = static_cast<uint64_t>(_page - 1) * static_cast<uint64_t>(_page_size);
    if (offset > kept.size())
        return error_reply(_c.req, http::status::bad_request, "page_out_of_range",
                           fmt::format("Page out of range, page: {} page size: {}, len: {}", _page,
                                       _page_size, kept.size()));
    json items = json::array();
    for (uint64_t k = offset; k < kept.size() && k < offset + uint64_t(_page_size); ++k)
        items.push_back(select_columns(json_of(kept[k])));
    json out = {{"total_count", n},
                {"item_count", items.size()},
                {"filtered_count", kept.size()},
                {"page", _page},
                {"page_size", _page_size},
                {"page_count", (kept.size() + uint64_t(_page_size) - 1) / uint64_t(_page_size)},
                {"items", std::move(items)}};
    return mgmt::reply(_c.req, http::status::ok, out);
}

}  // namespace warren::mgmt
