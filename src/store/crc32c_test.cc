#include "store/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace warren::store {
namespace {

TEST(Crc32c, KnownVectors) {
    EXPECT_EQ(crc32c::value("123456789", 9), 0xe3069283u);
    std::string zeros(32, '\0');
    EXPECT_EQ(crc32c::value(zeros.data(), zeros.size()), 0x8a9136aau);
    std::string ones(32, '\xff');
    EXPECT_EQ(crc32c::value(ones.data(), ones.size()), 0x62a8ab43u);
    std::string inc;
    for (int i = 0; i < 32; ++i) inc.push_back(static_cast<char>(i));
    EXPECT_EQ(crc32c::value(inc.data(), inc.size()), 0x46dd794eu);
}

TEST(Crc32c, ExtendEqualsWhole) {
    std::string s = "hello, durable world";
    uint32_t whole = crc32c::value(s.data(), s.size());
    for (size_t cut = 0; cut <= s.size(); ++cut)
        EXPECT_EQ(crc32c::extend(crc32c::value(s.data(), cut), s.data() + cut, s.size() - cut),
                  whole);
}

TEST(Crc32c, HardwareAndTableAgree) {
    std::mt19937 rng(7);
    for (size_t len : {0, 1, 7, 8, 9, 63, 64, 65, 1000, 4097}) {
        std::string s(len, '\0');
        for (auto& c : s) c = static_cast<char>(rng());
        EXPECT_EQ(crc32c::value(s.data(), s.size()),
                  crc32c::detail::extend_portable(0, s.data(), s.size()))
            << len;
    }
}

TEST(Crc32c, MaskRoundTripsAndDiffers) {
    uint32_t c = crc32c::value("foo", 3);
    EXPECT_NE(crc32c::mask(c), c);
    EXPECT_NE(crc32c::mask(crc32c::mask(c)), c);
    EXPECT_EQ(crc32c::unmask(crc32c::mask(c)), c);
    EXPECT_EQ(crc32c::unmask(crc32c::unmask(crc32c::mask(crc32c::mask(c)))), c);
}

}  // namespace
}  // namespace warren::store
