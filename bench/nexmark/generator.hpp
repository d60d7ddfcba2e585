// The Nexmark event generator, as Beam's NexmarkGenerator and nexmark-rs build it: every event
// is a pure function of its position in one serial sequence, so any share of the sequence can
// be generated independently, in parallel and after a restart. docs/nexmark.md gives the rules.
#pragma once

#include <cstdint>

#include "model.hpp"
#include "weft/core/result.hpp"

namespace weft::nexmark {

/// Ids start here so that the queries find matches even on small inputs (Beam's constants).
inline constexpr std::int64_t first_person_id = 1000;
inline constexpr std::int64_t first_auction_id = 1000;
inline constexpr std::int64_t first_category_id = 10;
inline constexpr std::int64_t num_categories = 5;

/// Defaults as in Beam's NexmarkConfiguration, except `base_time`, which is fixed (not the wall
/// clock) so that two runs produce the same events, and a multiple of 10 s so that windows line
/// up with the first event.
struct GeneratorConfig {
  double first_event_rate = 10'000;           // events per second of event time
  std::uint32_t out_of_order_group_size = 1;  // 1: timestamps never decrease
  std::uint32_t hot_auction_ratio = 2;        // a bid is for a hot auction with p = 1 - 1/ratio
  std::uint32_t hot_sellers_ratio = 4;        // an auction is by a hot seller with p = 1 - 1/ratio
  std::uint32_t hot_bidders_ratio = 4;        // a bid is by a hot bidder with p = 1 - 1/ratio
  std::uint32_t hot_channels_ratio = 2;  // a bid comes through a hot channel with p = 1 - 1/ratio
  std::uint32_t num_active_people = 1000;
  std::uint32_t num_in_flight_auctions = 100;
  std::uint32_t person_proportion = 1;
  std::uint32_t auction_proportion = 3;
  std::uint32_t bid_proportion = 46;
  std::uint32_t avg_person_byte_size = 200;
  std::uint32_t avg_auction_byte_size = 500;
  std::uint32_t avg_bid_byte_size = 100;
  std::int64_t base_time = 1'700'000'000'000;  // 2023-11-14T22:13:20Z, ms since the epoch
  std::int64_t first_event_id = 0;
  std::uint64_t max_events = 0;  // 0: unbounded

  /// Microseconds of event time between consecutive events.
  [[nodiscard]] double inter_event_delay_us() const { return 1e6 / first_event_rate; }
};

/// Checks that a configuration describes a sequence the generator can produce.
[[nodiscard]] Result<void> validate(const GeneratorConfig& config);

/// Generates the events at serial positions first_index, first_index + stride, ... below
/// config.max_events. P generators with first_index 0..P-1 and stride P together produce the
/// serial sequence exactly once; one restarted at a saved `next_index()` continues where it
/// stopped. Not thread-safe: one generator per thread.
class Generator {
 public:
  /// Throws std::invalid_argument for a configuration that `validate` rejects, or stride 0.
  explicit Generator(const GeneratorConfig& config, std::uint64_t first_index = 0,
                     std::uint64_t stride = 1);

  /// Overwrites `e` with the next event; false (and `e` untouched) once max_events is reached.
  /// Allocates nothing once e's strings have grown to fit (measured: see docs/nexmark.md).
  bool next(Event& e);

  /// The event at serial position `index`, whatever this generator's share.
  void event_at(std::uint64_t index, Event& e) const;

  /// Position in the serial sequence of the event `next` returns next.
  [[nodiscard]] std::uint64_t next_index() const { return index_; }

  /// A lower bound on the timestamps of every event `next` will still return (out-of-order
  /// groups shuffle timestamps only within a group).
  [[nodiscard]] std::int64_t watermark() const;

  /// Event time of the event at serial position `index`.
  [[nodiscard]] std::int64_t timestamp_at(std::uint64_t index) const;

  [[nodiscard]] const GeneratorConfig& config() const { return config_; }

 private:
  [[nodiscard]] std::uint64_t event_number(std::uint64_t index) const;
  [[nodiscard]] std::int64_t timestamp_for(std::uint64_t event_number) const;
  // Where an event id falls: the newest person and auction ids (base 0) at that point.
  struct Position {
    std::int64_t event_id;
    std::int64_t last_person;
    std::int64_t last_auction;
  };

  void person(const Position& at, std::int64_t ts, Person& p) const;
  void auction(std::uint64_t event_number, const Position& at, std::int64_t ts, Auction& a) const;
  void bid(const Position& at, std::int64_t ts, Bid& b) const;

  GeneratorConfig config_;
  std::uint64_t index_;
  std::uint64_t stride_;
  std::int64_t total_proportion_;
  double delay_us_;
  std::uint64_t events_for_auctions_;  // events until num_in_flight_auctions more auctions
};

}  // namespace weft::nexmark
