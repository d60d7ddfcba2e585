// Result rows of the Nexmark queries weft implements (q0-q5, q7, q8, q11), shared by the batch
// reference implementations (reference.hpp) and the streaming jobs, which must produce equal
// sorted vectors. docs/nexmark.md defines each query precisely.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

#include "model.hpp"

namespace weft::nexmark {

inline constexpr std::int64_t q2_auction_modulus = 123;
inline constexpr std::int64_t q5_window_ms = 10'000;
inline constexpr std::int64_t q5_slide_ms = 2'000;
inline constexpr std::int64_t q7_window_ms = 10'000;
inline constexpr std::int64_t q8_window_ms = 10'000;
inline constexpr std::int64_t q11_session_gap_ms = 10'000;

/// Start of the window of `size_ms` (aligned to multiples of it from epoch 0) holding `ts`.
constexpr std::int64_t window_start(std::int64_t ts, std::int64_t size_ms) {
  const std::int64_t r = ts % size_ms;
  return ts - (r < 0 ? r + size_ms : r);
}

/// q1's currency conversion; both implementations call this so the doubles are bit-equal.
constexpr double dollars_to_euros(std::int64_t price) {
  return 0.908 * static_cast<double>(price);
}

/// q0: every bid, unchanged.
using Q0Row = Bid;

/// q1: every bid with its price in euros.
struct Q1Row {
  std::int64_t auction = 0;
  std::int64_t bidder = 0;
  double price = 0;
  std::int64_t date_time = 0;
  std::string extra;
  friend auto operator<=>(const Q1Row&, const Q1Row&) = default;
};

/// q2: bids on auctions whose id is a multiple of 123.
struct Q2Row {
  std::int64_t auction = 0;
  std::int64_t price = 0;
  friend auto operator<=>(const Q2Row&, const Q2Row&) = default;
};

/// q3: sellers in OR, ID or CA and their auctions in category 10.
struct Q3Row {
  std::string name;
  std::string city;
  std::string state;
  std::int64_t id = 0;  // the auction
  friend auto operator<=>(const Q3Row&, const Q3Row&) = default;
};

/// q4: per category, the average winning price over the auctions that had a winning bid.
/// Kept as an exact sum and count; `average()` is total / auctions.
struct Q4Row {
  std::int64_t category = 0;
  std::int64_t auctions = 0;
  std::int64_t total = 0;
  [[nodiscard]] double average() const {
    return static_cast<double>(total) / static_cast<double>(auctions);
  }
  friend auto operator<=>(const Q4Row&, const Q4Row&) = default;
};

/// q5: per sliding window, the auction(s) with the most bids.
struct Q5Row {
  std::int64_t window_start = 0;
  std::int64_t window_end = 0;
  std::int64_t auction = 0;
  std::int64_t count = 0;
  friend auto operator<=>(const Q5Row&, const Q5Row&) = default;
};

/// q7: per tumbling window, the bid(s) with the highest price.
struct Q7Row {
  std::int64_t window_start = 0;
  std::int64_t window_end = 0;
  std::int64_t auction = 0;
  std::int64_t bidder = 0;
  std::int64_t price = 0;
  std::int64_t date_time = 0;
  std::string extra;
  friend auto operator<=>(const Q7Row&, const Q7Row&) = default;
};

/// q8: people who joined and opened an auction in the same tumbling window.
struct Q8Row {
  std::int64_t id = 0;
  std::string name;
  std::int64_t window_start = 0;
  friend auto operator<=>(const Q8Row&, const Q8Row&) = default;
};

/// q11: per bidder, each session of bids and its size.
struct Q11Row {
  std::int64_t bidder = 0;
  std::int64_t session_start = 0;  // the first bid's time
  std::int64_t session_end = 0;    // the last bid's time + the gap
  std::int64_t bid_count = 0;
  friend auto operator<=>(const Q11Row&, const Q11Row&) = default;
};

/// One JSON object per row, without a newline; field names as in docs/nexmark.md.
std::string to_json(const Bid& r);
std::string to_json(const Q1Row& r);
std::string to_json(const Q2Row& r);
std::string to_json(const Q3Row& r);
std::string to_json(const Q4Row& r);
std::string to_json(const Q5Row& r);
std::string to_json(const Q7Row& r);
std::string to_json(const Q8Row& r);
std::string to_json(const Q11Row& r);

}  // namespace weft::nexmark
