#include "weft/core/result.hpp"

#include <gtest/gtest.h>

namespace weft {
namespace {

Result<int> parse_digit(char c) {
  if (c < '0' || c > '9') return fail(Errc::malformed, std::string("not a digit: '") + c + "'");
  return c - '0';
}

TEST(Result, CarriesValueOrError) {
  EXPECT_EQ(parse_digit('7').value(), 7);
  auto bad = parse_digit('x');
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), Errc::malformed);
  EXPECT_EQ(bad.error().describe(), "malformed: not a digit: 'x'");
}

TEST(Result, ContextSaysWhere) {
  Error e(Errc::truncated, "needed 4 bytes, 1 left");
  EXPECT_EQ(e.with_context("field 'temperature'").message(),
            "field 'temperature': needed 4 bytes, 1 left");
}

}  // namespace
}  // namespace weft
