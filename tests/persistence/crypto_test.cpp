#include "weft/persistence/crypto.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

namespace weft::persistence {
namespace {

std::vector<std::byte> hex(std::string_view h) {
  return from_hex(h).value();
}

std::vector<std::byte> bytes_of(const std::vector<std::uint8_t>& v) {
  std::vector<std::byte> out;
  for (auto b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

Key test_key(char fill = 'k') {
  return Key::from_bytes(std::vector<std::byte>(kKeyBytes, static_cast<std::byte>(fill))).value();
}

// RFC 5869, test case 1.
TEST(Hkdf, Rfc5869TestCase1) {
  auto ikm = hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  auto salt = hex("000102030405060708090a0b0c");
  auto info = hex("f0f1f2f3f4f5f6f7f8f9");
  auto okm = hkdf_sha256(ikm, salt, info, 42).value();
  EXPECT_EQ(to_hex(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(Hkdf, DerivedKeysDifferByPurposeAndAreStable) {
  auto master = test_key();
  auto a = derive_key(master, "snapshots");
  auto b = derive_key(master, "journal-mac");
  EXPECT_FALSE(a == b);
  EXPECT_FALSE(a == master);
  EXPECT_TRUE(a == derive_key(master, "snapshots"));
}

// RFC 4231, test case 2.
TEST(Hmac, Rfc4231TestCase2) {
  auto mac = hmac_sha256(byte_view("Jefe"), byte_view("what do ya want for nothing?"));
  EXPECT_EQ(to_hex(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// The keyed per-thread contexts give what the one-shot gives, message after message, across
// more keys than a thread keeps prepared, and for a message fed in pieces.
TEST(Hmac, PreparedKeysAgreeWithOneShot) {
  std::vector<Key> keys;
  for (int i = 0; i < 11; ++i) keys.push_back(Key::random().value());
  const std::vector<std::string> messages = {"", "a", "what do ya want for nothing?",
                                             std::string(200, 'x')};
  for (int round = 0; round < 3; ++round) {
    for (const auto& k : keys) {
      for (const auto& m : messages) {
        EXPECT_EQ(hmac_sha256(k, byte_view(m)),
                  hmac_sha256(std::span<const std::byte>(k.bytes()), byte_view(m)));
      }
    }
  }
  const std::string whole = "what do ya want for nothing?";
  HmacSha256 pieces(keys[0]);
  pieces.update(byte_view(whole.substr(0, 7)));
  pieces.update({});
  pieces.update(byte_view(whole.substr(7)));
  EXPECT_EQ(pieces.finish(), hmac_sha256(keys[0], byte_view(whole)));
}

// Nonces come from a pool: none repeats, and seals of one plaintext all differ.
TEST(AesGcm, NoncesNeverRepeat) {
  auto key = Key::random().value();
  std::set<std::string> nonces;
  const int n = 2000;  // several refills of the pool
  for (int i = 0; i < n; ++i) {
    auto sealed = aes_gcm_encrypt(key, byte_view("same")).value();
    nonces.insert(to_hex(std::span<const std::byte>(sealed).subspan(1, kNonceBytes)));
    auto opened = aes_gcm_decrypt(key, sealed).value();
    ASSERT_EQ(std::string(reinterpret_cast<const char*>(opened.data()), opened.size()), "same");
  }
  EXPECT_EQ(nonces.size(), static_cast<std::size_t>(n));
}

// Keyed cipher contexts are kept per thread: more keys than it keeps, in turn, each sealing
// and opening its own messages, a failed open in between, and the right key still opening.
TEST(AesGcm, ManyKeysInTurn) {
  std::vector<Key> keys;
  for (int i = 0; i < 300; ++i) keys.push_back(Key::random().value());
  std::vector<std::vector<std::byte>> sealed;
  for (int round = 0; round < 2; ++round) {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const std::string text = "message " + std::to_string(i);
      auto s = aes_gcm_encrypt(keys[i], byte_view(text), byte_view("aad")).value();
      EXPECT_FALSE(aes_gcm_decrypt(keys[(i + 1) % keys.size()], s, byte_view("aad")));
      auto opened = aes_gcm_decrypt(keys[i], s, byte_view("aad")).value();
      ASSERT_EQ(std::string(reinterpret_cast<const char*>(opened.data()), opened.size()), text);
      if (round == 0) sealed.push_back(std::move(s));
    }
  }
  for (std::size_t i = 0; i < keys.size(); i += 7) {
    EXPECT_TRUE(aes_gcm_decrypt(keys[i], sealed[i], byte_view("aad")));
    EXPECT_FALSE(aes_gcm_decrypt(keys[i], sealed[i], byte_view("other")));
  }
}

TEST(Hmac, ConstantTimeEqual) {
  auto a = hex("0102");
  EXPECT_TRUE(constant_time_equal(a, hex("0102")));
  EXPECT_FALSE(constant_time_equal(a, hex("0103")));
  EXPECT_FALSE(constant_time_equal(a, hex("01")));
}

// NIST GCM test vectors (gcmEncryptExtIV256.rsp / McGrew-Viega test case 16): 256-bit key,
// 96-bit IV, 60-byte plaintext, 20-byte AAD.
TEST(AesGcm, NistKnownAnswer) {
  auto key =
      Key::from_hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308").value();
  auto iv = hex("cafebabefacedbaddecaf888");
  auto pt =
      hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
          "49a6b525"
          "b16aedf5aa0de657ba637b39");
  auto aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  std::array<std::byte, kNonceBytes> nonce{};
  std::copy(iv.begin(), iv.end(), nonce.begin());
  auto sealed = aes_gcm_encrypt_with_nonce(key, nonce, pt, aad).value();
  ASSERT_EQ(sealed.size(), kSealOverhead + pt.size());
  auto body = std::span<const std::byte>(sealed).subspan(1 + kNonceBytes);
  EXPECT_EQ(
      to_hex(body.first(pt.size())),
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
      "56828838c5f61e6393ba7a0abcc9f662");
  EXPECT_EQ(to_hex(body.subspan(pt.size())), "76fc6ece0f4e1768cddf8853bb2d551b");
  EXPECT_EQ(aes_gcm_decrypt(key, sealed, aad).value(), pt);
}

TEST(AesGcm, NoncesAreFreshPerMessage) {
  auto key = test_key();
  auto a = aes_gcm_encrypt(key, byte_view("same")).value();
  auto b = aes_gcm_encrypt(key, byte_view("same")).value();
  EXPECT_NE(a, b);
}

TEST(AesGcm, WrongKeyTamperTruncateAndAadAreCorruptedWithoutKeyMaterial) {
  auto key = test_key('a');
  auto other = test_key('b');
  auto sealed = aes_gcm_encrypt(key, byte_view("state"), byte_view("pid-A/7")).value();

  auto wrong = aes_gcm_decrypt(other, sealed, byte_view("pid-A/7"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), Errc::corrupted);
  for (const auto* k : {&key, &other}) {
    EXPECT_EQ(wrong.error().describe().find(to_hex(k->bytes())), std::string::npos);
  }

  auto aad = aes_gcm_decrypt(key, sealed, byte_view("pid-B/7"));
  ASSERT_FALSE(aad);
  EXPECT_EQ(aad.error().code(), Errc::corrupted);

  for (std::size_t i = 0; i < sealed.size(); ++i) {
    auto t = sealed;
    t[i] ^= std::byte{0x01};
    auto r = aes_gcm_decrypt(key, t, byte_view("pid-A/7"));
    ASSERT_FALSE(r) << "flipped byte " << i;
    EXPECT_EQ(r.error().code(), Errc::corrupted);
  }
  for (std::size_t n = 0; n < sealed.size(); ++n) {
    auto r = aes_gcm_decrypt(key, std::span(sealed).first(n), byte_view("pid-A/7"));
    ASSERT_FALSE(r) << "truncated to " << n;
    EXPECT_EQ(r.error().code(), Errc::corrupted);
  }
}

RC_GTEST_PROP(AesGcm, RoundTrips,
              (const std::vector<std::uint8_t>& plain, const std::string& aad)) {
  auto key = Key::random().value();
  auto pt = bytes_of(plain);
  auto sealed = aes_gcm_encrypt(key, pt, byte_view(aad)).value();
  RC_ASSERT(sealed.size() == pt.size() + kSealOverhead);
  RC_ASSERT(aes_gcm_decrypt(key, sealed, byte_view(aad)).value() == pt);
}

// ---- keys ----

class KeyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("weft-key-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& content, mode_t mode) {
    auto p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << content;
    ::chmod(p.c_str(), mode);
    return p;
  }

  std::filesystem::path dir_;
};

constexpr std::string_view kHexKey =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

TEST_F(KeyFile, LoadsHexAndRawKeys) {
  auto expected = Key::from_hex(kHexKey).value();
  auto from_hex_file = Key::load_file(write("hex", std::string(kHexKey) + "\n", 0600));
  ASSERT_TRUE(from_hex_file) << from_hex_file.error().describe();
  EXPECT_TRUE(*from_hex_file == expected);
  auto raw = hex(kHexKey);
  auto from_raw = Key::load_file(
      write("raw", std::string(reinterpret_cast<char*>(raw.data()), raw.size()), 0400));
  ASSERT_TRUE(from_raw) << from_raw.error().describe();
  EXPECT_TRUE(*from_raw == expected);
  EXPECT_EQ(from_raw->id(), expected.id());
}

TEST_F(KeyFile, GroupOrWorldReadableFileIsRefusedWithAClearMessage) {
  auto path = write("key", std::string(kHexKey), 0644);
  auto k = Key::load_file(path);
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().code(), Errc::invalid_argument);
  EXPECT_NE(k.error().message().find("0644"), std::string::npos) << k.error().message();
  EXPECT_NE(k.error().message().find("chmod 600"), std::string::npos) << k.error().message();
  EXPECT_NE(k.error().message().find(path), std::string::npos);
  EXPECT_EQ(k.error().message().find(kHexKey), std::string::npos);
  EXPECT_FALSE(Key::load_file(write("key2", std::string(kHexKey), 0640)));
}

TEST_F(KeyFile, BadContentAndMissingFileAreClearErrorsWithoutTheContent) {
  auto bad = Key::load_file(write("short", "deadbeef", 0600));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Errc::invalid_argument);
  EXPECT_EQ(bad.error().message().find("deadbeef"), std::string::npos);
  std::string nonhex(kHexKey);
  nonhex[10] = 'z';
  auto bad_hex = Key::load_file(write("nonhex", nonhex, 0600));
  ASSERT_FALSE(bad_hex);
  EXPECT_EQ(bad_hex.error().message().find(nonhex), std::string::npos);
  auto missing = Key::load_file((dir_ / "absent").string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Errc::io);
}

TEST(Key, FromEnvironment) {
  const char* name = "WEFT_TEST_MASTER_KEY";
  ::setenv(name, std::string(kHexKey).c_str(), 1);
  auto k = Key::from_env(name);
  ::unsetenv(name);
  ASSERT_TRUE(k) << k.error().describe();
  EXPECT_TRUE(*k == Key::from_hex(kHexKey).value());
  auto unset = Key::from_env(name);
  ASSERT_FALSE(unset);
  EXPECT_NE(unset.error().message().find(name), std::string::npos);
  ::setenv(name, "abc", 1);
  EXPECT_FALSE(Key::from_env(name));
  ::unsetenv(name);
}

TEST(Key, WrongLengthsAreRefusedAndMovedFromKeysAreWiped) {
  EXPECT_FALSE(Key::from_bytes(std::vector<std::byte>(31)));
  EXPECT_FALSE(Key::from_hex("00"));
  auto k = Key::from_hex(kHexKey).value();
  Key moved = std::move(k);
  EXPECT_EQ(to_hex(moved.bytes()), kHexKey);
  EXPECT_EQ(to_hex(k.bytes()), std::string(64, '0'));  // NOLINT(bugprone-use-after-move)
}

}  // namespace
}  // namespace weft::persistence
