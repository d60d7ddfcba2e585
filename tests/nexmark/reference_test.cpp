#include "nexmark/reference.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

#include "nexmark/generator.hpp"

namespace weft::nexmark {
namespace {

constexpr std::int64_t T = 1'700'000'000'000;  // a multiple of 10 s: windows start here

Event bid(std::int64_t auction, std::int64_t bidder, std::int64_t price, std::int64_t ts) {
  Bid b;
  b.auction = auction;
  b.bidder = bidder;
  b.price = price;
  b.channel = "Google";
  b.date_time = ts;
  b.extra = "x" + std::to_string(price);
  return Event::of(b);
}

Event person(std::int64_t id, std::string name, std::string state, std::int64_t ts) {
  Person p;
  p.id = id;
  p.name = std::move(name);
  p.city = "Boise";
  p.state = std::move(state);
  p.date_time = ts;
  return Event::of(p);
}

Event auction(std::int64_t id, std::int64_t seller, std::int64_t category, std::int64_t ts,
              std::int64_t expires) {
  Auction a;
  a.id = id;
  a.seller = seller;
  a.category = category;
  a.date_time = ts;
  a.expires = expires;
  return Event::of(a);
}

TEST(Reference, Q0PassesEveryBidAndNothingElse) {
  const std::vector<Event> in = {bid(2, 1, 10, T + 5), person(1, "A B", "OR", T),
                                 bid(1, 1, 20, T + 1), auction(1, 1, 10, T, T + 9)};
  const auto out = reference::q0(in);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], in[2].bid);  // sorted: auction 1 first
  EXPECT_EQ(out[1], in[0].bid);
}

TEST(Reference, Q1ConvertsDollarsToEuros) {
  const auto out = reference::q1(std::vector<Event>{bid(1, 2, 1000, T), bid(1, 2, 3, T + 1)});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_DOUBLE_EQ(out[0].price, 2.724);  // sorted: the lower price first
  EXPECT_DOUBLE_EQ(out[1].price, 908.0);
  EXPECT_EQ(out[1].extra, "x1000");
}

TEST(Reference, Q2KeepsAuctionsThatAreMultiplesOf123) {
  const auto out = reference::q2(
      std::vector<Event>{bid(123, 1, 5, T), bid(124, 1, 6, T), bid(246, 1, 7, T), bid(0, 1, 8, T)});
  EXPECT_EQ(out, (std::vector<Q2Row>{{0, 8}, {123, 5}, {246, 7}}));
}

TEST(Reference, Q3JoinsSellersInOrIdCaWithCategoryTenAuctions) {
  const std::vector<Event> in = {
      person(1, "Kate Smith", "OR", T),    auction(10, 1, 10, T + 1, T + 100),
      person(2, "Luke White", "WA", T),    auction(11, 2, 10, T + 2, T + 100),  // WA: no
      person(3, "Paul Jones", "CA", T),    auction(12, 3, 11, T + 3, T + 100),  // category 11: no
      auction(13, 3, 10, T + 4, T + 100),  auction(14, 1, 10, T + 5, T + 100),
      auction(15, 9, 10, T + 6, T + 100),  // no such person
      person(4, "Saul Noris", "ID", T + 7)};
  EXPECT_EQ(reference::q3(in), (std::vector<Q3Row>{{"Kate Smith", "Boise", "OR", 10},
                                                   {"Kate Smith", "Boise", "OR", 14},
                                                   {"Paul Jones", "Boise", "CA", 13}}));
}

TEST(Reference, Q4AveragesWinningBidsWithinEachAuctionsLife) {
  const std::vector<Event> in = {auction(1, 100, 10, T + 1000, T + 2000),
                                 auction(2, 100, 10, T + 1000, T + 5000),
                                 auction(3, 100, 11, T, T + 100),
                                 bid(1, 7, 10, T + 1500),
                                 bid(1, 7, 30, T + 2000),  // expiry itself still counts
                                 bid(1, 7, 99, T + 2001),
                                 bid(1, 7, 50, T + 999),  // after expiry, before the start
                                 bid(2, 7, 20, T + 3000),
                                 bid(3, 7, 5, T + 200),       // auction 3 never has a winner
                                 bid(4, 7, 1000, T + 1500)};  // no such auction
  const auto out = reference::q4(in);
  ASSERT_EQ(out, (std::vector<Q4Row>{{10, 2, 50}}));
  EXPECT_DOUBLE_EQ(out[0].average(), 25.0);
}

TEST(Reference, Q5FindsTheAuctionsWithTheMostBidsPerSlidingWindowWithTies) {
  const std::vector<Event> in = {bid(1, 9, 1, T),        bid(1, 9, 1, T + 1000),
                                 bid(2, 9, 1, T + 1500), bid(2, 9, 1, T + 9000),
                                 bid(2, 9, 1, T + 9500), bid(3, 9, 1, T + 8500),
                                 bid(3, 9, 1, T + 8600)};
  auto row = [](std::int64_t start, std::int64_t auction, std::int64_t n) {
    return Q5Row{T + start, T + start + 10'000, auction, n};
  };
  // Windows [s, s + 10 s) for s a multiple of 2 s. In [0, 10 s) auction 2 has 3 bids and
  // auction 3 two; from 2 s on, auctions 2 and 3 tie with two bids each.
  EXPECT_EQ(reference::q5(in),
            (std::vector<Q5Row>{row(-8000, 1, 2), row(-6000, 1, 2), row(-4000, 1, 2),
                                row(-2000, 1, 2), row(0, 2, 3), row(2000, 2, 2), row(2000, 3, 2),
                                row(4000, 2, 2), row(4000, 3, 2), row(6000, 2, 2), row(6000, 3, 2),
                                row(8000, 2, 2), row(8000, 3, 2)}));
}

TEST(Reference, Q7KeepsTheHighestBidsOfEachTumblingWindow) {
  const std::vector<Event> in = {bid(1, 1, 5, T),          bid(2, 2, 9, T + 3000),
                                 bid(3, 3, 9, T + 9999),   bid(4, 4, 3, T + 10'000),
                                 bid(5, 5, 1, T + 15'000), bid(6, 6, 2, T + 40'000)};
  EXPECT_EQ(reference::q7(in),
            (std::vector<Q7Row>{{T, T + 10'000, 2, 2, 9, T + 3000, "x9"},
                                {T, T + 10'000, 3, 3, 9, T + 9999, "x9"},
                                {T + 10'000, T + 20'000, 4, 4, 3, T + 10'000, "x3"},
                                {T + 40'000, T + 50'000, 6, 6, 2, T + 40'000, "x2"}}));
}

TEST(Reference, Q8MatchesPeopleAndTheirAuctionsInTheSameWindow) {
  const std::vector<Event> in = {
      person(1, "Kate Smith", "OR", T + 1000),   auction(10, 1, 10, T + 9999, T + 20'000),
      auction(11, 1, 12, T + 5000, T + 20'000),  // a second auction: still one row
      person(2, "Luke White", "WA", T + 9000),   auction(12, 2, 10, T + 10'000, T + 20'000),
      person(3, "Paul Jones", "CA", T + 500),  // no auction at all
      person(4, "Saul Noris", "ID", T + 20'001), auction(13, 4, 10, T + 29'999, T + 40'000)};
  EXPECT_EQ(reference::q8(in),
            (std::vector<Q8Row>{{1, "Kate Smith", T}, {4, "Saul Noris", T + 20'000}}));
}

TEST(Reference, Q11SplitsEachBiddersBidsIntoSessions) {
  const std::vector<Event> in = {bid(1, 7, 1, T + 15'000), bid(1, 7, 1, T), bid(1, 7, 1, T + 5000),
                                 bid(1, 7, 1, T + 25'001), bid(1, 8, 1, T + 100)};
  // 5 s -> 15 s is exactly one gap: the session goes on; 15 s -> 25.001 s is more: a new one.
  EXPECT_EQ(reference::q11(in), (std::vector<Q11Row>{{7, T, T + 25'000, 3},
                                                     {7, T + 25'001, T + 35'001, 1},
                                                     {8, T + 100, T + 10'100, 1}}));
}

TEST(Reference, EveryQueryFindsResultsInGeneratedData) {
  GeneratorConfig c;
  c.max_events = 60'000;  // 6 s of event time
  Generator g(c);
  std::vector<Event> events;
  Event e;
  while (g.next(e)) events.push_back(stored_copy(e));
  EXPECT_EQ(reference::q0(events).size(), 60'000u / 50 * 46);
  EXPECT_FALSE(reference::q2(events).empty());
  EXPECT_FALSE(reference::q3(events).empty());
  const auto q4 = reference::q4(events);
  EXPECT_EQ(q4.size(), 5u);  // every category has auctions with a winning bid
  EXPECT_FALSE(reference::q5(events).empty());
  EXPECT_FALSE(reference::q7(events).empty());
  EXPECT_FALSE(reference::q8(events).empty());
  EXPECT_FALSE(reference::q11(events).empty());
}

// Small random bid sets: few auctions and bidders, times within a minute, so windows collide.
rc::Gen<std::vector<Event>> small_bids() {
  return rc::gen::container<std::vector<Event>>(
      rc::gen::apply([](int auction, int bidder, int price,
                        int offset) { return bid(auction, bidder, price, T + offset); },
                     rc::gen::inRange(1, 5), rc::gen::inRange(1, 4), rc::gen::inRange(1, 50),
                     rc::gen::inRange(-30'000, 30'000)));
}

RC_GTEST_PROP(Reference, Q7MaxIsAtLeastEveryBidInItsWindow, ()) {
  const auto in = *small_bids();
  const auto out = reference::q7(in);
  std::map<std::int64_t, std::int64_t> top;
  for (const auto& r : out) {
    RC_ASSERT(r.window_start <= r.date_time && r.date_time < r.window_end);
    top[r.window_start] = r.price;
  }
  for (const auto& r : out) RC_ASSERT(r.price == top[r.window_start]);  // one max per window
  for (const auto& e : in) {
    const auto start = window_start(e.bid.date_time, q7_window_ms);
    RC_ASSERT(top.contains(start));
    RC_ASSERT(top[start] >= e.bid.price);
  }
}

RC_GTEST_PROP(Reference, Q5CountsAreExactAndMaximal, ()) {
  const auto in = *small_bids();
  for (const auto& r : reference::q5(in)) {
    RC_ASSERT(r.window_end - r.window_start == q5_window_ms);
    RC_ASSERT(r.window_start % q5_slide_ms == 0);
    std::map<std::int64_t, std::int64_t> counts;
    for (const auto& e : in) {
      if (r.window_start <= e.bid.date_time && e.bid.date_time < r.window_end) {
        ++counts[e.bid.auction];
      }
    }
    RC_ASSERT(counts[r.auction] == r.count);
    for (const auto& [auction, n] : counts) RC_ASSERT(n <= r.count);
  }
}

RC_GTEST_PROP(Reference, Q11SessionsPartitionEachBiddersBids, ()) {
  const auto in = *small_bids();
  const auto out = reference::q11(in);
  std::map<std::int64_t, std::int64_t> bids;
  for (const auto& e : in) ++bids[e.bid.bidder];
  std::map<std::int64_t, std::int64_t> counted;
  for (std::size_t i = 0; i < out.size(); ++i) {
    counted[out[i].bidder] += out[i].bid_count;
    RC_ASSERT(out[i].session_end - out[i].session_start >= q11_session_gap_ms);
    if (i > 0 && out[i - 1].bidder == out[i].bidder) {
      // Consecutive sessions are more than a gap apart: last bid + gap < next first bid.
      RC_ASSERT(out[i - 1].session_end < out[i].session_start);
    }
  }
  RC_ASSERT(counted == bids);
}

RC_GTEST_PROP(Reference, ResultsDoNotDependOnInputOrder, ()) {
  auto in = *small_bids();
  const auto q5 = reference::q5(in);
  const auto q7 = reference::q7(in);
  const auto q11 = reference::q11(in);
  std::reverse(in.begin(), in.end());
  RC_ASSERT(reference::q5(in) == q5);
  RC_ASSERT(reference::q7(in) == q7);
  RC_ASSERT(reference::q11(in) == q11);
}

}  // namespace
}  // namespace weft::nexmark
