#include "nexmark/json.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <string>

#include "nexmark/generator.hpp"
#include "nexmark/queries.hpp"

namespace weft::nexmark {
namespace {

std::set<std::string> keys(const nlohmann::json& j) {
  std::set<std::string> out;
  for (const auto& [k, v] : j.items()) out.insert(k);
  return out;
}

TEST(Json, EveryGeneratedEventParsesBackWithNexmarkFieldNames) {
  Generator g(GeneratorConfig{});
  Event e;
  int seen[3] = {0, 0, 0};
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(g.next(e));
    const std::string line = to_json(e);
    ASSERT_EQ(line.find('\n'), std::string::npos);
    const auto j = nlohmann::json::parse(line);
    ASSERT_EQ(j.size(), 1u) << line;
    ++seen[static_cast<int>(e.kind)];
    switch (e.kind) {
      case EventKind::person: {
        const auto& p = j.at("person");
        EXPECT_EQ(keys(p), (std::set<std::string>{"id", "name", "emailAddress", "creditCard",
                                                  "city", "state", "dateTime", "extra"}));
        EXPECT_EQ(p.at("id").get<std::int64_t>(), e.person.id);
        EXPECT_EQ(p.at("name").get<std::string>(), e.person.name);
        EXPECT_EQ(p.at("emailAddress").get<std::string>(), e.person.email_address);
        EXPECT_EQ(p.at("creditCard").get<std::string>(), e.person.credit_card);
        EXPECT_EQ(p.at("state").get<std::string>(), e.person.state);
        EXPECT_EQ(p.at("dateTime").get<std::int64_t>(), e.person.date_time);
        EXPECT_EQ(p.at("extra").get<std::string>(), e.person.extra);
        break;
      }
      case EventKind::auction: {
        const auto& a = j.at("auction");
        EXPECT_EQ(keys(a),
                  (std::set<std::string>{"id", "itemName", "description", "initialBid", "reserve",
                                         "dateTime", "expires", "seller", "category", "extra"}));
        EXPECT_EQ(a.at("id").get<std::int64_t>(), e.auction.id);
        EXPECT_EQ(a.at("itemName").get<std::string>(), e.auction.item_name);
        EXPECT_EQ(a.at("description").get<std::string>(), e.auction.description);
        EXPECT_EQ(a.at("initialBid").get<std::int64_t>(), e.auction.initial_bid);
        EXPECT_EQ(a.at("reserve").get<std::int64_t>(), e.auction.reserve);
        EXPECT_EQ(a.at("expires").get<std::int64_t>(), e.auction.expires);
        EXPECT_EQ(a.at("seller").get<std::int64_t>(), e.auction.seller);
        EXPECT_EQ(a.at("category").get<std::int64_t>(), e.auction.category);
        break;
      }
      case EventKind::bid: {
        const auto& b = j.at("bid");
        EXPECT_EQ(keys(b), (std::set<std::string>{"auction", "bidder", "price", "channel", "url",
                                                  "dateTime", "extra"}));
        EXPECT_EQ(b.at("auction").get<std::int64_t>(), e.bid.auction);
        EXPECT_EQ(b.at("bidder").get<std::int64_t>(), e.bid.bidder);
        EXPECT_EQ(b.at("price").get<std::int64_t>(), e.bid.price);
        EXPECT_EQ(b.at("channel").get<std::string>(), e.bid.channel);
        EXPECT_EQ(b.at("url").get<std::string>(), e.bid.url);
        EXPECT_EQ(b.at("dateTime").get<std::int64_t>(), e.bid.date_time);
        break;
      }
    }
  }
  EXPECT_GT(seen[0], 0);
  EXPECT_GT(seen[1], 0);
  EXPECT_GT(seen[2], 0);
}

TEST(Json, StringsAreEscaped) {
  Person p;
  p.id = 7;
  p.name = "O\"Brien \\ the\nfirst\t\x01";
  p.city = "Zürich";
  const std::string line = to_json(Event::of(p));
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j.at("person").at("name").get<std::string>(), p.name);
  EXPECT_EQ(j.at("person").at("city").get<std::string>(), p.city);
}

TEST(Json, ResultRowsParseBack) {
  const auto q4 = nlohmann::json::parse(to_json(Q4Row{10, 4, 10}));
  EXPECT_EQ(q4.at("category").get<std::int64_t>(), 10);
  EXPECT_DOUBLE_EQ(q4.at("average").get<double>(), 2.5);
  const Q1Row q1{1, 2, dollars_to_euros(333), 4, "x"};
  const auto j1 = nlohmann::json::parse(to_json(q1));
  EXPECT_EQ(j1.at("price").get<double>(), q1.price);  // shortest form reads back exactly
  const auto q5 = nlohmann::json::parse(to_json(Q5Row{0, 10'000, 1001, 3}));
  EXPECT_EQ(keys(q5), (std::set<std::string>{"auction", "num", "starttime", "endtime"}));
  const auto q11 = nlohmann::json::parse(to_json(Q11Row{1001, 5, 10'005, 2}));
  EXPECT_EQ(keys(q11), (std::set<std::string>{"bidder", "bid_count", "starttime", "endtime"}));
  const auto q8 = nlohmann::json::parse(to_json(Q8Row{1000, "Kate \"K\"", 20'000}));
  EXPECT_EQ(q8.at("name").get<std::string>(), "Kate \"K\"");
}

}  // namespace
}  // namespace weft::nexmark
