#include "weft/core/json_escape.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace weft {
namespace {

TEST(JsonEscape, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(json_escape(R"(say "hi" \ bye)"), R"(say \"hi\" \\ bye)");
  EXPECT_EQ(json_escape("a\nb\rc\td"), R"(a\nb\rc\td)");
  EXPECT_EQ(json_escape(std::string("\x01\x1f", 2)), R"(\u0001\u001f)");
  EXPECT_EQ(json_escape(std::string_view("\0", 1)), R"(\u0000)");
  EXPECT_EQ(json_escape("caf\xc3\xa9 \x7f"), "caf\xc3\xa9 \x7f") << "other bytes pass through";
  std::string out = "x=";
  append_json_escaped(out, "\"");
  EXPECT_EQ(out, R"(x=\")");
}

// No raw quote, backslash or control character survives, and unescaping gives the input back.
RC_GTEST_PROP(JsonEscape, RoundTripsAnyBytes, (const std::string& s)) {
  const auto e = json_escape(s);
  std::string back;
  for (std::size_t i = 0; i < e.size(); ++i) {
    RC_ASSERT(static_cast<unsigned char>(e[i]) >= 0x20);
    RC_ASSERT(e[i] != '"');
    if (e[i] != '\\') {
      back.push_back(e[i]);
      continue;
    }
    RC_ASSERT(i + 1 < e.size());
    const char k = e[++i];
    if (k == 'n')
      back.push_back('\n');
    else if (k == 'r')
      back.push_back('\r');
    else if (k == 't')
      back.push_back('\t');
    else if (k == '"' || k == '\\')
      back.push_back(k);
    else {
      RC_ASSERT(k == 'u');
      RC_ASSERT(i + 4 < e.size());
      back.push_back(static_cast<char>(std::stoi(e.substr(i + 1, 4), nullptr, 16)));
      i += 4;
    }
  }
  RC_ASSERT(back == s);
}

}  // namespace
}  // namespace weft
