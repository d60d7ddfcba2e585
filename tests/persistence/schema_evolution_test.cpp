// Schema evolution: events written by version 1 of a type keep decoding as the current type,
// from a corpus of stored bytes that never changes (tests/data/persistence/).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "weft/actor/testkit/test_probe.hpp"
#include "weft/persistence/event_sourced.hpp"
#include "weft/persistence/memory_journal.hpp"
#include "weft/persistence/upcasters.hpp"

namespace weft::persistence {

// Version 1, as stored by the first builds. Keep this struct and its codec line forever.
namespace v1 {
struct ReadingAdded {
  std::string device;
  std::int64_t ts = 0;
  double temperature = 0;
};
WEFT_CODEC(ReadingAdded, "test.ReadingAdded", 1, device, ts, temperature);
}  // namespace v1

namespace {

// The current version adds an optional vibration.
struct ReadingAdded {
  std::string device;
  std::int64_t ts = 0;
  double temperature = 0;
  std::optional<double> vibration;
};
WEFT_CODEC(ReadingAdded, "test.ReadingAdded", 2, device, ts, temperature, vibration);

Upcasters<ReadingAdded> upcasters() {
  Upcasters<ReadingAdded> u;
  u.add<v1::ReadingAdded>([](v1::ReadingAdded old) {
    return ReadingAdded{std::move(old.device), old.ts, old.temperature, std::nullopt};
  });
  return u;
}

v1::ReadingAdded corpus_value(int i) {
  return v1::ReadingAdded{"m-" + std::to_string(i), 1'764'000'000'000 + i * 250,
                          60.0 + i * 0.75 - (i % 3) * 11.5};
}

constexpr int kCorpusSize = 64;
/// tests/data, from ctest's environment (or the source tree when run by hand from the root).
std::string corpus_path() {
  const char* dir = std::getenv("WEFT_TEST_DATA_DIR");
  return std::string(dir ? dir : "tests/data") + "/persistence/reading-added-v1.corpus";
}

std::vector<Envelope> corpus_envelopes() {
  std::vector<Envelope> out;
  for (int i = 0; i < kCorpusSize; ++i) out.push_back(make_envelope(corpus_value(i)));
  return out;
}

std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

TEST(SchemaEvolution, Version1CorpusStillDecodesAsTheCurrentType) {
  if (std::getenv("WEFT_WRITE_CORPUS")) {
    // Only for creating a new corpus file (never for changing an existing one).
    auto bytes = encode(corpus_envelopes());
    std::ofstream(corpus_path(), std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
  }
  auto bytes = read_file(corpus_path());
  ASSERT_FALSE(bytes.empty()) << "missing corpus " << corpus_path();
  auto envelopes = decode<std::vector<Envelope>>(bytes);
  ASSERT_TRUE(envelopes.has_value()) << envelopes.error().describe();
  ASSERT_EQ(envelopes->size(), static_cast<std::size_t>(kCorpusSize));
  auto u = upcasters();
  for (int i = 0; i < kCorpusSize; ++i) {
    const auto& e = (*envelopes)[static_cast<std::size_t>(i)];
    EXPECT_EQ(e.manifest, "test.ReadingAdded");
    EXPECT_EQ(e.version, 1u);
    auto current = u.decode(e.manifest, e.version, e.payload);
    ASSERT_TRUE(current.has_value()) << current.error().describe();
    const auto want = corpus_value(i);
    EXPECT_EQ(current->device, want.device);
    EXPECT_EQ(current->ts, want.ts);
    EXPECT_EQ(current->temperature, want.temperature);
    EXPECT_FALSE(current->vibration.has_value());
  }
}

TEST(SchemaEvolution, TheVersion1EncodingItselfHasNotChanged) {
  EXPECT_EQ(encode(corpus_envelopes()), read_file(corpus_path()))
      << "the codec now writes version-1 values differently: stored data would change meaning";
}

TEST(SchemaEvolution, UnknownVersionsAndManifestsAreClearErrors) {
  auto u = upcasters();
  auto v3 = u.decode("test.ReadingAdded", 3, {});
  ASSERT_FALSE(v3.has_value());
  EXPECT_EQ(v3.error().code(), Errc::unsupported_version);
  EXPECT_NE(v3.error().message().find("version 3"), std::string::npos);
  auto other = u.decode("test.Other", 1, {});
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code(), Errc::unknown_manifest);
}

struct Get {
  ActorRef<std::string> reply_to;
};

TEST(SchemaEvolution, AnActorRecoversFromEventsOfBothVersions) {
  testkit::TestKit kit;
  auto journal = std::make_shared<MemoryJournal>();
  AppendBatch b{"m-1", 1, 0, {}};
  auto old = make_envelope(corpus_value(1));
  b.events.push_back(EventRecord{"m-1", 1, old.manifest, old.version, old.payload, {}, 0, 0});
  auto cur = make_envelope(ReadingAdded{"m-1", 5, 70.5, 0.25});
  b.events.push_back(EventRecord{"m-1", 2, cur.manifest, cur.version, cur.payload, {}, 0, 0});
  ASSERT_TRUE(journal->append(b).get());

  EventSourcedSpec<Get, ReadingAdded, std::string> s;
  s.persistence_id = "m-1";
  s.journal = journal;
  s.upcasters = upcasters();
  s.event_handler = [](std::string log, const ReadingAdded& e) {
    return log + e.device + "@" + std::to_string(e.ts) + (e.vibration ? "+v " : " ");
  };
  s.command_handler = [](const std::string& log, const Get& g) {
    g.reply_to.tell(log);
    return effects::none<std::string, ReadingAdded>();
  };
  auto probe = kit.probe<std::string>();
  auto a = kit.system().spawn(event_sourced(s));
  a.tell(Get{probe.ref()});
  EXPECT_EQ(probe.expect_msg(), "m-1@1764000000250 m-1@5+v ");
}

}  // namespace
}  // namespace weft::persistence
