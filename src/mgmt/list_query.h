#pragma once
// RabbitMQ's list parameters on the management API's list endpoints (rabbit_mgmt_util.erl):
//   sort=<column, dotted for nested: message_stats.publish>  sort_reverse=true
//   page=N page_size=M (default 100, at most 500)  name=<substring> use_regex=true
//   columns=a,b.c
// Without `page` the reply is a plain JSON array; with it, RabbitMQ's paged object
// {"filtered_count","item_count","items","page","page_count","page_size","total_count"}.
// Sorting puts missing values first (as 0) and orders numbers before booleans before strings,
// as Erlang's term order does; the default sort of each endpoint follows RabbitMQ's. `name`
// matches case-insensitively, as a substring or (use_regex=true) a regular expression. Bad
// parameters get RabbitMQ's 400 bodies ("invalid_pagination_parameters", "page_out_of_range").
//
// Built for large lists: items are described by name (and vhost) first, and their JSON is built
// only for the page shown unless the sort needs other columns.
//
//   list_query q(call);
//   if (auto bad = q.error()) return *bad;
//   return q.reply(items.size(), name_of, vhost_of, json_of, {"vhost", "name"});

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/name_pattern.h"
#include "mgmt/api_util.h"
#include "mgmt/router.h"

namespace warren::mgmt {

class list_query {
public:
    explicit list_query(const call& c);
    // Set when a parameter is invalid: the 400 to answer with.
    const std::optional<response>& error() const { return _error; }

    // A numeric column's value without building the item's JSON (nullopt: not such a
    // column, or the item lacks it; the first item decides whether the column is known).
    using number_fn = std::function<std::optional<double>(size_t, std::string_view column)>;
    // items 0..n-1; name(i) and vhost(i) for filtering and the default sorts, make(i) the full
    // JSON object. `default_sort`: RabbitMQ's default sort columns for this list. `number`
    // (optional) lets sorts by statistics skip building every item's JSON.
    response reply(size_t n, const std::function<std::string_view(size_t)>& name,
                   const std::function<std::string_view(size_t)>& vhost,
                   const std::function<json(size_t)>& make, std::vector<std::string> default_sort,
                   const number_fn& number = {}) const;
    // For lists built as JSON already (small lists).
    response reply(json items, std::vector<std::string> default_sort) const;

    // `columns=` applied to one object (GET of a single item, /api/overview).
    json select_columns(json item) const;

private:
    const call& _c;
    std::optional<response> _error;
    std::vector<std::string> _sort;  // from sort=, empty if none
    bool _reverse = false;
    bool _paged = false;
    int64_t _page = 1, _page_size = 100;
    std::string _name;
    bool _regex = false;
    std::optional<name_pattern> _pattern;            // use_regex=true with a name
    std::vector<std::vector<std::string>> _columns;  // each split at '.'
};

}  // namespace warren::mgmt
