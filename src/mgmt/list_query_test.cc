#include "mgmt/list_query.h"

#include <gtest/gtest.h>

namespace warren::mgmt {
namespace {

using params = std::vector<std::pair<std::string, std::string>>;

// Runs list_query over items with the given (decoded) query parameters.
struct fixture {
    request req{http::verb::get, "/api/x", 11};
    std::vector<std::pair<std::string, std::string>> query;
    explicit fixture(std::vector<std::pair<std::string, std::string>> q) : query(std::move(q)) {}
    response run(json items, std::vector<std::string> default_sort = {"name"}) {
        call c{req, "peer", {}, query};
        list_query lq(c);
        if (lq.error()) return *lq.error();
        return lq.reply(std::move(items), std::move(default_sort));
    }
};

json items() {
    return json::array({{{"name", "b"}, {"messages", 3}, {"stats", {{"publish", 9}}}},
                        {{"name", "A"}, {"messages", 1}},
                        {{"name", "c"}, {"messages", 2}, {"stats", {{"publish", 1}}}}});
}

std::vector<std::string> names(const json& list) {
    std::vector<std::string> out;
    for (auto& i : list) out.push_back(i["name"]);
    return out;
}

TEST(ListQuery, WithoutPageAPlainListSortedByTheDefault) {
    auto res = fixture(params{}).run(items());
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(names(json::parse(res.body())), (std::vector<std::string>{"A", "b", "c"}));
}

TEST(ListQuery, NameFilterAppliesOnlyWithPagination) {
    auto plain = json::parse(fixture(params{{"name", "zzz"}}).run(items()).body());
    EXPECT_EQ(plain.size(), 3u);
    auto paged = json::parse(fixture(params{{"page", "1"}, {"name", "a"}}).run(items()).body());
    EXPECT_EQ(names(paged["items"]), (std::vector<std::string>{"A"}));  // case-insensitive
    EXPECT_EQ(paged["filtered_count"], 1);
    EXPECT_EQ(paged["total_count"], 3);
    EXPECT_EQ(paged["page_size"], 100);
}

TEST(ListQuery, PagedReplyHasRabbitMQsShape) {
    auto p = json::parse(fixture(params{{"page", "2"}, {"page_size", "2"}}).run(items()).body());
    EXPECT_EQ(p, json::parse(R"({"filtered_count":3,"item_count":1,"items":[{"name":"c",
        "messages":2,"stats":{"publish":1}}],"page":2,"page_count":2,"page_size":2,
        "total_count":3})"));
}

TEST(ListQuery, SortByANestedColumnPutsMissingValuesFirst) {
    auto l = json::parse(fixture(params{{"sort", "stats.publish"}}).run(items()).body());
    EXPECT_EQ(names(l), (std::vector<std::string>{"A", "c", "b"}));
    l = json::parse(
        fixture(params{{"sort", "messages"}, {"sort_reverse", "true"}}).run(items()).body());
    EXPECT_EQ(names(l), (std::vector<std::string>{"b", "c", "A"}));
}

TEST(ListQuery, NumericColumnsSortWithoutBuildingTheJsonOfEveryItem) {
    json all = items();
    request req{http::verb::get, "/api/x", 11};
    call c{req, "peer", {}, params{{"sort", "messages"}, {"page", "1"}, {"page_size", "1"}}};
    list_query lq(c);
    size_t built = 0;
    auto res = lq.reply(
        all.size(),
        [&](size_t i) { return std::string_view(all[i]["name"].get_ref<const std::string&>()); },
        [&](size_t) { return std::string_view(); },
        [&](size_t i) {
            ++built;
            return all[i];
        },
        {"name"},
        [&](size_t i, std::string_view col) -> std::optional<double> {
            if (col != "messages") return std::nullopt;
            return all[i]["messages"].get<double>();
        });
    EXPECT_EQ(names(json::parse(res.body())["items"]), (std::vector<std::string>{"A"}));
    EXPECT_EQ(built, 1u);  // only the row shown
}

TEST(ListQuery, ColumnsKeepOnlyWhatIsAskedForAtAnyDepth) {
    auto l = json::parse(fixture(params{{"columns", "name,stats.publish"}}).run(items()).body());
    EXPECT_EQ(l[0], json::parse(R"({"name":"A"})"));
    EXPECT_EQ(l[1], json::parse(R"({"name":"b","stats":{"publish":9}})"));
}

TEST(ListQuery, RegexFilterIsCaseInsensitive) {
    auto p = json::parse(fixture(params{{"page", "1"}, {"name", "^[ab]$"}, {"use_regex", "true"}})
                             .run(items())
                             .body());
    EXPECT_EQ(names(p["items"]), (std::vector<std::string>{"A", "b"}));
}

TEST(ListQuery, InvalidParametersGetRabbitMQs400s) {
    auto r = fixture(params{{"page", "0"}}).run(items());
    EXPECT_EQ(r.result(), http::status::bad_request);
    EXPECT_EQ(json::parse(r.body()),
              json::parse(R"({"error":"invalid_pagination_parameters","reason":"Invalid )"
                          R"(pagination parameters: page number 0, page size undefined"})"));
    EXPECT_EQ(fixture(params{{"page", "1"}, {"page_size", "501"}}).run(items()).result(),
              http::status::bad_request);
    EXPECT_EQ(fixture(params{{"page", "x"}}).run(items()).result(), http::status::bad_request);
    r = fixture(params{{"page", "4"}, {"page_size", "1"}}).run(items());
    EXPECT_EQ(r.result(), http::status::ok);  // offset == length: an empty page, as lists:sublist
    EXPECT_EQ(json::parse(r.body())["item_count"], 0);
    r = fixture(params{{"page", "5"}, {"page_size", "1"}}).run(items());
    EXPECT_EQ(json::parse(r.body())["error"], "page_out_of_range");
    r = fixture(params{{"page", "1"}, {"name", "(open"}, {"use_regex", "true"}}).run(items());
    EXPECT_EQ(r.result(), http::status::bad_request);
}

}  // namespace
}  // namespace warren::mgmt
