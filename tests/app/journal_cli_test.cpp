// `weft journal` end to end: a journal written through the API, then inspected, verified,
// damaged and compacted through the binary, as an operator would.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "weft/persistence/rocksdb_journal.hpp"

namespace weft::persistence {
namespace {

namespace fs = std::filesystem;

struct Run {
  int code = -1;
  std::string out;  // stdout and stderr
};

Run weft(const std::string& args) {
  Run r;
  const std::string cmd = std::string(WEFT_BINARY) + " " + args + " 2>&1";
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) r.out += buf.data();
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class JournalCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/weft-cli-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    dir_ = root_ + "/journal";
    JournalOptions o;
    o.directory = dir_;
    auto j = RocksDbJournal::open(o);
    ASSERT_TRUE(j) << j.error().describe();
    for (std::uint64_t seq = 1; seq <= 5; ++seq) {
      for (const char* pid : {"press-1", "press-2"}) {
        EventRecord e;
        e.persistence_id = pid;
        e.sequence_nr = seq;
        e.manifest = "factory.Reading";
        e.payload = {std::byte{0xab}, std::byte{static_cast<unsigned char>(seq)}};
        e.tags = {"readings"};
        ASSERT_TRUE((*j)->append(AppendBatch{pid, seq, 0, {e}}).get());
      }
    }
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  std::string root_;
  std::string dir_;
};

TEST_F(JournalCli, ListsShowsAndVerifies) {
  auto ls = weft("journal --dir " + dir_ + " ls");
  ASSERT_EQ(ls.code, 0) << ls.out;
  EXPECT_NE(ls.out.find("press-1"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("press-2"), std::string::npos) << ls.out;

  auto events = weft("journal --dir " + dir_ + " --json events press-2 --from 4");
  ASSERT_EQ(events.code, 0) << events.out;
  EXPECT_NE(events.out.find(R"("sequence_nr":4)"), std::string::npos) << events.out;
  EXPECT_NE(events.out.find(R"("payload_hex":"ab05")"), std::string::npos) << events.out;
  EXPECT_EQ(events.out.find(R"("sequence_nr":3)"), std::string::npos) << events.out;

  auto verify = weft("journal --dir " + dir_ + " verify");
  ASSERT_EQ(verify.code, 0) << verify.out;
  EXPECT_NE(verify.out.find("2 persistence ids, 10 events"), std::string::npos) << verify.out;

  auto stats = weft("journal --dir " + dir_ + " --json stats");
  ASSERT_EQ(stats.code, 0) << stats.out;
  EXPECT_NE(stats.out.find(R"("events":10)"), std::string::npos) << stats.out;

  EXPECT_EQ(weft("journal --dir " + dir_ + " compact").code, 0);
}

TEST_F(JournalCli, MissingOrLockedDirectoriesAreClearErrors) {
  auto missing = weft("journal --dir " + root_ + "/nothing-here ls");
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.out.find("there is no journal in"), std::string::npos) << missing.out;

  JournalOptions o;
  o.directory = dir_;
  auto running = RocksDbJournal::open(o);  // as a running node would hold it
  ASSERT_TRUE(running);
  auto locked = weft("journal --dir " + dir_ + " stats");
  EXPECT_EQ(locked.code, 1);
  EXPECT_NE(locked.out.find("in use by another process"), std::string::npos) << locked.out;
}

TEST_F(JournalCli, ForgetNeedsTheKeyAndErasesThePid) {
  auto no_key = weft("journal --dir " + dir_ + " --key-env WEFT_TEST_NO_SUCH_VAR forget press-1");
  EXPECT_EQ(no_key.code, 1);
  EXPECT_NE(no_key.out.find("needs the master key"), std::string::npos) << no_key.out;

  const std::string key(64, 'a');
  ::setenv("WEFT_TEST_MASTER_KEY", key.c_str(), 1);
  auto forget = weft("journal --dir " + dir_ + " --key-env WEFT_TEST_MASTER_KEY forget press-1");
  ASSERT_EQ(forget.code, 0) << forget.out;
  EXPECT_NE(forget.out.find("5 events deleted"), std::string::npos) << forget.out;
  auto events = weft("journal --dir " + dir_ + " events press-1");
  EXPECT_EQ(events.code, 0);
  EXPECT_NE(events.out.find("no events of 'press-1'"), std::string::npos) << events.out;
  EXPECT_EQ(forget.out.find(key), std::string::npos) << "the key is never printed";
}

}  // namespace
}  // namespace weft::persistence
