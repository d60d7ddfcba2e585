// Keyed state in a local RocksDB instance: one per operator instance, written without WAL
// because checkpoints, not the local files, are what survives a failure.
#include "rocksdb_state.hpp"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <system_error>

namespace weft::stream::detail {
namespace {

Error rocks_error(const rocksdb::Status& s, std::string_view what) {
  return Error(Errc::io, "rocksdb state " + std::string(what) + ": " + s.ToString());
}

rocksdb::Slice slice(std::string_view s) {
  return {s.data(), s.size()};
}

class RocksDbStateStore final : public StateStore {
 public:
  RocksDbStateStore(std::unique_ptr<rocksdb::DB> db, std::filesystem::path dir)
      : db_(std::move(db)), dir_(std::move(dir)) {
    write_.disableWAL = true;
  }
  ~RocksDbStateStore() override {
    (void)db_->Close();
    db_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  RocksDbStateStore(const RocksDbStateStore&) = delete;
  RocksDbStateStore& operator=(const RocksDbStateStore&) = delete;

  Result<std::optional<std::string>> get(std::string_view key) override {
    std::string value;
    const auto s = db_->Get(read_, slice(key), &value);
    if (s.IsNotFound()) return std::optional<std::string>{};
    if (!s.ok()) return std::unexpected(rocks_error(s, "get in " + dir_.string()));
    return std::optional<std::string>{std::move(value)};
  }
  Result<void> put(std::string_view key, std::string_view value) override {
    const auto s = db_->Put(write_, slice(key), slice(value));
    if (!s.ok()) return std::unexpected(rocks_error(s, "put in " + dir_.string()));
    return {};
  }
  Result<void> remove(std::string_view key) override {
    const auto s = db_->Delete(write_, slice(key));
    if (!s.ok()) return std::unexpected(rocks_error(s, "delete in " + dir_.string()));
    return {};
  }
  Result<void> scan(std::string_view prefix, const Visitor& visit) override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_));
    for (it->Seek(slice(prefix)); it->Valid() && it->key().starts_with(slice(prefix)); it->Next()) {
      if (!visit(it->key().ToStringView(), it->value().ToStringView())) break;
    }
    if (!it->status().ok()) return std::unexpected(rocks_error(it->status(), "scan"));
    return {};
  }
  Result<void> remove_prefix(std::string_view prefix) override {
    rocksdb::WriteBatch batch;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_));
    for (it->Seek(slice(prefix)); it->Valid() && it->key().starts_with(slice(prefix)); it->Next()) {
      batch.Delete(it->key());
    }
    if (!it->status().ok()) return std::unexpected(rocks_error(it->status(), "scan"));
    const auto s = db_->Write(write_, &batch);
    if (!s.ok()) return std::unexpected(rocks_error(s, "delete range in " + dir_.string()));
    return {};
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::filesystem::path dir_;
  rocksdb::ReadOptions read_;
  rocksdb::WriteOptions write_;
};

}  // namespace

Result<std::unique_ptr<StateStore>> open_rocksdb_state(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return fail(Errc::io, "rocksdb state: cannot create " + dir.string() + ": " + ec.message());
  }
  rocksdb::Options options;
  options.create_if_missing = true;
  options.error_if_exists = true;
  rocksdb::DB* raw = nullptr;
  const auto s = rocksdb::DB::Open(options, dir.string(), &raw);
  if (!s.ok()) return std::unexpected(rocks_error(s, "open " + dir.string()));
  return std::make_unique<RocksDbStateStore>(std::unique_ptr<rocksdb::DB>(raw), dir);
}

}  // namespace weft::stream::detail
