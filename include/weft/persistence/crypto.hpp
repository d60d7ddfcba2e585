// At-rest cryptography for persisted data: AES-256-GCM sealing, HMAC-SHA256, HKDF-SHA256
// and the master key itself. OpenSSL 3 underneath; its headers stay out of this API.
// Key handling rules are in docs/snapshot-format.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "weft/core/result.hpp"

namespace weft::persistence {

inline constexpr std::size_t kKeyBytes = 32;

/// A 256-bit secret. Its bytes are never printed: there is no operator<< or formatter, and
/// no error message built by this module contains them. They are wiped when a Key dies
/// (moved-from keys included).
class Key {
 public:
  /// Exactly 32 bytes, else Errc::invalid_argument.
  [[nodiscard]] static Result<Key> from_bytes(std::span<const std::byte> bytes);
  /// Exactly 64 hex characters (either case), else Errc::invalid_argument.
  [[nodiscard]] static Result<Key> from_hex(std::string_view hex);
  /// A file holding the raw 32 bytes or 64 hex characters (surrounding whitespace ignored).
  /// Refused with Errc::invalid_argument if group or others may read or write it (the
  /// message says which chmod fixes it); Errc::io if it cannot be read.
  [[nodiscard]] static Result<Key> load_file(const std::string& path);
  /// The environment variable `name`, holding 64 hex characters.
  [[nodiscard]] static Result<Key> from_env(const std::string& name);
  /// 32 bytes from the OpenSSL CSPRNG; Errc::internal if it fails.
  [[nodiscard]] static Result<Key> random();

  Key(const Key& other) noexcept;
  Key& operator=(const Key& other) noexcept;
  Key(Key&& other) noexcept;
  Key& operator=(Key&& other) noexcept;
  ~Key();

  /// The secret itself, for the crypto primitives. Do not copy it anywhere that outlives
  /// the call.
  [[nodiscard]] std::span<const std::byte, kKeyBytes> bytes() const noexcept { return bytes_; }

  /// A public 32-bit identifier: the first bytes of HMAC-SHA256(key, "weft key id"). Stored
  /// beside ciphertexts so that decrypting with the wrong key says so; reveals nothing of
  /// the key.
  [[nodiscard]] std::uint32_t id() const noexcept { return id_; }

  /// Constant-time comparison.
  friend bool operator==(const Key& a, const Key& b) noexcept;

 private:
  explicit Key(std::span<const std::byte, kKeyBytes> bytes) noexcept;
  std::array<std::byte, kKeyBytes> bytes_{};
  std::uint32_t id_ = 0;
};

/// The key for one purpose ("snapshots", "journal-mac", ...), derived from a master key with
/// HKDF-SHA256 (empty salt, info = "weft/" + purpose). Distinct purposes get independent keys.
[[nodiscard]] Key derive_key(const Key& master, std::string_view purpose);

/// HKDF-SHA256 (RFC 5869) producing `length` bytes (at most 255 * 32).
[[nodiscard]] Result<std::vector<std::byte>> hkdf_sha256(std::span<const std::byte> ikm,
                                                         std::span<const std::byte> salt,
                                                         std::span<const std::byte> info,
                                                         std::size_t length);

using Mac = std::array<std::byte, 32>;

/// HMAC-SHA256 with a key of any length (RFC 2104).
[[nodiscard]] Mac hmac_sha256(std::span<const std::byte> key, std::span<const std::byte> data);
[[nodiscard]] Mac hmac_sha256(const Key& key, std::span<const std::byte> data);

/// HMAC-SHA256 over pieces fed one after another, for a message assembled from parts. The
/// keyed state is prepared once per thread and key, so a short message costs little more than
/// its hashing. Lives on one thread.
class HmacSha256 {
 public:
  explicit HmacSha256(const Key& key);
  ~HmacSha256();
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;
  void update(std::span<const std::byte> data);
  /// The MAC of everything fed; call once.
  [[nodiscard]] Mac finish();

 private:
  class Contexts;
  void* ctx_;  // an EVP_MAC_CTX lent by the thread's Contexts
};

/// SHA-256 of `data`.
[[nodiscard]] Mac sha256(std::span<const std::byte> data);

/// Compares in time that depends only on the lengths.
[[nodiscard]] bool constant_time_equal(std::span<const std::byte> a,
                                       std::span<const std::byte> b) noexcept;

/// The sealed layout: version byte ‖ 12-byte nonce ‖ ciphertext ‖ 16-byte tag.
inline constexpr std::uint8_t kSealVersion = 1;
inline constexpr std::size_t kNonceBytes = 12;
inline constexpr std::size_t kTagBytes = 16;
inline constexpr std::size_t kSealOverhead = 1 + kNonceBytes + kTagBytes;

/// AES-256-GCM with a fresh random nonce. `aad` is authenticated, not stored: decryption
/// must present the same bytes (bind the ciphertext to its owner, e.g. pid and sequence).
[[nodiscard]] Result<std::vector<std::byte>> aes_gcm_encrypt(const Key& key,
                                                             std::span<const std::byte> plaintext,
                                                             std::span<const std::byte> aad = {});

/// The same with a caller-chosen nonce, for known-answer tests only: a nonce reused with the
/// same key breaks GCM completely.
[[nodiscard]] Result<std::vector<std::byte>> aes_gcm_encrypt_with_nonce(
    const Key& key, std::span<const std::byte, kNonceBytes> nonce,
    std::span<const std::byte> plaintext, std::span<const std::byte> aad = {});

/// Opens a sealed message. A wrong key, a different `aad`, any changed byte or a truncated
/// input gives Errc::corrupted; the message never contains key material.
[[nodiscard]] Result<std::vector<std::byte>> aes_gcm_decrypt(const Key& key,
                                                             std::span<const std::byte> sealed,
                                                             std::span<const std::byte> aad = {});

/// Lowercase hex, and its inverse (nullopt-like failure as Errc::invalid_argument).
[[nodiscard]] std::string to_hex(std::span<const std::byte> bytes);
[[nodiscard]] Result<std::vector<std::byte>> from_hex(std::string_view hex);

/// Views a string's characters as bytes.
[[nodiscard]] inline std::span<const std::byte> byte_view(std::string_view s) noexcept {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace weft::persistence
