#include "base/name_pattern.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace warren {
namespace {

bool matches(std::string_view pattern, std::string_view name,
             name_pattern::letter_case c = name_pattern::letter_case::sensitive) {
    auto p = name_pattern::compile(pattern, c);
    EXPECT_TRUE(p) << pattern << ": " << (p ? "" : p.error());
    return p && p->search(name);
}

TEST(NamePattern, SearchesAnywhereInTheName) {
    EXPECT_TRUE(matches("^amq\\.", "amq.gen-1"));
    EXPECT_FALSE(matches("^amq\\.", "x.amq.gen"));
    EXPECT_TRUE(matches("gen", "amq.gen-1"));
    EXPECT_TRUE(matches(".*", ""));
    EXPECT_TRUE(matches("^$", ""));
    EXPECT_FALSE(matches("^$", "q"));
    EXPECT_TRUE(matches("^(orders|billing)\\.\\d+$", "billing.42"));
    EXPECT_FALSE(matches("^(orders|billing)\\.\\d+$", "billing.x"));
}

TEST(NamePattern, IgnoresCaseOnlyWhenAsked) {
    EXPECT_FALSE(matches("^PG-", "pg-1"));
    EXPECT_TRUE(matches("^PG-", "pg-1", name_pattern::letter_case::ignored));
}

TEST(NamePattern, NamesAreBytes) {
    // A UTF-8 pattern matches the same UTF-8 name; an invalid UTF-8 name is still searched.
    EXPECT_TRUE(matches("^caf\xc3\xa9$", "caf\xc3\xa9"));
    EXPECT_TRUE(matches("^q\\.", std::string("q.\xff\xfe", 4)));
    EXPECT_TRUE(matches("^..$", "\xc3\xa9"));  // two bytes, as Erlang's re reads a binary
}

TEST(NamePattern, RefusesBadPatternsWithRe2sText) {
    auto open = name_pattern::compile("(open");
    ASSERT_FALSE(open);
    EXPECT_NE(open.error().find("missing )"), std::string::npos) << open.error();
    EXPECT_FALSE(name_pattern::compile("a{2,1}"));
    EXPECT_FALSE(name_pattern::compile("(a)\\1"));    // back-references: not in RE2
    EXPECT_FALSE(name_pattern::compile("a(?=b)"));    // look-ahead: not in RE2
}

TEST(NamePattern, HostileNumbersAreReadAsPerlReadsThem) {
    // std::regex did signed overflow on the first (found by fuzz_config). RE2, like Perl and
    // PCRE when the pattern has no such group, reads \111 as an octal escape ('I'), and a
    // count too big to be one as literal text; a repeat count over 1000 is refused.
    EXPECT_TRUE(matches("^q\\11111111111120472518.", "qI11111111120472518!"));
    EXPECT_FALSE(matches("^q\\11111111111120472518.", "q\\11111111111120472518!"));
    EXPECT_TRUE(matches("^a{99999999999999999999}$", "a{99999999999999999999}"));
    EXPECT_TRUE(name_pattern::compile("a{1000}"));
    EXPECT_FALSE(name_pattern::compile("a{1001}"));
    EXPECT_FALSE(name_pattern::compile("a{1,1001}"));
}

TEST(NamePattern, HostileSizesAreRefused) {
    // std::regex compiled these by recursion, one frame per character or group: stack overflow.
    EXPECT_FALSE(name_pattern::compile(std::string(200000, '(') + std::string(200000, ')')));
    auto longest = name_pattern::compile(std::string(16 * 1024, 'a'));
    EXPECT_TRUE(longest);
    auto too_long = name_pattern::compile(std::string(16 * 1024 + 1, 'a'));
    ASSERT_FALSE(too_long);
    EXPECT_NE(too_long.error().find("too long"), std::string::npos);
    EXPECT_FALSE(name_pattern::compile("((a{100}){100}){100}"));  // a million states
}

TEST(NamePattern, MatchingTakesLinearTime) {
    // Exponential for a backtracking engine: std::regex took 0.5 s at 24 a's and doubles per a.
    auto p = name_pattern::compile("^(a+)+$");
    ASSERT_TRUE(p);
    const std::string name = std::string(254, 'a') + "!";
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 1000; ++i) EXPECT_FALSE(p->search(name));
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, std::chrono::seconds(5));  // about 20 ms in a release build
}

TEST(NamePattern, CopiesShareOneProgram) {
    auto p = name_pattern::compile("^x");
    ASSERT_TRUE(p);
    name_pattern copy = *p;
    EXPECT_TRUE(copy.search("xy"));
    EXPECT_EQ(copy.pattern(), "^x");
}

}  // namespace
}  // namespace warren
