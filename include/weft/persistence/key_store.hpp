// Per-persistence-id data keys for crypto-shredding: each id's event payloads are encrypted
// with its own random key, stored wrapped (AES-256-GCM) by a key derived from the master key.
// Forgetting an id destroys its key, which makes its events unreadable wherever copies of
// them survive (backups, replicas). The stored format is in docs/integrity.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "weft/core/result.hpp"
#include "weft/persistence/crypto.hpp"

namespace weft::persistence {

/// Thread-safe. Every method that changes the store is durable when it returns.
class KeyStore {
 public:
  virtual ~KeyStore() = default;

  /// The data key of `persistence_id`, created (random) and stored on first use. Fails with
  /// Errc::invalid_argument if the id was forgotten: a forgotten id never gets a key again.
  [[nodiscard]] virtual Result<Key> get_or_create(std::string_view persistence_id) = 0;

  /// The data key of `persistence_id`, or nullopt if it has none (never created, or
  /// forgotten). Errc::corrupted if the stored key does not decode or unwrap (a wrong master
  /// key says so).
  [[nodiscard]] virtual Result<std::optional<Key>> find(std::string_view persistence_id) = 0;

  /// Destroys the data key and records a tombstone, both durably (synced) before returning;
  /// then asks the storage to drop the key's old bytes. Idempotent.
  [[nodiscard]] virtual Result<void> forget(std::string_view persistence_id) = 0;

  /// Whether `persistence_id` carries a tombstone.
  [[nodiscard]] virtual Result<bool> is_forgotten(std::string_view persistence_id) = 0;

  /// Every persistence id with a tombstone, sorted.
  [[nodiscard]] virtual Result<std::vector<std::string>> forgotten() = 0;
};

/// The stored forms, shared by every KeyStore so that they read each other's bytes. The
/// decoders return errors on any input, never abort: stored bytes are untrusted.
namespace key_store_format {

inline constexpr std::uint8_t kWrappedKeyFormat = 1;
inline constexpr std::uint8_t kTombstoneFormat = 1;

/// The key that wraps data keys: HKDF of the master key with purpose "journal-data-key-wrap".
[[nodiscard]] Key wrapping_key(const Key& master);

/// format ‖ u32 wrapping key id ‖ AES-256-GCM(wrapping key, data key, aad = pid binding).
[[nodiscard]] Result<std::vector<std::byte>> wrap(const Key& wrapping_key, const Key& data_key,
                                                  std::string_view persistence_id);
[[nodiscard]] Result<Key> unwrap(const Key& wrapping_key, std::span<const std::byte> stored,
                                 std::string_view persistence_id);

/// format ‖ i64 wall-clock milliseconds of the forget.
[[nodiscard]] std::vector<std::byte> encode_tombstone(std::int64_t forgotten_at_ms);
[[nodiscard]] Result<std::int64_t> decode_tombstone(std::span<const std::byte> stored);

}  // namespace key_store_format

/// In memory, for tests: the same wrapped bytes as the durable store, lost on exit.
class MemoryKeyStore final : public KeyStore {
 public:
  explicit MemoryKeyStore(const Key& master);

  Result<Key> get_or_create(std::string_view persistence_id) override;
  Result<std::optional<Key>> find(std::string_view persistence_id) override;
  Result<void> forget(std::string_view persistence_id) override;
  Result<bool> is_forgotten(std::string_view persistence_id) override;
  Result<std::vector<std::string>> forgotten() override;

 private:
  Key wrapping_key_;
  std::mutex mutex_;
  std::map<std::string, std::vector<std::byte>, std::less<>> wrapped_;
  std::map<std::string, std::vector<std::byte>, std::less<>> tombstones_;
};

/// A small RocksDB database of its own, in a directory given to it.
class RocksDbKeyStore final : public KeyStore {
 public:
  /// Opens (or creates) the store in `directory` (its parent must exist). Errc::io when it is
  /// missing, unwritable or locked; Errc::invalid_argument when the store was created with a
  /// different master key.
  [[nodiscard]] static Result<std::unique_ptr<RocksDbKeyStore>> open(const std::string& directory,
                                                                     const Key& master);
  ~RocksDbKeyStore() override;
  RocksDbKeyStore(const RocksDbKeyStore&) = delete;
  RocksDbKeyStore& operator=(const RocksDbKeyStore&) = delete;

  Result<Key> get_or_create(std::string_view persistence_id) override;
  Result<std::optional<Key>> find(std::string_view persistence_id) override;
  /// Also compacts the key's range, so its wrapped bytes leave the live files and the WAL.
  Result<void> forget(std::string_view persistence_id) override;
  Result<bool> is_forgotten(std::string_view persistence_id) override;
  Result<std::vector<std::string>> forgotten() override;

 private:
  struct Impl;
  explicit RocksDbKeyStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace weft::persistence
