// The heap StateStore and the choice of backend.
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <string>

#include "rocksdb_state.hpp"
#include "weft/stream/state.hpp"

namespace weft::stream {
namespace {

class HeapStateStore final : public StateStore {
 public:
  Result<std::optional<std::string>> get(std::string_view key) override {
    const auto it = entries_.find(key);
    if (it == entries_.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }
  Result<void> put(std::string_view key, std::string_view value) override {
    entries_.insert_or_assign(std::string(key), std::string(value));
    return {};
  }
  Result<void> remove(std::string_view key) override {
    if (const auto it = entries_.find(key); it != entries_.end()) entries_.erase(it);
    return {};
  }
  Result<void> scan(std::string_view prefix, const Visitor& visit) override {
    for (auto it = entries_.lower_bound(prefix);
         it != entries_.end() && std::string_view(it->first).starts_with(prefix); ++it) {
      if (!visit(it->first, it->second)) break;
    }
    return {};
  }
  Result<void> remove_prefix(std::string_view prefix) override {
    auto it = entries_.lower_bound(prefix);
    while (it != entries_.end() && std::string_view(it->first).starts_with(prefix)) {
      it = entries_.erase(it);
    }
    return {};
  }

 private:
  std::map<std::string, std::string, std::less<>> entries_;
};

}  // namespace

Result<std::unique_ptr<StateStore>> open_state_store(const StateBackendOptions& options,
                                                     const std::string& instance) {
  if (options.kind == StateBackend::heap) return std::make_unique<HeapStateStore>();
  // Two jobs in one process (tests, savepoint restores) may run the same operator at once:
  // the pid and a counter keep their working directories apart.
  static std::atomic<std::uint64_t> next{0};
  const auto base =
      options.dir.empty() ? std::filesystem::temp_directory_path() / "weft-state" : options.dir;
  return detail::open_rocksdb_state(base / (instance + "-" + std::to_string(::getpid()) + "-" +
                                            std::to_string(next.fetch_add(1))));
}

}  // namespace weft::stream
