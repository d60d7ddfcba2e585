// Named keyed state for process functions, as Flink's ValueState/ListState/MapState/
// AggregatingState: handles obtained per record from the KeyedContext through a
// StateDescriptor, each scoped to the current key, optionally with a TTL. The handles speak
// bytes to a StateStore (heap or RocksDB, chosen in ProcessOptions), so both backends share one
// layout: docs/streams.md, "Keyed state backends".
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "weft/core/clock.hpp"
#include "weft/core/codec.hpp"
#include "weft/core/result.hpp"

namespace weft::stream {

/// Names one piece of keyed state of an operator. Entries not written for `ttl` (processing
/// time, the operator's clock) read as absent and are dropped at the next checkpoint.
struct StateDescriptor {
  std::string name;
  std::optional<Duration> ttl;
};

enum class StateBackend : std::uint8_t {
  heap,     // an ordered map in memory: fast, bounded by memory
  rocksdb,  // a local RocksDB instance per operator instance: state larger than memory
};

struct StateBackendOptions {
  StateBackend kind = StateBackend::heap;
  /// RocksDB only: the instances' working directories go under here (one per operator
  /// instance, deleted when it closes); empty: the system's temp directory.
  std::filesystem::path dir;
};

/// Thrown by state handles when the store fails or holds bytes that do not decode; the process
/// operator turns it into a dead letter naming the state.
class StateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The byte-level store behind the handles: ordered keys, prefix scans.
class StateStore {
 public:
  using Visitor = std::function<bool(std::string_view key, std::string_view value)>;
  virtual ~StateStore() = default;
  [[nodiscard]] virtual Result<std::optional<std::string>> get(std::string_view key) = 0;
  virtual Result<void> put(std::string_view key, std::string_view value) = 0;
  virtual Result<void> remove(std::string_view key) = 0;
  /// Visits the entries whose key starts with `prefix` in key order until `visit` is false.
  virtual Result<void> scan(std::string_view prefix, const Visitor& visit) = 0;
  virtual Result<void> remove_prefix(std::string_view prefix) = 0;
};

/// Opens a store for one operator instance; `instance` names its RocksDB directory.
[[nodiscard]] Result<std::unique_ptr<StateStore>> open_state_store(
    const StateBackendOptions& options, const std::string& instance);

enum class StateKind : std::uint8_t { value, list, map, aggregating };

/// One state of the current key: where its entries live and when "now" is.
struct StateBinding {
  StateStore* store = nullptr;
  std::string name;
  /// key group (u16 big-endian) ‖ varint name length ‖ name ‖ Codec encoding of the key.
  std::string prefix;
  std::optional<Duration> ttl;
  TimePoint now{};
};

namespace detail {

// Stored values start with the processing time of their last write (8 bytes, little-endian
// nanoseconds of the clock), so TTL needs no second lookup.
inline constexpr std::size_t stamp_size = 8;

inline std::string stamp(TimePoint now) {
  std::string out(stamp_size, '\0');
  auto v = static_cast<std::uint64_t>(now.time_since_epoch().count());
  for (std::size_t i = 0; i < stamp_size; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

inline TimePoint stamp_of(std::string_view stored) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < stamp_size; ++i) {
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(stored[i])) << (8 * i);
  }
  return TimePoint{Duration{static_cast<Duration::rep>(v)}};
}

inline bool stored_live(std::string_view stored, const std::optional<Duration>& ttl,
                        TimePoint now) {
  if (stored.size() < stamp_size) return false;
  return !ttl || now - stamp_of(stored) < *ttl;
}

template <Codable T>
void append_encoded(std::string& out, const T& value) {
  std::vector<std::byte> bytes;
  Writer w(bytes);
  Codec<T>::encode(value, w);
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

inline std::span<const std::byte> as_byte_span(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

[[noreturn]] inline void state_failure(const std::string& name, const std::string& what) {
  throw StateError("state '" + name + "': " + what);
}

template <class T>
T checked(Result<T> r, const std::string& name, const char* op) {
  if (!r) state_failure(name, std::string(op) + " failed: " + r.error().describe());
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}

template <Codable T>
T decode_whole(std::string_view bytes, const std::string& name) {
  Reader r(as_byte_span(bytes));
  auto v = Codec<T>::decode(r);
  if (!v) state_failure(name, "stored value does not decode: " + v.error().describe());
  if (r.remaining() != 0) state_failure(name, "stored value has trailing bytes");
  return std::move(*v);
}

/// What every handle shares: the binding and reading/writing a stamped entry.
class StateHandleBase {
 public:
  explicit StateHandleBase(StateBinding binding) : b_(std::move(binding)) {}

 protected:
  /// The entry's payload (without stamp) if it exists and has not expired.
  std::optional<std::string> read(std::string_view key) const {
    auto stored = checked(b_.store->get(key), b_.name, "get");
    if (!stored || !stored_live(*stored, b_.ttl, b_.now)) return std::nullopt;
    return stored->substr(stamp_size);
  }
  void write(std::string_view key, std::string_view payload) const {
    std::string stored = stamp(b_.now);
    stored.append(payload);
    checked(b_.store->put(key, stored), b_.name, "put");
  }
  void erase(std::string_view key) const { checked(b_.store->remove(key), b_.name, "remove"); }

  StateBinding b_;
};

}  // namespace detail

/// One value per key.
template <Codable T>
class ValueState : detail::StateHandleBase {
 public:
  using StateHandleBase::StateHandleBase;
  [[nodiscard]] std::optional<T> get() const {
    auto payload = read(b_.prefix);
    if (!payload) return std::nullopt;
    return detail::decode_whole<T>(*payload, b_.name);
  }
  [[nodiscard]] T value_or(T fallback) const { return get().value_or(std::move(fallback)); }
  void set(const T& value) const {
    std::string payload;
    detail::append_encoded(payload, value);
    write(b_.prefix, payload);
  }
  void clear() const { erase(b_.prefix); }
};

/// An append-only list per key; the TTL applies to the list as a whole (reset by add).
template <Codable T>
class ListState : detail::StateHandleBase {
 public:
  using StateHandleBase::StateHandleBase;
  void add(const T& value) const {
    std::string payload = read(b_.prefix).value_or(std::string{});
    detail::append_encoded(payload, value);
    write(b_.prefix, payload);
  }
  /// The elements in the order they were added.
  [[nodiscard]] std::vector<T> get() const {
    std::vector<T> out;
    const auto payload = read(b_.prefix);
    if (!payload) return out;
    Reader r(detail::as_byte_span(*payload));
    while (r.remaining() > 0) {
      auto v = Codec<T>::decode(r);
      if (!v) {
        detail::state_failure(b_.name, "list element " + std::to_string(out.size()) +
                                           " does not decode: " + v.error().describe());
      }
      out.push_back(std::move(*v));
    }
    return out;
  }
  void clear() const { erase(b_.prefix); }
};

/// A map per key; each entry has its own TTL stamp.
template <Codable K2, Codable V>
class MapState : detail::StateHandleBase {
 public:
  using StateHandleBase::StateHandleBase;
  void put(const K2& k, const V& v) const {
    std::string payload;
    detail::append_encoded(payload, v);
    write(entry_key(k), payload);
  }
  [[nodiscard]] std::optional<V> get(const K2& k) const {
    auto payload = read(entry_key(k));
    if (!payload) return std::nullopt;
    return detail::decode_whole<V>(*payload, b_.name);
  }
  [[nodiscard]] bool contains(const K2& k) const { return read(entry_key(k)).has_value(); }
  void remove(const K2& k) const { erase(entry_key(k)); }
  /// Calls f(key, value) for every live entry, in the order of the keys' encodings.
  template <class F>
  void for_each(F&& f) const {
    detail::checked(
        b_.store->scan(b_.prefix,
                       [&](std::string_view key, std::string_view stored) {
                         if (!detail::stored_live(stored, b_.ttl, b_.now)) {
                           return true;
                         }
                         f(detail::decode_whole<K2>(key.substr(b_.prefix.size()), b_.name),
                           detail::decode_whole<V>(stored.substr(detail::stamp_size), b_.name));
                         return true;
                       }),
        b_.name, "scan");
  }
  [[nodiscard]] std::vector<std::pair<K2, V>> entries() const {
    std::vector<std::pair<K2, V>> out;
    for_each([&](K2 k, V v) { out.emplace_back(std::move(k), std::move(v)); });
    return out;
  }
  void clear() const { detail::checked(b_.store->remove_prefix(b_.prefix), b_.name, "clear"); }

 private:
  [[nodiscard]] std::string entry_key(const K2& k) const {
    std::string key = b_.prefix;
    detail::append_encoded(key, k);
    return key;
  }
};

/// An aggregate per key over the values added, with the window aggregations' interface:
/// Acc create(), add(Acc&, const In&), Result result(const Acc&) (Acc must be Codable).
template <class Agg>
class AggregatingState : detail::StateHandleBase {
 public:
  using Acc = typename Agg::Acc;
  using Out = typename Agg::Result;
  AggregatingState(StateBinding binding, Agg agg)
      : StateHandleBase(std::move(binding)), agg_(std::move(agg)) {}
  template <class In>
  void add(const In& in) const {
    Acc acc = load().value_or(agg_.create());
    agg_.add(acc, in);
    std::string payload;
    detail::append_encoded(payload, acc);
    write(b_.prefix, payload);
  }
  /// The aggregate of what was added; empty if nothing was (or it expired).
  [[nodiscard]] std::optional<Out> get() const {
    auto acc = load();
    if (!acc) return std::nullopt;
    return agg_.result(*acc);
  }
  void clear() const { erase(b_.prefix); }

 private:
  [[nodiscard]] std::optional<Acc> load() const {
    auto payload = read(b_.prefix);
    if (!payload) return std::nullopt;
    return detail::decode_whole<Acc>(*payload, b_.name);
  }
  Agg agg_;
};

}  // namespace weft::stream
