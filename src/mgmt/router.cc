#include "mgmt/router.h"

#include <algorithm>

#include "mgmt/http_server.h"

namespace warren::mgmt {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// "/api/a/b" -> {"api", "a", "b"} (raw, not decoded). "/" -> {}. A trailing '/' gives a last
// empty segment, which matches no pattern (RabbitMQ answers 404 there too).
std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> out;
    if (path.empty() || path.front() != '/') return out;
    path.remove_prefix(1);
    if (path.empty()) return out;
    for (;;) {
        size_t slash = path.find('/');
        out.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view q) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!q.empty()) {
        size_t amp = q.find('&');
        std::string_view item = q.substr(0, amp);
        if (!item.empty()) {
            size_t eq = item.find('=');
            out.emplace_back(url_decode(item.substr(0, eq), true),
                             eq == std::string_view::npos ? std::string()
                                                          : url_decode(item.substr(eq + 1), true));
        }
        if (amp == std::string_view::npos) break;
        q.remove_prefix(amp + 1);
    }
    return out;
}

}  // namespace

std::string url_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(plus_is_space && s[i] == '+' ? ' ' : s[i]);
    }
    return out;
}

const std::string& call::param(std::string_view name) const {
    static const std::string none;
    for (auto& [k, v] : params)
        if (k == name) return v;
    return none;
}

std::optional<std::string_view> call::query_value(std::string_view name) const {
    for (auto& [k, v] : query)
        if (k == name) return std::string_view(v);
    return std::nullopt;
}

void router::add(std::string method, std::string_view pattern, handler h) {
    route r{std::move(method), {}, 0, std::move(h)};
    for (auto s : split_path(pattern)) {
        bool param = s.size() >= 2 && s.front() == '{' && s.back() == '}';
        if (param) {
            r.segments.push_back({std::string(s.substr(1, s.size() - 2)), true});
        } else {
            r.segments.push_back({std::string(s), false});
            ++r.literals;
        }
    }
    _routes.push_back(std::move(r));
}

response router::dispatch(const request& req, std::string_view peer) const {
    std::string_view target(req.target().data(), req.target().size());
    size_t qmark = target.find('?');
    std::string_view path = target.substr(0, qmark);
    auto raw = split_path(path);
    std::string_view method(req.method_string().data(), req.method_string().size());

    const route* best = nullptr;
    std::string allow;
    for (const auto& r : _routes) {
        if (r.segments.size() != raw.size()) continue;
        bool match = true;
        for (size_t i = 0; i < raw.size() && match; ++i)
            match = r.segments[i].is_param ? !raw[i].empty() : r.segments[i].text == raw[i];
        if (!match) continue;
        if (r.method != method) {
            if (allow.find(r.method) == std::string::npos)
                allow += (allow.empty() ? "" : ", ") + r.method;
            continue;
        }
        if (!best || r.literals > best->literals) best = &r;
    }
    if (!best) {
        if (!allow.empty()) {
            auto res = make_response(req, http::status::method_not_allowed, "");
            res.set(http::field::allow, allow);
            res.prepare_payload();
            return res;
        }
        return make_response(req, http::status::not_found,
                             R"({"error":"Object Not Found","reason":"Not Found"})");
    }
    call c{req, peer, {}, {}};
    for (size_t i = 0; i < raw.size(); ++i)
        if (best->segments[i].is_param)
            c.params.emplace_back(best->segments[i].text, url_decode(raw[i]));
    if (qmark != std::string_view::npos) c.query = parse_query(target.substr(qmark + 1));
    return best->h(c);
}

}  // namespace warren::mgmt
