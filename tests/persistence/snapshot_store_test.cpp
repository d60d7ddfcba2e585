#include "weft/persistence/snapshot_store.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "persistence/journal_record.hpp"
#include "persistence/snapshot_format.hpp"
#include "weft/persistence/file_snapshot_store.hpp"

namespace weft::persistence {
namespace {

namespace fs = std::filesystem;

Key key_of(char fill) {
  return Key::from_bytes(std::vector<std::byte>(kKeyBytes, static_cast<std::byte>(fill))).value();
}

SnapshotRecord snapshot(const std::string& pid, std::uint64_t seq, std::size_t size = 300) {
  SnapshotRecord r;
  r.meta = {pid, seq, 1'700'000'000'000 + static_cast<std::int64_t>(seq)};
  r.manifest = "test.State";
  r.version = 3;
  for (std::size_t i = 0; i < size; ++i)
    r.payload.push_back(static_cast<std::byte>((i * seq) % 13));
  return r;
}

SnapshotOptions options(bool compress, bool encrypt) {
  SnapshotOptions o;
  o.compress = compress;
  if (encrypt) o.key = key_of('m');
  return o;
}

// Rewrites the CRC32C trailer so a deliberate change reaches the layers behind it.
void fix_crc(std::string& bytes) {
  auto crc = crc32c(0, std::string_view(bytes).substr(0, bytes.size() - 4));
  for (int i = 0; i < 4; ++i) bytes[bytes.size() - 4 + i] = static_cast<char>(crc >> (8 * (3 - i)));
}

// ---- the codec ----

struct Mode {
  bool compress;
  bool encrypt;
};

class SnapshotCodecModes : public ::testing::TestWithParam<Mode> {};

TEST_P(SnapshotCodecModes, RoundTripsAndDetectsEveryDamage) {
  SnapshotCodec codec(options(GetParam().compress, GetParam().encrypt));
  auto rec = snapshot("device-1", 42);
  auto bytes = codec.encode(rec).value();
  EXPECT_EQ(codec.decode(bytes, "device-1", 42).value(), rec);

  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto t = bytes;
    t[i] = static_cast<char>(t[i] ^ 0x10);
    auto r = codec.decode(t, "device-1", 42);
    ASSERT_FALSE(r) << "flipped byte " << i;
    EXPECT_EQ(r.error().code(), Errc::corrupted);
    EXPECT_NE(r.error().message().find("'device-1' at sequence 42"), std::string::npos)
        << r.error().message();
  }
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto r = codec.decode(std::string_view(bytes).substr(0, n), "device-1", 42);
    ASSERT_FALSE(r) << "truncated to " << n;
    EXPECT_EQ(r.error().code(), Errc::corrupted);
  }
  auto other_id = codec.decode(bytes, "device-2", 42);
  ASSERT_FALSE(other_id);
  EXPECT_EQ(other_id.error().code(), Errc::corrupted);
  EXPECT_FALSE(codec.decode(bytes, "device-1", 41));
}

INSTANTIATE_TEST_SUITE_P(All, SnapshotCodecModes,
                         ::testing::Values(Mode{false, false}, Mode{true, false}, Mode{false, true},
                                           Mode{true, true}),
                         [](const auto& info) {
                           return std::string(info.param.compress ? "Zstd" : "Plain") +
                                  (info.param.encrypt ? "Encrypted" : "Clear");
                         });

TEST(SnapshotCodec, CompressionShrinksAndEncryptionHidesThePayload) {
  auto rec = snapshot("p", 1, 100'000);
  auto plain = SnapshotCodec(options(false, false)).encode(rec).value();
  auto packed = SnapshotCodec(options(true, false)).encode(rec).value();
  auto sealed = SnapshotCodec(options(false, true)).encode(rec).value();
  EXPECT_LT(packed.size(), plain.size() / 10);
  std::string clear(reinterpret_cast<const char*>(rec.payload.data()), 64);
  EXPECT_NE(plain.find(clear), std::string::npos);
  EXPECT_EQ(sealed.find(clear), std::string::npos);
}

TEST(SnapshotCodec, WrongKeyIsCorruptedAndNeverShowsAKey) {
  SnapshotOptions writer = options(true, true);
  SnapshotOptions reader = writer;
  reader.key = key_of('x');
  auto bytes = SnapshotCodec(writer).encode(snapshot("p", 9)).value();
  auto r = SnapshotCodec(reader).decode(bytes, "p", 9);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  EXPECT_NE(r.error().message().find("key id"), std::string::npos) << r.error().message();
  for (const auto& k : {*writer.key, *reader.key, derive_key(*writer.key, "snapshots"),
                        derive_key(*reader.key, "snapshots")}) {
    EXPECT_EQ(r.error().describe().find(to_hex(k.bytes())), std::string::npos);
  }
  // Without a key, or with a key for an unencrypted snapshot (someone could write one).
  EXPECT_EQ(SnapshotCodec(options(true, false)).decode(bytes, "p", 9).error().code(),
            Errc::corrupted);
  auto clear = SnapshotCodec(options(true, false)).encode(snapshot("p", 9)).value();
  EXPECT_EQ(SnapshotCodec(writer).decode(clear, "p", 9).error().code(), Errc::corrupted);
}

TEST(SnapshotCodec, CiphertextMovedToAnotherIdDoesNotAuthenticate) {
  // pid A's snapshot with its header rewritten to say pid B (and a valid CRC): only the
  // associated data can tell.
  SnapshotCodec codec(options(true, true));
  auto bytes = codec.encode(snapshot("device-A", 5)).value();
  auto at = bytes.find("device-A");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 7] = 'B';
  fix_crc(bytes);
  auto r = codec.decode(bytes, "device-B", 5);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  EXPECT_NE(r.error().message().find("authentication"), std::string::npos) << r.error().message();
}

TEST(SnapshotCodec, OversizedPayloadsAreRefusedBothWays) {
  SnapshotOptions small = options(true, false);
  small.max_snapshot_bytes = 1000;
  EXPECT_EQ(SnapshotCodec(small).encode(snapshot("p", 1, 1001)).error().code(),
            Errc::invalid_argument);
  // A highly compressible 1 MiB state written with a generous limit, read with a small one.
  auto bytes = SnapshotCodec(options(true, false)).encode(snapshot("p", 1 << 20, 1 << 20)).value();
  EXPECT_LT(bytes.size(), 100'000u);
  auto r = SnapshotCodec(small).decode(bytes, "p", 1 << 20);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  EXPECT_NE(r.error().message().find("limit"), std::string::npos) << r.error().message();
}

RC_GTEST_PROP(SnapshotCodec, RoundTripsAnyRecord,
              (const std::string& pid, std::uint64_t seq, std::int64_t ts,
               const std::string& manifest, std::uint32_t version,
               const std::vector<std::uint8_t>& payload, bool compress, bool encrypt)) {
  SnapshotRecord rec{{pid, seq, ts}, manifest, version, {}};
  for (auto b : payload) rec.payload.push_back(static_cast<std::byte>(b));
  SnapshotCodec codec(options(compress, encrypt));
  auto bytes = codec.encode(rec).value();
  RC_ASSERT(codec.decode(bytes, pid, seq).value() == rec);
}

// ---- the stores ----

class SnapshotStores : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("weft-snap-test-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    fs::remove_all(dir_);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  SnapshotStore& open(SnapshotOptions o = options(true, true)) {
    store_.reset();
    if (GetParam() == "Memory") {
      store_ = std::make_unique<MemorySnapshotStore>(o);
    } else {
      store_ = FileSnapshotStore::open(dir_.string(), o).value();
    }
    return *store_;
  }

  // Damages the stored bytes of one snapshot in place.
  void damage(const std::string& pid, std::uint64_t seq,
              const std::function<void(std::string&)>& f) {
    if (auto* mem = dynamic_cast<MemorySnapshotStore*>(store_.get())) {
      auto* bytes = mem->stored_bytes(pid, seq);
      ASSERT_NE(bytes, nullptr);
      f(*bytes);
      return;
    }
    auto path = dynamic_cast<FileSnapshotStore&>(*store_).path_of(pid, seq);
    std::string bytes;
    {
      std::ifstream in(path, std::ios::binary);
      ASSERT_TRUE(in) << path;
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    f(bytes);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }

  fs::path dir_;
  std::unique_ptr<SnapshotStore> store_;
};

TEST_P(SnapshotStores, SavesAndLoadsLatestWithinSelection) {
  auto& s = open();
  EXPECT_EQ(s.load_latest("a").get().value(), std::nullopt);
  for (std::uint64_t seq : {10, 30, 20}) ASSERT_TRUE(s.save(snapshot("a", seq)).get());
  ASSERT_TRUE(s.save(snapshot("b", 99)).get());
  EXPECT_EQ(s.load_latest("a").get().value(), snapshot("a", 30));
  EXPECT_EQ(s.load_latest("a", {29}).get().value(), snapshot("a", 20));
  EXPECT_EQ(s.load_latest("a", {20}).get().value(), snapshot("a", 20));
  EXPECT_EQ(s.load_latest("a", {9}).get().value(), std::nullopt);
  EXPECT_EQ(s.load_latest("b").get().value(), snapshot("b", 99));
  // Same sequence saved again replaces the old one.
  auto again = snapshot("a", 30, 10);
  ASSERT_TRUE(s.save(again).get());
  EXPECT_EQ(s.load_latest("a").get().value(), again);
}

TEST_P(SnapshotStores, KeepsTheLastKAndDeletesUpToASequence) {
  auto& s = open();
  for (std::uint64_t seq = 1; seq <= 5; ++seq) ASSERT_TRUE(s.save(snapshot("a", seq * 10)).get());
  ASSERT_TRUE(s.save(snapshot("b", 1)).get());
  EXPECT_EQ(s.delete_older("a", 2).get().value(), 3u);
  EXPECT_EQ(s.delete_older("a", 2).get().value(), 0u);
  EXPECT_EQ(s.load_latest("a", {39}).get().value(), std::nullopt);
  EXPECT_EQ(s.load_latest("a", {40}).get().value(), snapshot("a", 40));
  EXPECT_EQ(s.delete_to("a", 45).get().value(), 1u);
  EXPECT_EQ(s.load_latest("a").get().value(), snapshot("a", 50));
  EXPECT_EQ(s.delete_older("a", 0).get().value(), 1u);
  EXPECT_EQ(s.load_latest("a").get().value(), std::nullopt);
  EXPECT_EQ(s.delete_to("nobody", 100).get().value(), 0u);
  EXPECT_EQ(s.load_latest("b").get().value(), snapshot("b", 1));
}

TEST_P(SnapshotStores, TamperedTruncatedOrWronglyKeyedSnapshotsAreCorrupted) {
  auto& s = open();
  ASSERT_TRUE(s.save(snapshot("a", 7)).get());
  damage("a", 7, [](std::string& b) { b[b.size() / 2] ^= 0x01; });
  auto tampered = s.load_latest("a").get();
  ASSERT_FALSE(tampered);
  EXPECT_EQ(tampered.error().code(), Errc::corrupted);
  EXPECT_NE(tampered.error().message().find("'a' at sequence 7"), std::string::npos);

  ASSERT_TRUE(s.save(snapshot("a", 7)).get());
  damage("a", 7, [](std::string& b) { b.resize(b.size() - 1); });
  EXPECT_EQ(s.load_latest("a").get().error().code(), Errc::corrupted);

  ASSERT_TRUE(s.save(snapshot("a", 8)).get());
  SnapshotOptions other = options(true, true);
  other.key = key_of('z');
  if (GetParam() == "Memory") return;  // a memory store does not survive reopening
  auto& reopened = open(other);
  auto wrong = reopened.load_latest("a").get();
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), Errc::corrupted);
  EXPECT_EQ(wrong.error().describe().find(to_hex(key_of('m').bytes())), std::string::npos);
  EXPECT_EQ(wrong.error().describe().find(to_hex(key_of('z').bytes())), std::string::npos);
}

TEST_P(SnapshotStores, SnapshotCopiedToAnotherIdIsCorrupted) {
  if (GetParam() == "Memory") GTEST_SKIP() << "only files can be copied between ids";
  auto& s = open();
  ASSERT_TRUE(s.save(snapshot("a", 7)).get());
  ASSERT_TRUE(s.save(snapshot("b", 1)).get());
  auto& files = dynamic_cast<FileSnapshotStore&>(s);
  fs::copy_file(files.path_of("a", 7), files.path_of("b", 7));
  auto r = s.load_latest("b").get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  EXPECT_NE(r.error().message().find("'b' at sequence 7"), std::string::npos);
}

TEST_P(SnapshotStores, SurvivesReopeningAndReadsEveryMode) {
  if (GetParam() == "Memory") GTEST_SKIP() << "a memory store does not survive reopening";
  {
    auto& s = open(options(false, true));
    ASSERT_TRUE(s.save(snapshot("a", 1)).get());
  }
  auto& s = open(options(true, true));  // compression changed: old snapshots still read
  EXPECT_EQ(s.load_latest("a").get().value(), snapshot("a", 1));
  ASSERT_TRUE(s.save(snapshot("a", 2)).get());
  std::string odd_id(300, '\0');
  odd_id += "/../ünïcode";
  ASSERT_TRUE(s.save(snapshot(odd_id, 3)).get());
  auto& again = open(options(true, true));
  EXPECT_EQ(again.load_latest("a").get().value(), snapshot("a", 2));
  EXPECT_EQ(again.load_latest(odd_id).get().value(), snapshot(odd_id, 3));
  EXPECT_EQ(again.load_latest("a", {1}).get().value(), snapshot("a", 1));
}

TEST_P(SnapshotStores, RefusesOversizedSnapshots) {
  SnapshotOptions o = options(true, false);
  o.max_snapshot_bytes = 100;
  auto& s = open(o);
  auto r = s.save(snapshot("a", 1, 101)).get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  EXPECT_EQ(s.load_latest("a").get().value(), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(All, SnapshotStores, ::testing::Values("Memory", "File"),
                         [](const auto& info) { return info.param; });

TEST(SnapshotStoreFile, UnusableDirectoryIsAClearError) {
  auto file = fs::temp_directory_path() / ("weft-snap-notadir-" + std::to_string(::getpid()));
  std::ofstream(file) << "x";
  auto r = FileSnapshotStore::open(file.string());
  fs::remove(file);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::io);
  EXPECT_NE(r.error().message().find(file.string()), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace weft::persistence
