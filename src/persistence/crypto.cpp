#include "weft/persistence/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>

namespace weft::persistence {

namespace {

const unsigned char* uc(std::span<const std::byte> s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Secrets read from files or the environment pass through these; wiped when they die.
struct Wiped {
  std::string text;
  ~Wiped() { OPENSSL_cleanse(text.data(), text.size()); }
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trim(std::string_view s) {
  constexpr std::string_view ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

// OpenSSL 3 looks an algorithm up in its provider tables on every EVP_sha256() /
// EVP_aes_256_gcm() use ("implicit fetch"): with an HMAC and a seal per journal event that
// lookup was most of the cost. Fetch once, keep for the process's life.
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  return md != nullptr ? md : EVP_sha256();
}
const EVP_CIPHER* aes_256_gcm() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher != nullptr ? cipher : EVP_aes_256_gcm();
}
/// One cipher context per thread, reset for each use (seals and opens never nest).
EVP_CIPHER_CTX* thread_cipher_ctx() {
  thread_local CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (ctx) EVP_CIPHER_CTX_reset(ctx.get());
  return ctx.get();
}

}  // namespace

// ---- Key ----

Key::Key(std::span<const std::byte, kKeyBytes> bytes) noexcept {
  std::memcpy(bytes_.data(), bytes.data(), kKeyBytes);
  auto mac = hmac_sha256(std::span<const std::byte>(bytes_), byte_view("weft key id"));
  id_ = (std::to_integer<std::uint32_t>(mac[0]) << 24) |
        (std::to_integer<std::uint32_t>(mac[1]) << 16) |
        (std::to_integer<std::uint32_t>(mac[2]) << 8) | std::to_integer<std::uint32_t>(mac[3]);
}

Key::Key(const Key& other) noexcept : bytes_(other.bytes_), id_(other.id_) {}
Key& Key::operator=(const Key& other) noexcept {
  bytes_ = other.bytes_;
  id_ = other.id_;
  return *this;
}
Key::Key(Key&& other) noexcept : bytes_(other.bytes_), id_(other.id_) {
  OPENSSL_cleanse(other.bytes_.data(), kKeyBytes);
}
Key& Key::operator=(Key&& other) noexcept {
  if (this != &other) {
    bytes_ = other.bytes_;
    id_ = other.id_;
    OPENSSL_cleanse(other.bytes_.data(), kKeyBytes);
  }
  return *this;
}
Key::~Key() {
  OPENSSL_cleanse(bytes_.data(), kKeyBytes);
}

bool operator==(const Key& a, const Key& b) noexcept {
  return CRYPTO_memcmp(a.bytes_.data(), b.bytes_.data(), kKeyBytes) == 0;
}

Result<Key> Key::from_bytes(std::span<const std::byte> bytes) {
  if (bytes.size() != kKeyBytes) {
    return fail(Errc::invalid_argument,
                "a key must be exactly 32 bytes, got " + std::to_string(bytes.size()));
  }
  return Key(bytes.first<kKeyBytes>());
}

Result<Key> Key::from_hex(std::string_view hex) {
  if (hex.size() != 2 * kKeyBytes) {
    return fail(Errc::invalid_argument, "a hex key must be exactly 64 hex characters, got " +
                                            std::to_string(hex.size()) + " characters");
  }
  std::array<std::byte, kKeyBytes> raw{};
  for (std::size_t i = 0; i < kKeyBytes; ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      OPENSSL_cleanse(raw.data(), raw.size());
      return fail(Errc::invalid_argument, "a hex key must hold only hex digits (0-9, a-f)");
    }
    raw[i] = static_cast<std::byte>(hi * 16 + lo);
  }
  Key k{std::span<const std::byte, kKeyBytes>(raw)};
  OPENSSL_cleanse(raw.data(), raw.size());
  return k;
}

Result<Key> Key::load_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return fail(Errc::io, "cannot read key file '" + path + "': " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return fail(Errc::invalid_argument, "key file '" + path + "' is not a regular file");
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return fail(Errc::invalid_argument,
                "key file '" + path + "' has mode " + mode +
                    ": group and others must have no access to a key; run chmod 600 '" + path +
                    "'");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Errc::io, "cannot open key file '" + path + "'");
  Wiped content;
  content.text.reserve(128);
  char buf[128];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    content.text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (content.text.size() > 1024) break;
  }
  OPENSSL_cleanse(buf, sizeof buf);
  if (content.text.size() == kKeyBytes) return from_bytes(byte_view(content.text));
  auto hex = trim(content.text);
  if (hex.size() == 2 * kKeyBytes) {
    auto k = from_hex(hex);
    if (!k) return std::unexpected(k.error().with_context("key file '" + path + "'"));
    return k;
  }
  return fail(Errc::invalid_argument, "key file '" + path +
                                          "' must hold exactly 32 raw bytes or 64 hex "
                                          "characters, it holds " +
                                          std::to_string(content.text.size()) + " bytes");
}

Result<Key> Key::from_env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) {
    return fail(Errc::invalid_argument, "environment variable " + name + " is not set");
  }
  auto k = from_hex(trim(value));
  if (!k) return std::unexpected(k.error().with_context("environment variable " + name));
  return k;
}

Result<Key> Key::random() {
  std::array<std::byte, kKeyBytes> raw{};
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), kKeyBytes) != 1) {
    return fail(Errc::internal, "the OpenSSL random generator failed");
  }
  Key k{std::span<const std::byte, kKeyBytes>(raw)};
  OPENSSL_cleanse(raw.data(), raw.size());
  return k;
}

// ---- KDF, MAC, hash ----

Result<std::vector<std::byte>> hkdf_sha256(std::span<const std::byte> ikm,
                                           std::span<const std::byte> salt,
                                           std::span<const std::byte> info, std::size_t length) {
  if (length == 0 || length > 255 * 32) {
    return fail(Errc::invalid_argument,
                "HKDF-SHA256 output must be 1 to 8160 bytes, asked " + std::to_string(length));
  }
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr), &EVP_PKEY_CTX_free);
  std::vector<std::byte> out(length);
  // OpenSSL refuses a zero-length salt pointer; RFC 5869 says an absent salt is 32 zeros.
  static const std::array<unsigned char, 32> zero_salt{};
  std::size_t out_len = length;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_hkdf_md(ctx.get(), sha256_md()) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_salt(
          ctx.get(), salt.empty() ? zero_salt.data() : uc(salt),
          static_cast<int>(salt.empty() ? zero_salt.size() : salt.size())) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), uc(ikm), static_cast<int>(ikm.size())) <= 0 ||
      (!info.empty() &&
       EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), uc(info), static_cast<int>(info.size())) <= 0) ||
      EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &out_len) <= 0 ||
      out_len != length) {
    OPENSSL_cleanse(out.data(), out.size());
    return fail(Errc::internal, "HKDF-SHA256 failed in OpenSSL");
  }
  return out;
}

Key derive_key(const Key& master, std::string_view purpose) {
  std::string info = "weft/" + std::string(purpose);
  auto okm = hkdf_sha256(master.bytes(), {}, byte_view(info), kKeyBytes);
  // Only an OpenSSL internal failure can get here; a weaker key would be worse than stopping.
  if (!okm) std::abort();
  auto k = Key::from_bytes(*okm);
  OPENSSL_cleanse(okm->data(), okm->size());
  return std::move(*k);
}

Mac hmac_sha256(std::span<const std::byte> key, std::span<const std::byte> data) {
  Mac out{};
  unsigned int len = 0;
  static const unsigned char empty = 0;
  HMAC(sha256_md(), key.empty() ? &empty : uc(key), static_cast<int>(key.size()),
       data.empty() ? &empty : uc(data), data.size(), reinterpret_cast<unsigned char*>(out.data()),
       &len);
  return out;
}

Mac hmac_sha256(const Key& key, std::span<const std::byte> data) {
  return hmac_sha256(std::span<const std::byte>(key.bytes()), data);
}

Mac sha256(std::span<const std::byte> data) {
  Mac out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len,
             sha256_md(), nullptr);
  return out;
}

bool constant_time_equal(std::span<const std::byte> a, std::span<const std::byte> b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// ---- AES-256-GCM ----

Result<std::vector<std::byte>> aes_gcm_encrypt_with_nonce(
    const Key& key, std::span<const std::byte, kNonceBytes> nonce,
    std::span<const std::byte> plaintext, std::span<const std::byte> aad) {
  if (plaintext.size() > (std::size_t{1} << 36) - 32 - 1) {
    return fail(Errc::invalid_argument, "AES-GCM plaintext too large");
  }
  std::vector<std::byte> out(kSealOverhead + plaintext.size());
  out[0] = std::byte{kSealVersion};
  std::memcpy(out.data() + 1, nonce.data(), kNonceBytes);
  auto* ct = reinterpret_cast<unsigned char*>(out.data() + 1 + kNonceBytes);
  EVP_CIPHER_CTX* ctx = thread_cipher_ctx();
  int len = 0;
  bool ok = ctx != nullptr &&
            EVP_EncryptInit_ex(ctx, aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
            EVP_EncryptInit_ex(ctx, nullptr, nullptr, uc(key.bytes()), uc(nonce)) == 1 &&
            (aad.empty() ||
             EVP_EncryptUpdate(ctx, nullptr, &len, uc(aad), static_cast<int>(aad.size())) == 1);
  // EVP lengths are int: feed large inputs in chunks.
  std::size_t done = 0;
  while (ok && done < plaintext.size()) {
    int chunk = static_cast<int>(std::min<std::size_t>(plaintext.size() - done, 1u << 30));
    ok = EVP_EncryptUpdate(ctx, ct + done, &len, uc(plaintext) + done, chunk) == 1;
    done += static_cast<std::size_t>(len);
  }
  ok = ok && EVP_EncryptFinal_ex(ctx, ct + done, &len) == 1 &&
       EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes, ct + plaintext.size()) == 1;
  if (!ok) return fail(Errc::internal, "AES-256-GCM encryption failed in OpenSSL");
  return out;
}

Result<std::vector<std::byte>> aes_gcm_encrypt(const Key& key, std::span<const std::byte> plaintext,
                                               std::span<const std::byte> aad) {
  std::array<std::byte, kNonceBytes> nonce{};
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), kNonceBytes) != 1) {
    return fail(Errc::internal, "the OpenSSL random generator failed");
  }
  return aes_gcm_encrypt_with_nonce(key, nonce, plaintext, aad);
}

Result<std::vector<std::byte>> aes_gcm_decrypt(const Key& key, std::span<const std::byte> sealed,
                                               std::span<const std::byte> aad) {
  if (sealed.size() < kSealOverhead) {
    return fail(Errc::corrupted, "sealed message of " + std::to_string(sealed.size()) +
                                     " bytes is shorter than its " + std::to_string(kSealOverhead) +
                                     "-byte envelope");
  }
  if (std::to_integer<std::uint8_t>(sealed[0]) != kSealVersion) {
    return fail(Errc::corrupted, "sealed message has unknown version " +
                                     std::to_string(std::to_integer<int>(sealed[0])));
  }
  auto nonce = sealed.subspan(1, kNonceBytes);
  std::size_t n = sealed.size() - kSealOverhead;
  auto ct = sealed.subspan(1 + kNonceBytes, n);
  auto tag = sealed.subspan(1 + kNonceBytes + n, kTagBytes);
  std::vector<std::byte> out(n);
  auto* pt = reinterpret_cast<unsigned char*>(out.data());
  EVP_CIPHER_CTX* ctx = thread_cipher_ctx();
  int len = 0;
  bool ok = ctx != nullptr &&
            EVP_DecryptInit_ex(ctx, aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
            EVP_DecryptInit_ex(ctx, nullptr, nullptr, uc(key.bytes()), uc(nonce)) == 1 &&
            (aad.empty() ||
             EVP_DecryptUpdate(ctx, nullptr, &len, uc(aad), static_cast<int>(aad.size())) == 1);
  std::size_t done = 0;
  while (ok && done < n) {
    int chunk = static_cast<int>(std::min<std::size_t>(n - done, 1u << 30));
    ok = EVP_DecryptUpdate(ctx, pt + done, &len, uc(ct) + done, chunk) == 1;
    done += static_cast<std::size_t>(len);
  }
  std::array<unsigned char, kTagBytes> tag_copy{};
  std::memcpy(tag_copy.data(), tag.data(), kTagBytes);
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag_copy.data()) == 1 &&
       EVP_DecryptFinal_ex(ctx, pt + done, &len) == 1;
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    return fail(Errc::corrupted,
                "AES-256-GCM authentication failed: wrong key, different associated data, or "
                "the bytes were changed");
  }
  return out;
}

// ---- hex ----

std::string to_hex(std::span<const std::byte> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    auto v = std::to_integer<unsigned>(b);
    out.push_back(digits[v >> 4]);
    out.push_back(digits[v & 15]);
  }
  return out;
}

Result<std::vector<std::byte>> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return fail(Errc::invalid_argument, "hex text has an odd length " + std::to_string(hex.size()));
  }
  std::vector<std::byte> out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return fail(Errc::invalid_argument, "hex text has a non-hex character at " +
                                              std::to_string(hi < 0 ? 2 * i : 2 * i + 1));
    }
    out[i] = static_cast<std::byte>(hi * 16 + lo);
  }
  return out;
}

}  // namespace weft::persistence
