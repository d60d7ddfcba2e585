#include "weft/persistence/key_store.hpp"

#include <chrono>

#include "persistence/integrity_codec.hpp"

namespace weft::persistence {

namespace key_store_format {

namespace {

// Binds a wrapped key to its persistence id: moving it to another id fails to unwrap.
std::vector<std::byte> wrap_aad(std::string_view persistence_id) {
  std::vector<std::byte> aad;
  integrity_codec::put_bytes(aad, byte_view("weft/data-key/v1"));
  integrity_codec::put_bytes(aad, byte_view(persistence_id));
  return aad;
}

}  // namespace

Key wrapping_key(const Key& master) {
  return derive_key(master, "journal-data-key-wrap");
}

Result<std::vector<std::byte>> wrap(const Key& wrapping_key, const Key& data_key,
                                    std::string_view persistence_id) {
  auto sealed = aes_gcm_encrypt(wrapping_key, data_key.bytes(), wrap_aad(persistence_id));
  if (!sealed) return std::unexpected(sealed.error());
  std::vector<std::byte> out;
  out.reserve(5 + sealed->size());
  out.push_back(std::byte{kWrappedKeyFormat});
  integrity_codec::put_u32(out, wrapping_key.id());
  out.insert(out.end(), sealed->begin(), sealed->end());
  return out;
}

Result<Key> unwrap(const Key& wrapping_key, std::span<const std::byte> stored,
                   std::string_view persistence_id) {
  const std::string where = "the data key of '" + std::string(persistence_id) + "'";
  if (stored.size() < 5) return fail(Errc::corrupted, where + " is truncated");
  if (std::to_integer<std::uint8_t>(stored[0]) != kWrappedKeyFormat) {
    return fail(Errc::corrupted,
                where + " has unknown format " + std::to_string(std::to_integer<int>(stored[0])));
  }
  const std::uint32_t id = integrity_codec::get_u32(stored.subspan(1, 4));
  if (id != wrapping_key.id()) {
    return fail(Errc::corrupted, where + " was wrapped by a different master key (key id " +
                                     std::to_string(id) + ", this one's is " +
                                     std::to_string(wrapping_key.id()) + ")");
  }
  auto plain = aes_gcm_decrypt(wrapping_key, stored.subspan(5), wrap_aad(persistence_id));
  if (!plain) return std::unexpected(plain.error().with_context("unwrapping " + where));
  auto key = Key::from_bytes(*plain);
  std::fill(plain->begin(), plain->end(), std::byte{0});
  if (!key) return fail(Errc::corrupted, where + " has the wrong length");
  return key;
}

std::vector<std::byte> encode_tombstone(std::int64_t forgotten_at_ms) {
  std::vector<std::byte> out;
  out.push_back(std::byte{kTombstoneFormat});
  integrity_codec::put_u64(out, static_cast<std::uint64_t>(forgotten_at_ms));
  return out;
}

Result<std::int64_t> decode_tombstone(std::span<const std::byte> stored) {
  if (stored.size() != 9 || std::to_integer<std::uint8_t>(stored[0]) != kTombstoneFormat) {
    return fail(Errc::corrupted, "a key store tombstone does not decode");
  }
  return static_cast<std::int64_t>(integrity_codec::get_u64(stored.subspan(1, 8)));
}

}  // namespace key_store_format

namespace {

std::string forgotten_error(std::string_view persistence_id) {
  return "persistence id '" + std::string(persistence_id) +
         "' was forgotten (crypto-shredded); it cannot be written again";
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

MemoryKeyStore::MemoryKeyStore(const Key& master)
    : wrapping_key_(key_store_format::wrapping_key(master)) {}

Result<Key> MemoryKeyStore::get_or_create(std::string_view persistence_id) {
  std::lock_guard lock(mutex_);
  if (tombstones_.contains(persistence_id)) {
    return fail(Errc::invalid_argument, forgotten_error(persistence_id));
  }
  if (auto it = wrapped_.find(persistence_id); it != wrapped_.end()) {
    return key_store_format::unwrap(wrapping_key_, it->second, persistence_id);
  }
  auto key = Key::random();
  if (!key) return key;
  auto wrapped = key_store_format::wrap(wrapping_key_, *key, persistence_id);
  if (!wrapped) return std::unexpected(wrapped.error());
  wrapped_.emplace(std::string(persistence_id), std::move(*wrapped));
  return key;
}

Result<std::optional<Key>> MemoryKeyStore::find(std::string_view persistence_id) {
  std::lock_guard lock(mutex_);
  auto it = wrapped_.find(persistence_id);
  if (it == wrapped_.end()) return std::optional<Key>();
  auto key = key_store_format::unwrap(wrapping_key_, it->second, persistence_id);
  if (!key) return std::unexpected(key.error());
  return std::optional<Key>(std::move(*key));
}

Result<void> MemoryKeyStore::forget(std::string_view persistence_id) {
  std::lock_guard lock(mutex_);
  if (auto it = wrapped_.find(persistence_id); it != wrapped_.end()) {
    std::fill(it->second.begin(), it->second.end(), std::byte{0});
    wrapped_.erase(it);
  }
  tombstones_.insert_or_assign(std::string(persistence_id),
                               key_store_format::encode_tombstone(now_ms()));
  return {};
}

Result<bool> MemoryKeyStore::is_forgotten(std::string_view persistence_id) {
  std::lock_guard lock(mutex_);
  return tombstones_.contains(persistence_id);
}

Result<std::vector<std::string>> MemoryKeyStore::forgotten() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  out.reserve(tombstones_.size());
  for (const auto& [pid, stone] : tombstones_) out.push_back(pid);
  return out;
}

}  // namespace weft::persistence
