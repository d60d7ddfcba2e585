#include "nexmark/generator.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <regex>
#include <set>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace weft::nexmark {
namespace {

std::vector<Event> generate(const GeneratorConfig& config, std::uint64_t n, std::uint64_t first = 0,
                            std::uint64_t stride = 1) {
  Generator g(config, first, stride);
  std::vector<Event> out;
  Event e;
  for (std::uint64_t i = 0; i < n && g.next(e); ++i) out.push_back(stored_copy(e));
  return out;
}

TEST(Generator, SameConfigSameEvents) {
  GeneratorConfig c;
  const auto a = generate(c, 5000);
  const auto b = generate(c, 5000);
  ASSERT_EQ(a.size(), 5000u);
  EXPECT_EQ(a, b);
  // A different first event id is a different sequence.
  c.first_event_id = 50;
  EXPECT_NE(generate(c, 5000), a);
}

TEST(Generator, ParallelSharesUnionIsTheSerialSequence) {
  GeneratorConfig c;
  c.max_events = 3001;  // not a multiple of the parallelism: the last share is shorter
  const auto serial = generate(c, 10'000);
  ASSERT_EQ(serial.size(), 3001u);
  constexpr std::uint64_t p = 3;
  std::vector<Event> merged(serial.size());
  std::uint64_t total = 0;
  for (std::uint64_t i = 0; i < p; ++i) {
    Generator g(c, i, p);
    Event e;
    for (std::uint64_t at = g.next_index(); g.next(e); at = g.next_index()) {
      ASSERT_EQ(at % p, i);
      merged[at] = e;
      ++total;
    }
  }
  EXPECT_EQ(total, serial.size());
  EXPECT_EQ(merged, serial);
}

TEST(Generator, RestartAtNextIndexContinues) {
  GeneratorConfig c;
  const auto serial = generate(c, 2000);
  Generator first(c);
  Event e;
  for (int i = 0; i < 777; ++i) ASSERT_TRUE(first.next(e));
  Generator resumed(c, first.next_index());
  for (std::size_t i = 777; i < serial.size(); ++i) {
    ASSERT_TRUE(resumed.next(e));
    ASSERT_EQ(e, serial[i]) << "at " << i;
  }
}

TEST(Generator, KindsFollowEventNumberModFifty) {
  const auto events = generate(GeneratorConfig{}, 50'000);
  std::array<std::size_t, 3> counts{};
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto kind = events[i].kind;
    ++counts[static_cast<std::size_t>(kind)];
    const std::size_t rem = i % 50;
    const EventKind want = rem == 0  ? EventKind::person
                           : rem < 4 ? EventKind::auction
                                     : EventKind::bid;
    ASSERT_EQ(kind, want) << "event " << i;
  }
  EXPECT_EQ(counts[0], 1000u);
  EXPECT_EQ(counts[1], 3000u);
  EXPECT_EQ(counts[2], 46000u);
}

TEST(Generator, IdsStartAtOneThousandAndCount) {
  const auto events = generate(GeneratorConfig{}, 20'000);
  std::int64_t next_person = first_person_id;
  std::int64_t next_auction = first_auction_id;
  std::int64_t last_person = first_person_id - 1;
  std::int64_t last_auction = first_auction_id - 1;
  for (const auto& e : events) {
    switch (e.kind) {
      case EventKind::person:
        ASSERT_EQ(e.person.id, next_person++);
        last_person = e.person.id;
        break;
      case EventKind::auction:
        ASSERT_EQ(e.auction.id, next_auction++);
        last_auction = e.auction.id;
        // Sellers are people generated so far or a few ahead (Beam's lead of 10).
        ASSERT_GE(e.auction.seller, first_person_id);
        ASSERT_LE(e.auction.seller, last_person + 10);
        break;
      case EventKind::bid:
        ASSERT_GE(e.bid.auction, first_auction_id);
        ASSERT_LE(e.bid.auction, last_auction + 10);
        ASSERT_GE(e.bid.bidder, first_person_id);
        ASSERT_LE(e.bid.bidder, last_person + 10);
        break;
    }
  }
}

TEST(Generator, FieldsHaveTheirShapes) {
  const auto events = generate(GeneratorConfig{}, 20'000);
  const std::set<std::string> states = {"AZ", "CA", "ID", "OR", "WA", "WY"};
  const std::regex card(R"(\d{4} \d{4} \d{4} \d{4})");
  const std::regex email(R"([a-z ]*@[a-z ]*\.com)");
  std::set<std::int64_t> categories;
  std::size_t hot_auction_bids = 0;
  std::size_t bids = 0;
  std::size_t hot_channel_bids = 0;
  for (const auto& e : events) {
    switch (e.kind) {
      case EventKind::person:
        ASSERT_TRUE(states.contains(e.person.state)) << e.person.state;
        ASSERT_TRUE(std::regex_match(e.person.credit_card, card)) << e.person.credit_card;
        ASSERT_TRUE(std::regex_match(e.person.email_address, email)) << e.person.email_address;
        ASSERT_NE(e.person.name.find(' '), std::string::npos);
        ASSERT_EQ(e.person.date_time, e.timestamp);
        break;
      case EventKind::auction:
        categories.insert(e.auction.category);
        ASSERT_GT(e.auction.expires, e.auction.date_time);
        ASSERT_GE(e.auction.reserve, e.auction.initial_bid);
        ASSERT_EQ(e.auction.date_time, e.timestamp);
        break;
      case EventKind::bid:
        ++bids;
        ASSERT_GE(e.bid.price, 100);          // $1
        ASSERT_LE(e.bid.price, 100'000'000);  // $1,000,000
        ASSERT_TRUE(e.bid.url.starts_with("https://www.nexmark.com/")) << e.bid.url;
        ASSERT_FALSE(e.bid.channel.empty());
        if (e.bid.auction % 100 == 0) ++hot_auction_bids;
        if (!e.bid.channel.starts_with("channel-")) ++hot_channel_bids;
        ASSERT_EQ(e.bid.date_time, e.timestamp);
        break;
    }
  }
  EXPECT_EQ(categories, (std::set<std::int64_t>{10, 11, 12, 13, 14}));
  // Hot auction ratio 2: at least half the bids go to the hot auction (a multiple of 100).
  EXPECT_GT(static_cast<double>(hot_auction_bids) / static_cast<double>(bids), 0.45);
  // Hot channel ratio 2: about half the bids come through the four hot channels.
  EXPECT_NEAR(static_cast<double>(hot_channel_bids) / static_cast<double>(bids), 0.5, 0.05);
}

TEST(Generator, AverageSizesMatchTheConfiguration) {
  const auto events = generate(GeneratorConfig{}, 100'000);
  std::array<double, 3> bytes{};
  std::array<double, 3> counts{};
  for (const auto& e : events) {
    const auto k = static_cast<std::size_t>(e.kind);
    bytes[k] += static_cast<double>(idealized_size(e));
    counts[k] += 1;
  }
  EXPECT_NEAR(bytes[0] / counts[0], 200, 20);
  EXPECT_NEAR(bytes[1] / counts[1], 500, 50);
  EXPECT_NEAR(bytes[2] / counts[2], 100, 10);
}

TEST(Generator, TimestampsAdvanceByTheInterEventDelay) {
  GeneratorConfig c;  // 10,000 events/s: 0.1 ms apart
  const auto events = generate(c, 10'000);
  for (std::size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].timestamp, c.base_time + static_cast<std::int64_t>(i / 10));
    if (i > 0) {
      ASSERT_GE(events[i].timestamp, events[i - 1].timestamp);
    }
  }
  c.first_event_rate = 1000;  // 1 ms apart
  const auto slow = generate(c, 100);
  for (std::size_t i = 0; i < slow.size(); ++i) {
    ASSERT_EQ(slow[i].timestamp, c.base_time + static_cast<std::int64_t>(i));
  }
}

TEST(Generator, OutOfOrderGroupsOnlyShuffleWithinAGroup) {
  GeneratorConfig in_order;
  in_order.first_event_rate = 1000;  // 1 ms apart, so shuffles show in the timestamps
  GeneratorConfig shuffled = in_order;
  shuffled.out_of_order_group_size = 100;
  const auto a = generate(in_order, 1000);
  const auto b = generate(shuffled, 1000);
  ASSERT_NE(a, b);
  bool any_decrease = false;
  for (std::size_t group = 0; group < 10; ++group) {
    std::vector<Event> want(a.begin() + group * 100, a.begin() + (group + 1) * 100);
    std::vector<Event> got(b.begin() + group * 100, b.begin() + (group + 1) * 100);
    const auto by_time = [](const Event& x, const Event& y) { return x.timestamp < y.timestamp; };
    for (std::size_t i = 1; i < got.size(); ++i) {
      any_decrease |= got[i].timestamp < got[i - 1].timestamp;
    }
    // The group holds the same events, only in another order.
    std::sort(got.begin(), got.end(), by_time);
    EXPECT_EQ(got, want) << "group " << group;
    // Groups follow each other in time.
    if (group > 0) {
      const auto prev_max =
          std::max_element(b.begin() + (group - 1) * 100, b.begin() + group * 100, by_time);
      EXPECT_LE(prev_max->timestamp, got.front().timestamp);
    }
  }
  EXPECT_TRUE(any_decrease);
}

RC_GTEST_PROP(Generator, WatermarkBoundsEveryLaterTimestamp, ()) {
  GeneratorConfig c;
  c.first_event_rate = *rc::gen::inRange(100, 100'000);
  c.out_of_order_group_size = *rc::gen::inRange<std::uint32_t>(1, 300);
  const auto start = *rc::gen::inRange<std::uint64_t>(0, 1'000'000);
  const auto stride = *rc::gen::inRange<std::uint64_t>(1, 5);
  Generator g(c, start, stride);
  Event e;
  std::vector<std::int64_t> watermarks;
  std::vector<std::int64_t> times;
  for (int i = 0; i < 400; ++i) {
    watermarks.push_back(g.watermark());
    RC_ASSERT(g.next(e));
    times.push_back(e.timestamp);
    RC_ASSERT(e.timestamp == g.timestamp_at(g.next_index() - stride));
  }
  std::int64_t later_min = times.back();
  for (std::size_t i = times.size(); i-- > 0;) {
    later_min = std::min(later_min, times[i]);
    RC_ASSERT(watermarks[i] <= later_min);
  }
}

TEST(Generator, StopsAtMaxEvents) {
  GeneratorConfig c;
  c.max_events = 10;
  Generator g(c);
  Event e;
  int n = 0;
  while (g.next(e)) ++n;
  EXPECT_EQ(n, 10);
  const Event before = e;
  EXPECT_FALSE(g.next(e));
  EXPECT_EQ(e, before);
}

TEST(Generator, RejectsBadConfigurationsByName) {
  auto message = [](GeneratorConfig c) {
    auto ok = validate(c);
    return ok ? std::string() : ok.error().message();
  };
  GeneratorConfig c;
  EXPECT_EQ(message(c), "");
  c.first_event_rate = 0;
  EXPECT_NE(message(c).find("first_event_rate"), std::string::npos);
  EXPECT_THROW(Generator{c}, std::invalid_argument);
  c = {};
  c.out_of_order_group_size = 0;
  EXPECT_NE(message(c).find("out_of_order_group_size"), std::string::npos);
  c = {};
  c.auction_proportion = 0;
  EXPECT_NE(message(c).find("auction_proportion"), std::string::npos);
  c = {};
  c.hot_bidders_ratio = 0;
  EXPECT_NE(message(c).find("hot ratios"), std::string::npos);
  EXPECT_THROW(Generator(GeneratorConfig{}, 0, 0), std::invalid_argument);
}

}  // namespace
}  // namespace weft::nexmark
