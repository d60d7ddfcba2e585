#include "weft/core/progress.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace weft {
namespace {

std::string read_all(std::FILE* f) {
  std::rewind(f);
  std::string s;
  char buf[256];
  while (std::fgets(buf, sizeof buf, f) != nullptr) s += buf;
  return s;
}

TEST(Progress, BarFillsInProportion) {
  EXPECT_EQ(Progress::bar(0, 10, 10), "[..........]   0%");
  EXPECT_EQ(Progress::bar(5, 10, 10), "[#####.....]  50%");
  EXPECT_EQ(Progress::bar(10, 10, 10), "[##########] 100%");
  EXPECT_EQ(Progress::bar(20, 10, 4), "[####] 100%");  // never past full
  EXPECT_EQ(Progress::bar(3, 0, 4), "[....]   0%");    // unknown total
}

TEST(Progress, OffATerminalItLogsLinesAtMostPerDecileAndAFinalOne) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    Progress p("verify", 1000, f);
    for (std::uint64_t i = 1; i <= 1000; ++i) p.update(i);
  }
  const std::string out = read_all(f);
  std::fclose(f);
  std::size_t lines = 0;
  for (char c : out) lines += c == '\n';
  EXPECT_GE(lines, 2u);   // at least one decile line and the final one
  EXPECT_LE(lines, 12u);  // not one per update
  EXPECT_NE(out.find("1000/1000"), std::string::npos) << out;
  EXPECT_NE(out.find("done"), std::string::npos) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos) << "no carriage returns in a log";
}

}  // namespace
}  // namespace weft
