// Vocabulary of the stream layer: event time, windows, checkpoints and dead letters.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>

namespace weft::stream {

/// Event time: milliseconds since the Unix epoch, as the records carry it.
using Timestamp = std::int64_t;
inline constexpr Timestamp min_timestamp = std::numeric_limits<Timestamp>::min();
inline constexpr Timestamp max_timestamp = std::numeric_limits<Timestamp>::max();

using CheckpointId = std::uint64_t;

/// Which clock a timer or window follows: the records' event time (moved by watermarks) or
/// the job clock's processing time.
enum class TimeDomain : std::uint8_t { event_time, processing_time };

/// A time window [start, end): holds records with start <= ts < end. Its last instant, end - 1,
/// is the event time at which it fires.
struct Window {
  Timestamp start = 0;
  Timestamp end = 0;
  [[nodiscard]] Timestamp max_timestamp() const noexcept { return end - 1; }
  friend auto operator<=>(const Window&, const Window&) = default;
};

/// What a keyed window aggregation emits: the key, the window and the aggregate.
template <class K, class R>
struct Windowed {
  K key{};
  Window window;
  R value{};
  friend bool operator==(const Windowed&, const Windowed&) = default;
};

/// A record that could not be processed (it failed to parse, or a user function threw),
/// with the reason and where. The job goes on unless configured to fail.
struct DeadLetter {
  std::string operator_name;
  std::string reason;
  /// A printable rendering of the record when one is cheap to make (e.g. the input line).
  std::string record;
  Timestamp timestamp = min_timestamp;
};

/// Key groups are the unit of keyed state: a key always maps to the same group, and a group
/// to one parallel instance, so state can be redistributed when the parallelism changes.
inline constexpr std::uint32_t default_max_parallelism = 128;

[[nodiscard]] inline std::uint32_t key_group_of(std::uint64_t key_hash,
                                                std::uint32_t max_parallelism) noexcept {
  // Murmur-style finalizer: std::hash of an integer is the identity, which would put
  // sequential ids into sequential groups.
  std::uint64_t h = key_hash;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return static_cast<std::uint32_t>(h % max_parallelism);
}

/// The parallel instance that owns a key group (contiguous ranges, as in Flink).
[[nodiscard]] inline std::uint32_t subtask_of_key_group(std::uint32_t key_group,
                                                        std::uint32_t parallelism,
                                                        std::uint32_t max_parallelism) noexcept {
  return key_group * parallelism / max_parallelism;
}

}  // namespace weft::stream
