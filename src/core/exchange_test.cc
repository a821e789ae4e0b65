#include "core/exchange.h"

#include <gtest/gtest.h>

#include <optional>

#include "core/queue.h"

namespace warren::core {
namespace {

field_table tbl(std::initializer_list<std::pair<const char*, field_value>> kv) {
    field_table t;
    for (auto& [k, v] : kv) t.emplace_back(k, v);
    return t;
}

bool hm(const field_table& binding, std::optional<field_table> headers) {
    return headers_match(binding, headers ? &*headers : nullptr);
}

TEST(HeadersMatch, AllIsTheDefault) {
    auto b = tbl({{"a", "1"}, {"b", int32_t{2}}});
    EXPECT_TRUE(hm(b, tbl({{"a", "1"}, {"b", int32_t{2}}, {"c", "x"}})));
    EXPECT_TRUE(hm(b, tbl({{"b", int32_t{2}}, {"a", "1"}})));  // order does not matter
    EXPECT_FALSE(hm(b, tbl({{"a", "1"}})));
    EXPECT_FALSE(hm(b, tbl({{"a", "1"}, {"b", int32_t{3}}})));
    EXPECT_FALSE(hm(b, std::nullopt));
}

TEST(HeadersMatch, ExplicitAllAndUnknownMode) {
    auto b = tbl({{"x-match", "all"}, {"a", "1"}});
    EXPECT_TRUE(hm(b, tbl({{"a", "1"}})));
    EXPECT_FALSE(hm(b, tbl({{"a", "2"}})));
}

TEST(HeadersMatch, AllWithNoPlainKeysMatchesEverything) {
    EXPECT_TRUE(hm(tbl({}), std::nullopt));
    EXPECT_TRUE(hm(tbl({{"x-match", "all"}, {"x-foo", "1"}}), tbl({})));
}

TEST(HeadersMatch, Any) {
    auto b = tbl({{"x-match", "any"}, {"a", "1"}, {"b", "2"}});
    EXPECT_TRUE(hm(b, tbl({{"a", "1"}})));
    EXPECT_TRUE(hm(b, tbl({{"a", "9"}, {"b", "2"}})));
    EXPECT_FALSE(hm(b, tbl({{"a", "9"}, {"b", "9"}})));
    EXPECT_FALSE(hm(b, tbl({})));
    EXPECT_FALSE(hm(b, std::nullopt));
    EXPECT_FALSE(hm(tbl({{"x-match", "any"}}), tbl({{"a", "1"}})));
}

TEST(HeadersMatch, XKeysIgnoredForAllAndAny) {
    auto all = tbl({{"x-match", "all"}, {"x-k", "1"}, {"a", "1"}});
    EXPECT_TRUE(hm(all, tbl({{"a", "1"}})));
    auto any = tbl({{"x-match", "any"}, {"x-k", "1"}, {"a", "1"}});
    EXPECT_FALSE(hm(any, tbl({{"x-k", "1"}})));
}

TEST(HeadersMatch, WithXCountsXKeys) {
    auto all = tbl({{"x-match", "all-with-x"}, {"x-k", "1"}, {"a", "1"}});
    EXPECT_FALSE(hm(all, tbl({{"a", "1"}})));
    EXPECT_TRUE(hm(all, tbl({{"a", "1"}, {"x-k", "1"}})));
    auto any = tbl({{"x-match", "any-with-x"}, {"x-k", "1"}, {"a", "1"}});
    EXPECT_TRUE(hm(any, tbl({{"x-k", "1"}})));
    EXPECT_FALSE(hm(any, tbl({{"x-k", "2"}})));
}

TEST(HeadersMatch, VoidBindingValueMatchesPresence) {
    auto b = tbl({{"a", void_value{}}});
    EXPECT_TRUE(hm(b, tbl({{"a", "anything"}})));
    EXPECT_TRUE(hm(b, tbl({{"a", int64_t{5}}})));
    EXPECT_FALSE(hm(b, tbl({{"b", "1"}})));
}

TEST(HeadersMatch, ValuesCompareLikeErlang) {
    // Integer widths do not matter; long string equals byte array.
    EXPECT_TRUE(hm(tbl({{"n", int32_t{7}}}), tbl({{"n", int64_t{7}}})));
    EXPECT_TRUE(hm(tbl({{"n", uint8_t{7}}}), tbl({{"n", int16_t{7}}})));
    EXPECT_TRUE(hm(tbl({{"s", "ab"}}), tbl({{"s", bytes_value{"ab"}}})));
    EXPECT_FALSE(hm(tbl({{"s", "7"}}), tbl({{"s", int32_t{7}}})));
    EXPECT_TRUE(hm(tbl({{"b", true}}), tbl({{"b", true}})));
    EXPECT_FALSE(hm(tbl({{"b", true}}), tbl({{"b", false}})));
}

TEST(ArgsEqual, OrderInsensitiveTypeSensitive) {
    EXPECT_TRUE(args_equal(tbl({{"a", "1"}, {"b", "2"}}), tbl({{"b", "2"}, {"a", "1"}})));
    EXPECT_FALSE(args_equal(tbl({{"a", "1"}}), tbl({{"a", "1"}, {"b", "2"}})));
    EXPECT_FALSE(args_equal(tbl({{"a", int32_t{1}}}), tbl({{"a", int64_t{1}}})));
}

TEST(ExchangeType, ParseAndPrint) {
    for (auto t : {exchange_type::direct, exchange_type::fanout, exchange_type::topic,
                   exchange_type::headers})
        EXPECT_EQ(parse_exchange_type(to_string(t)), t);
    EXPECT_FALSE(parse_exchange_type("x-delayed-message"));
    EXPECT_FALSE(parse_exchange_type("Direct"));
}

exchange_decl named(std::string n) {
    exchange_decl d;
    d.name = std::move(n);
    return d;
}

queue* fake_queue(uintptr_t i) {
    return reinterpret_cast<queue*>(0x1000 + 16 * i);
}

TEST(Exchange, BindingSetIsIdempotentAndKeyedByArgs) {
    auto x = make_exchange(named("x"), exchange_type::direct);
    binding_dest d{fake_queue(1), nullptr};
    EXPECT_TRUE(x->add_binding(d, "k", {}));
    EXPECT_FALSE(x->add_binding(d, "k", {}));
    EXPECT_TRUE(x->add_binding(d, "k", tbl({{"a", "1"}})));
    EXPECT_EQ(x->binding_count(), 2u);
    EXPECT_TRUE(x->has_binding(d, "k", tbl({{"a", "1"}})));
    EXPECT_EQ(x->bindings().size(), 2u);

    message m;
    m.routing_key = "k";
    route_result r;
    x->route(m, r);
    EXPECT_FALSE(r.queues.empty());

    EXPECT_TRUE(x->remove_binding(d, "k", {}));
    EXPECT_FALSE(x->remove_binding(d, "k", {}));
    r.clear();
    x->route(m, r);
    EXPECT_EQ(r.queues, std::vector<queue*>{fake_queue(1)});
    EXPECT_TRUE(x->remove_binding(d, "k", tbl({{"a", "1"}})));
    r.clear();
    x->route(m, r);
    EXPECT_TRUE(r.queues.empty());
    EXPECT_EQ(x->binding_count(), 0u);
}

TEST(Exchange, DirectRoutesByExactKey) {
    auto x = make_exchange(named("x"), exchange_type::direct);
    x->add_binding({fake_queue(1), nullptr}, "a", {});
    x->add_binding({fake_queue(2), nullptr}, "b", {});
    x->add_binding({fake_queue(3), nullptr}, "a", {});
    message m;
    m.routing_key = "a";
    route_result r;
    x->route(m, r);
    EXPECT_EQ(r.queues, (std::vector<queue*>{fake_queue(1), fake_queue(3)}));
    m.routing_key = "A";
    r.clear();
    x->route(m, r);
    EXPECT_TRUE(r.queues.empty());
}

TEST(Exchange, FanoutIgnoresKey) {
    auto x = make_exchange(named("x"), exchange_type::fanout);
    x->add_binding({fake_queue(1), nullptr}, "a", {});
    x->add_binding({fake_queue(2), nullptr}, "", {});
    message m;
    m.routing_key = "zzz";
    route_result r;
    x->route(m, r);
    EXPECT_EQ(r.queues.size(), 2u);
}

TEST(Exchange, HeadersRoutesOnMessageHeaders) {
    auto x = make_exchange(named("x"), exchange_type::headers);
    x->add_binding({fake_queue(1), nullptr}, "", tbl({{"x-match", "any"}, {"a", "1"}}));
    x->add_binding({fake_queue(2), nullptr}, "", tbl({{"b", "2"}}));
    message m;
    m.props.headers = tbl({{"a", "1"}});
    route_result r;
    x->route(m, r);
    EXPECT_EQ(r.queues, std::vector<queue*>{fake_queue(1)});
    m.props.headers.reset();
    r.clear();
    x->route(m, r);
    EXPECT_TRUE(r.queues.empty());
}

}  // namespace
}  // namespace warren::core
