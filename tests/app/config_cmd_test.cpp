// `weft config` end to end: the binary's output and exit codes, as an operator sees them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include "temp_dir.hpp"

namespace weft::app {
namespace {

using ::testing::HasSubstr;

struct Outcome {
  int code = -1;
  std::string out;  // stdout, and stderr when asked for
};

Outcome weft(const std::string& args, bool with_stderr = true) {
  Outcome r;
  const std::string cmd =
      std::string(WEFT_BINARY) + " " + args + (with_stderr ? " 2>&1" : " 2>/dev/null");
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) r.out += buf.data();
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string example_path() {
  // tests/data, from ctest's environment (or the source tree when run by hand from the root).
  const char* dir = std::getenv("WEFT_TEST_DATA_DIR");
  return std::string(dir ? dir : "tests/data") + "/../../weft.example.toml";
}

class ConfigCli : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = dir_.sub(name);
    std::ofstream(path) << text;
    return path;
  }
  test::TempDir dir_{"weft-config-cli"};
};

TEST_F(ConfigCli, DefaultsPrintAConfigurationThatChecksAndShowsAsTheDefaults) {
  const Outcome defaults = weft("config defaults", /*with_stderr=*/false);
  ASSERT_EQ(defaults.code, 0);
  EXPECT_THAT(defaults.out, HasSubstr("[windows]\nsize = \"5s\"\n"));
  EXPECT_THAT(defaults.out, HasSubstr("port = 8080\n"));

  const std::string path = write("defaults.toml", defaults.out);
  const Outcome check = weft("config check " + path);
  EXPECT_EQ(check.code, 0);
  EXPECT_EQ(check.out, path + ": ok\n");

  // `show` renders what a file amounts to: the printed defaults amount to the defaults, and so
  // does an empty file.
  const Outcome shown = weft("config show " + path, false);
  EXPECT_EQ(shown.code, 0);
  EXPECT_EQ(shown.out, defaults.out);
  const Outcome empty = weft("config show " + write("empty.toml", ""), false);
  EXPECT_EQ(empty.code, 0);
  EXPECT_EQ(empty.out, defaults.out);
}

TEST_F(ConfigCli, TheExampleFileChecksAndAmountsToTheDefaults) {
  const Outcome check = weft("config check " + example_path());
  EXPECT_EQ(check.code, 0) << check.out;
  EXPECT_THAT(check.out, HasSubstr("weft.example.toml: ok"));
  EXPECT_EQ(weft("config show " + example_path(), false).out, weft("config defaults", false).out);
}

TEST_F(ConfigCli, ShowAppliesTheFileOverTheDefaults) {
  const Outcome shown = weft("config show " + write("w.toml", "[http]\nport = 9090\n"), false);
  EXPECT_EQ(shown.code, 0);
  EXPECT_THAT(shown.out,
              HasSubstr("[http]\nenabled = true\naddress = \"127.0.0.1\"\nport = 9090\n"));
}

TEST_F(ConfigCli, CheckPrintsEveryErrorAndExitsOne) {
  const std::string path = write("bad.toml",
                                 "[windows]\n"
                                 "size = \"five\"\n"
                                 "[http]\n"
                                 "port = 70000\n"
                                 "adress = \"x\"\n");
  const Outcome check = weft("config check " + path);
  EXPECT_EQ(check.code, 1);
  EXPECT_EQ(check.out, path +
                           ":2:8: windows.size: expected a duration like \"5s\" or \"250ms\", got "
                           "\"five\": a duration starts with a whole number\n" +
                           path + ":4:8: http.port: must be between 0 and 65535, got 70000\n" +
                           path +
                           ":5:1: unknown key \"http.adress\" (did you mean \"http.address\"?)\n");
  // Nothing on stdout: errors go to stderr.
  EXPECT_EQ(weft("config check " + path, false).out, "");
}

TEST_F(ConfigCli, SyntaxErrorsAndMissingFilesExitOne) {
  const std::string path = write("syntax.toml", "[http]\nport = \n");
  const Outcome syntax = weft("config check " + path);
  EXPECT_EQ(syntax.code, 1);
  EXPECT_THAT(syntax.out, HasSubstr(path + ":2:"));

  const Outcome missing = weft("config check " + dir_.sub("nope.toml"));
  EXPECT_EQ(missing.code, 1);
  EXPECT_THAT(missing.out, HasSubstr("cannot read " + dir_.sub("nope.toml")));

  // A usage error is CLI11's, not a config result.
  const Outcome usage = weft("config check");
  EXPECT_NE(usage.code, 0);
  EXPECT_NE(usage.code, 1);
}

}  // namespace
}  // namespace weft::app
