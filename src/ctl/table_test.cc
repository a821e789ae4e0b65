#include "ctl/table.h"

#include <gtest/gtest.h>

namespace warren::ctl {
namespace {

using nlohmann::json;

const column_set bindings{
    {"source_name", "source_kind", "destination_name", "routing_key"},
    {{"source_name", "source"}, {"source_kind", "=exchange"}, {"destination_name", "destination"}}};

TEST(select_columns, NoneRequestedGivesTheDefaults) {
    auto cols = select_columns({}, {"source_name", "routing_key"}, bindings);
    ASSERT_TRUE(cols);
    ASSERT_EQ(cols->size(), 2u);
    EXPECT_EQ((*cols)[0].name, "source_name");
    EXPECT_EQ((*cols)[0].path, "source");
    EXPECT_EQ((*cols)[1].path, "routing_key");
}

TEST(select_columns, RequestedOrderIsKept) {
    auto cols = select_columns({"routing_key", "destination_name"}, {"source_name"}, bindings);
    ASSERT_TRUE(cols);
    EXPECT_EQ((*cols)[0].name, "routing_key");
    EXPECT_EQ((*cols)[1].path, "destination");
}

TEST(select_columns, UnknownColumnIsAnErrorNamingIt) {
    auto cols = select_columns({"routing_key", "colour"}, {}, bindings);
    ASSERT_FALSE(cols);
    EXPECT_NE(cols.error().find("colour"), std::string::npos);
    EXPECT_NE(cols.error().find("source_name"), std::string::npos);
}

TEST(lookup, DottedPathsReachNestedValuesAndMissingIsNull) {
    json row = {{"queue", {{"name", "q1"}}}, {"n", 3}};
    EXPECT_EQ(lookup(row, "queue.name"), "q1");
    EXPECT_EQ(lookup(row, "n"), 3);
    EXPECT_TRUE(lookup(row, "queue.vhost").is_null());
    EXPECT_TRUE(lookup(row, "n.deeper").is_null());
    EXPECT_TRUE(lookup(json::array(), "n").is_null());
}

TEST(cell, RendersAsRabbitmqctlPrints) {
    EXPECT_EQ(cell("plain"), "plain");
    EXPECT_EQ(cell(42), "42");
    EXPECT_EQ(cell(true), "true");
    EXPECT_EQ(cell(json()), "");
    EXPECT_EQ(cell(json::array({"administrator", "monitoring"})), "[administrator, monitoring]");
    EXPECT_EQ(cell(json::array()), "[]");
    EXPECT_EQ(cell(json{{"x-max-length", 10}}), R"({"x-max-length":10})");
}

TEST(cell, TabsAndNewlinesCannotBreakARow) {
    EXPECT_EQ(cell("a\tb\nc"), "a\\tb\\nc");
}

TEST(render_table, HeaderThenTabSeparatedRows) {
    json rows = json::array({{{"source", "amq.direct"}, {"destination", "q"}, {"routing_key", "k"}},
                             {{"source", ""}, {"destination", "q2"}, {"routing_key", "q2"}}});
    auto cols = select_columns({"source_name", "source_kind", "destination_name", "routing_key"},
                               {}, bindings);
    ASSERT_TRUE(cols);
    EXPECT_EQ(render_table(rows, *cols, true),
              "source_name\tsource_kind\tdestination_name\trouting_key\n"
              "amq.direct\texchange\tq\tk\n"
              "\texchange\tq2\tq2\n");
    EXPECT_EQ(render_table(rows, *cols, false),
              "amq.direct\texchange\tq\tk\n"
              "\texchange\tq2\tq2\n");
}

TEST(render_table, NoRowsIsJustTheHeader) {
    auto cols = select_columns({"routing_key"}, {}, bindings);
    EXPECT_EQ(render_table(json::array(), *cols, true), "routing_key\n");
}

TEST(select_json, KeepsOnlyTheColumnsKeyedByTheirNames) {
    json rows = json::array({{{"source", "x"}, {"destination", "q"}, {"vhost", "/"}}});
    auto cols = select_columns({"source_name", "destination_name"}, {}, bindings);
    EXPECT_EQ(select_json(rows, *cols),
              json::parse(R"([{"source_name":"x","destination_name":"q"}])"));
}

}  // namespace
}  // namespace warren::ctl
