// RocksDbKeyStore: a database of its own, so that forgetting compacts a small key range
// instead of the journal, and the journal's files never hold key material.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <filesystem>
#include <mutex>

#include "persistence/integrity_codec.hpp"
#include "weft/persistence/key_store.hpp"

namespace weft::persistence {

namespace {

// One default column family; the first byte of a key says what it holds.
constexpr std::string_view kMetaKey = "m";  // format ‖ u32 id of the wrapping key
constexpr char kKeyPrefix = 'k';            // 'k' ‖ pid -> wrapped data key
constexpr char kTombstonePrefix = 't';      // 't' ‖ pid -> tombstone
constexpr std::uint8_t kMetaFormat = 1;

std::string key_of(char prefix, std::string_view persistence_id) {
  std::string k(1, prefix);
  k.append(persistence_id);
  return k;
}

std::span<const std::byte> bytes_of(std::string_view s) {
  return byte_view(s);
}

rocksdb::Slice slice_of(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

Error io_error(std::string_view what, const std::string& dir, const rocksdb::Status& s) {
  return Error(Errc::io, std::string(what) + " the key store in '" + dir + "': " + s.ToString());
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct RocksDbKeyStore::Impl {
  std::string directory;
  Key wrapping_key;
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::WriteOptions synced;
  // get_or_create reads then writes: without it two threads could create two keys for one id.
  std::mutex mutex;

  Impl(std::string dir, Key wrapping) : directory(std::move(dir)), wrapping_key(wrapping) {
    synced.sync = true;
  }

  // Ok(nullopt) when absent.
  Result<std::optional<std::string>> get(const std::string& key) {
    std::string value;
    auto s = db->Get(rocksdb::ReadOptions(), key, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return std::unexpected(io_error("cannot read", directory, s));
    return std::optional<std::string>(std::move(value));
  }

  Result<bool> tombstoned(std::string_view persistence_id) {
    auto t = get(key_of(kTombstonePrefix, persistence_id));
    if (!t) return std::unexpected(t.error());
    return t->has_value();
  }
};

RocksDbKeyStore::RocksDbKeyStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RocksDbKeyStore::~RocksDbKeyStore() = default;

Result<std::unique_ptr<RocksDbKeyStore>> RocksDbKeyStore::open(const std::string& directory,
                                                               const Key& master) {
  if (directory.empty()) return fail(Errc::invalid_argument, "key store directory is empty");
  auto impl = std::make_unique<Impl>(directory, key_store_format::wrapping_key(master));
  rocksdb::Options options;
  options.create_if_missing = true;
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  options.write_buffer_size = 1u << 20;
  options.max_background_jobs = 1;
  // Deleted WAL files go at once (no archive, no recycling): a forgotten key's bytes must
  // not survive in an old log.
  options.WAL_ttl_seconds = 0;
  options.WAL_size_limit_MB = 0;
  options.recycle_log_file_num = 0;
  std::error_code ignored;
  std::filesystem::create_directory(directory, ignored);
  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::Open(options, directory, &db);
  if (!s.ok()) return std::unexpected(io_error("cannot open", directory, s));
  impl->db.reset(db);

  auto meta = impl->get(std::string(kMetaKey));
  if (!meta) return std::unexpected(meta.error());
  if (*meta) {
    auto stored = bytes_of(**meta);
    if (stored.size() != 5 || std::to_integer<std::uint8_t>(stored[0]) != kMetaFormat) {
      return fail(Errc::corrupted, "the key store in '" + directory + "' has unreadable metadata");
    }
    const std::uint32_t id = integrity_codec::get_u32(stored.subspan(1, 4));
    if (id != impl->wrapping_key.id()) {
      return fail(Errc::invalid_argument,
                  "the key store in '" + directory +
                      "' was created with a different master key (wrapping key id " +
                      std::to_string(id) + ", this one's is " +
                      std::to_string(impl->wrapping_key.id()) + ")");
    }
  } else {
    std::vector<std::byte> value{std::byte{kMetaFormat}};
    integrity_codec::put_u32(value, impl->wrapping_key.id());
    s = impl->db->Put(impl->synced, kMetaKey, slice_of(value));
    if (!s.ok()) return std::unexpected(io_error("cannot initialise", directory, s));
  }
  return std::unique_ptr<RocksDbKeyStore>(new RocksDbKeyStore(std::move(impl)));
}

Result<Key> RocksDbKeyStore::get_or_create(std::string_view persistence_id) {
  std::lock_guard lock(impl_->mutex);
  auto gone = impl_->tombstoned(persistence_id);
  if (!gone) return std::unexpected(gone.error());
  if (*gone) {
    return fail(Errc::invalid_argument, "persistence id '" + std::string(persistence_id) +
                                            "' was forgotten (crypto-shredded); it cannot be "
                                            "written again");
  }
  const std::string k = key_of(kKeyPrefix, persistence_id);
  auto stored = impl_->get(k);
  if (!stored) return std::unexpected(stored.error());
  if (*stored)
    return key_store_format::unwrap(impl_->wrapping_key, bytes_of(**stored), persistence_id);
  auto key = Key::random();
  if (!key) return key;
  auto wrapped = key_store_format::wrap(impl_->wrapping_key, *key, persistence_id);
  if (!wrapped) return std::unexpected(wrapped.error());
  auto s = impl_->db->Put(impl_->synced, k, slice_of(*wrapped));
  if (!s.ok()) return std::unexpected(io_error("cannot store a data key in", impl_->directory, s));
  return key;
}

Result<std::optional<Key>> RocksDbKeyStore::find(std::string_view persistence_id) {
  auto stored = impl_->get(key_of(kKeyPrefix, persistence_id));
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return std::optional<Key>();
  auto key = key_store_format::unwrap(impl_->wrapping_key, bytes_of(**stored), persistence_id);
  if (!key) return std::unexpected(key.error());
  return std::optional<Key>(std::move(*key));
}

Result<void> RocksDbKeyStore::forget(std::string_view persistence_id) {
  std::lock_guard lock(impl_->mutex);
  const std::string k = key_of(kKeyPrefix, persistence_id);
  rocksdb::WriteBatch batch;
  batch.Delete(k);
  auto stone = key_store_format::encode_tombstone(now_ms());
  batch.Put(key_of(kTombstonePrefix, persistence_id), slice_of(stone));
  auto s = impl_->db->Write(impl_->synced, &batch);
  if (!s.ok()) return std::unexpected(io_error("cannot forget a data key in", impl_->directory, s));
  // The delete only hides the wrapped key; compaction (which flushes the memtable first, so
  // the WAL that holds the key becomes obsolete) rewrites the files without it.
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  rocksdb::Slice range(k);
  s = impl_->db->CompactRange(compact, &range, &range);
  if (!s.ok()) return std::unexpected(io_error("cannot compact", impl_->directory, s));
  return {};
}

Result<bool> RocksDbKeyStore::is_forgotten(std::string_view persistence_id) {
  return impl_->tombstoned(persistence_id);
}

Result<std::vector<std::string>> RocksDbKeyStore::forgotten() {
  std::vector<std::string> out;
  const std::string lower(1, kTombstonePrefix);
  const std::string upper(1, kTombstonePrefix + 1);
  rocksdb::Slice up(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &up;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro));
  for (it->Seek(lower); it->Valid(); it->Next()) {
    auto stone = key_store_format::decode_tombstone(bytes_of(it->value().ToStringView()));
    if (!stone) return std::unexpected(stone.error());
    out.emplace_back(it->key().ToStringView().substr(1));
  }
  if (!it->status().ok()) {
    return std::unexpected(io_error("cannot list tombstones in", impl_->directory, it->status()));
  }
  return out;
}

}  // namespace weft::persistence
