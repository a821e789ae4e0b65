#pragma once
// Rows from the management API (JSON objects) rendered as rabbitmqctl prints them: a tab-separated
// header, then one tab-separated line per row; or, with --format json, an array of objects
// holding only the chosen columns. Columns are named as rabbitmqctl names them; a column may read
// another API field (`source_name` reads `source`) or a nested one (`queue_name` reads
// `queue.name`).
//
//   auto cols = select_columns({"name", "messages"}, spec_columns);
//   std::cout << render_table(rows, *cols, true);

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace warren::ctl {

struct column {
    std::string name;  // as the user asked for it and as the header shows it
    std::string path;  // dotted path into the API's JSON object, or "=text": always `text`
};

// What a list command offers: every column it knows, and the API field each one reads where
// the names differ (name -> field; "a.b" for nested values; "=text" for a fixed value, such
// as list_bindings' source_kind, always "exchange").
struct column_set {
    std::vector<std::string_view> known;
    std::vector<std::pair<std::string_view, std::string_view>> aliases;
};

// `requested` empty: `defaults`. An unknown column is an error naming it and listing the known.
basic_result<std::vector<column>, std::string> select_columns(
    const std::vector<std::string>& requested, const std::vector<std::string_view>& defaults,
    const column_set& set);

// The value at a dotted path, or null.
const nlohmann::json& lookup(const nlohmann::json& row, std::string_view path);

// A column's value in a row.
nlohmann::json value_of(const nlohmann::json& row, const column& c);

// One table cell: strings as they are, lists as "[a, b]", objects as JSON, null as "";
// tabs and newlines escaped so a row stays one line.
std::string cell(const nlohmann::json& v);

std::string render_table(const nlohmann::json& rows, const std::vector<column>& cols, bool headers);
// An array of objects keyed by column name.
nlohmann::json select_json(const nlohmann::json& rows, const std::vector<column>& cols);

}  // namespace warren::ctl
