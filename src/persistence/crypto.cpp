#include "weft/persistence/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <list>
#include <memory>
#include <unordered_map>

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
/// AES-256-GCM contexts per thread, each holding one key's schedule for one direction: a seal
/// or an open with a key seen lately then only loads its nonce. A node opens the events of a
/// few hundred devices, each with its own data key, in turn; the least recently used context
/// is re-keyed when a new key comes. Key bytes are copied only as the map's lookup key and
/// are wiped when they leave.
class ThreadCipherContexts {
 public:
  static constexpr std::size_t kCapacity = 256;

  ~ThreadCipherContexts() {
    for (auto& e : lru_) OPENSSL_cleanse(e.key.data(), e.key.size());
  }

  /// A context keyed with `key` for `encrypt`ion or decryption; the caller sets the nonce.
  /// nullptr if OpenSSL fails.
  EVP_CIPHER_CTX* keyed(const Key& key, bool encrypt) {
    // Indexed by the key's public id (collisions are told apart by the bytes).
    const std::uint64_t tag = (std::uint64_t{key.id()} << 1) | (encrypt ? 1 : 0);
    auto [first, last] = index_.equal_range(tag);
    for (auto it = first; it != last; ++it) {
      if (CRYPTO_memcmp(it->second->key.data(), key.bytes().data(), kKeyBytes) == 0) {
        lru_.splice(lru_.begin(), lru_, it->second);
        return it->second->ctx.get();
      }
    }
    if (lru_.size() >= kCapacity) {
      auto victim = std::prev(lru_.end());
      auto [vf, vl] = index_.equal_range(victim->tag);
      for (auto it = vf; it != vl; ++it) {
        if (it->second == victim) {
          index_.erase(it);
          break;
        }
      }
      OPENSSL_cleanse(victim->key.data(), victim->key.size());
      lru_.erase(victim);
    }
    Entry e;
    e.ctx.reset(EVP_CIPHER_CTX_new());
    if (!e.ctx || EVP_CipherInit_ex(e.ctx.get(), aes_256_gcm(), nullptr, uc(key.bytes()), nullptr,
                                    encrypt ? 1 : 0) != 1) {
      return nullptr;
    }
    std::memcpy(e.key.data(), key.bytes().data(), kKeyBytes);
    e.tag = tag;
    lru_.push_front(std::move(e));
    index_.emplace(tag, lru_.begin());
    return lru_.front().ctx.get();
  }

  static ThreadCipherContexts& of_thread() {
    thread_local ThreadCipherContexts contexts;
    return contexts;
  }

 private:
  struct Entry {
    CipherCtx ctx;
    std::array<std::byte, kKeyBytes> key{};
    std::uint64_t tag = 0;
  };
  std::list<Entry> lru_;
  std::unordered_multimap<std::uint64_t, std::list<Entry>::iterator> index_;
};

EVP_MAC* hmac_algorithm() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

EVP_MAC_CTX* new_hmac_ctx(std::span<const std::byte> key) {
  if (hmac_algorithm() == nullptr) return nullptr;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(hmac_algorithm());
  char digest[] = "SHA2-256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                               OSSL_PARAM_construct_end()};
  if (ctx != nullptr && EVP_MAC_init(ctx, uc(key), key.size(), params) != 1) {
    EVP_MAC_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

}  // namespace

/// HMAC contexts keyed once per thread for the few keys in use (a journal signs every event
/// with one key): a message then costs its hashing, not a fetch and two pad hashes. A context
/// is lent to one HmacSha256 at a time (a second one alive with the same key gets its own).
/// Least recently used goes first; the copied key bytes are wiped when they leave.
class HmacSha256::Contexts {
 public:
  ~Contexts() {
    for (auto& e : entries_) release(e);
  }

  static Contexts& of_thread() {
    thread_local Contexts contexts;
    return contexts;
  }

  /// A context ready for update(), lent until give_back(); nullptr if OpenSSL fails.
  EVP_MAC_CTX* lend(const Key& key) {
    auto bytes = key.bytes();
    Entry* slot = nullptr;
    for (auto& e : entries_) {
      if (e.ctx != nullptr && !e.lent &&
          CRYPTO_memcmp(e.key.data(), bytes.data(), kKeyBytes) == 0) {
        if (EVP_MAC_init(e.ctx, nullptr, 0, nullptr) != 1) return nullptr;
        e.used = ++clock_;
        e.lent = true;
        return e.ctx;
      }
      if (!e.lent && (slot == nullptr || e.used < slot->used)) slot = &e;
    }
    if (slot == nullptr) return new_hmac_ctx(bytes);  // all lent: a private one
    release(*slot);
    slot->ctx = new_hmac_ctx(bytes);
    if (slot->ctx == nullptr) return nullptr;
    std::memcpy(slot->key.data(), bytes.data(), kKeyBytes);
    slot->used = ++clock_;
    slot->lent = true;
    return slot->ctx;
  }

  void give_back(EVP_MAC_CTX* ctx) {
    for (auto& e : entries_) {
      if (e.ctx == ctx) {
        e.lent = false;
        return;
      }
    }
    EVP_MAC_CTX_free(ctx);
  }

 private:
  struct Entry {
    std::array<std::byte, kKeyBytes> key{};
    EVP_MAC_CTX* ctx = nullptr;
    std::uint64_t used = 0;
    bool lent = false;
  };
  static void release(Entry& e) {
    EVP_MAC_CTX_free(e.ctx);
    e = Entry{};
    OPENSSL_cleanse(e.key.data(), e.key.size());
  }
  std::array<Entry, 8> entries_{};
  std::uint64_t clock_ = 0;
};

namespace {

/// Bumped in a child after fork(): its copy of a parent's unused nonces must not be used.
std::atomic<std::uint64_t> fork_generation{0};

/// Random nonces drawn from the CSPRNG a few hundred at a time: one RAND_bytes per event was
/// a tenth of a journal append. Every nonce is still 96 fresh random bits, used once.
bool next_nonce(std::span<std::byte, kNonceBytes> out) {
  constexpr std::size_t kBatch = 256;
  struct Pool {
    std::array<std::byte, kBatch * kNonceBytes> bytes{};
    std::size_t next = kBatch;
    std::uint64_t generation = 0;
    ~Pool() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
  };
  static const bool registered = [] {
    return pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); }) == 0;
  }();
  thread_local Pool pool;
  const auto generation = fork_generation.load(std::memory_order_relaxed);
  if (!registered || pool.next == kBatch || pool.generation != generation) {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(pool.bytes.data()),
                   static_cast<int>(pool.bytes.size())) != 1) {
      return false;
    }
    pool.next = 0;
    pool.generation = generation;
  }
  std::memcpy(out.data(), pool.bytes.data() + pool.next * kNonceBytes, kNonceBytes);
  OPENSSL_cleanse(pool.bytes.data() + pool.next * kNonceBytes, kNonceBytes);
  ++pool.next;
  return true;
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
  HmacSha256 mac(key);
  mac.update(data);
  return mac.finish();
}

HmacSha256::HmacSha256(const Key& key) : ctx_(Contexts::of_thread().lend(key)) {
  // Only an OpenSSL internal failure gets here; an unkeyed MAC would be worse than stopping.
  if (ctx_ == nullptr) std::abort();
}

HmacSha256::~HmacSha256() {
  Contexts::of_thread().give_back(static_cast<EVP_MAC_CTX*>(ctx_));
}

void HmacSha256::update(std::span<const std::byte> data) {
  if (!data.empty()) EVP_MAC_update(static_cast<EVP_MAC_CTX*>(ctx_), uc(data), data.size());
}

Mac HmacSha256::finish() {
  Mac out{};
  std::size_t len = 0;
  if (EVP_MAC_final(static_cast<EVP_MAC_CTX*>(ctx_), reinterpret_cast<unsigned char*>(out.data()),
                    &len, out.size()) != 1 ||
      len != out.size()) {
    std::abort();
  }
  return out;
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
  EVP_CIPHER_CTX* ctx = ThreadCipherContexts::of_thread().keyed(key, true);
  int len = 0;
  bool ok = ctx != nullptr && EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, uc(nonce)) == 1 &&
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
  if (!next_nonce(nonce)) return fail(Errc::internal, "the OpenSSL random generator failed");
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
  EVP_CIPHER_CTX* ctx = ThreadCipherContexts::of_thread().keyed(key, false);
  int len = 0;
  bool ok = ctx != nullptr && EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, uc(nonce)) == 1 &&
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
