#include "store/data_dir.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "store/test_util.h"

namespace warren::store {
namespace {

TEST(DataDir, CreatesLayout) {
    testing::temp_dir tmp;
    auto dd = data_dir::open(tmp.path() + "/data/");
    ASSERT_TRUE(dd) << dd.error().text;
    EXPECT_TRUE(std::filesystem::is_directory((*dd)->msgs_dir()));
    EXPECT_TRUE(std::filesystem::is_directory((*dd)->meta_dir()));
    EXPECT_EQ((*dd)->root(), tmp.path() + "/data");
}

TEST(DataDir, SecondOpenWhileLockedIsRefused) {
    testing::temp_dir tmp;
    auto a = data_dir::open(tmp.path());
    ASSERT_TRUE(a);
    auto b = data_dir::open(tmp.path());
    ASSERT_FALSE(b);
    EXPECT_NE(b.error().text.find("in use"), std::string::npos) << b.error().text;
    a->reset();
    auto c = data_dir::open(tmp.path());
    EXPECT_TRUE(c);
}

}  // namespace
}  // namespace warren::store
