#include "queries.hpp"

#include "json.hpp"

namespace weft::nexmark {

std::string to_json(const Bid& r) {
  std::string out;
  JsonObject(out)
      .field("auction", r.auction)
      .field("bidder", r.bidder)
      .field("price", r.price)
      .field("channel", r.channel)
      .field("url", r.url)
      .field("dateTime", r.date_time)
      .field("extra", r.extra);
  return out;
}

std::string to_json(const Q1Row& r) {
  std::string out;
  JsonObject(out)
      .field("auction", r.auction)
      .field("bidder", r.bidder)
      .field("price", r.price)
      .field("dateTime", r.date_time)
      .field("extra", r.extra);
  return out;
}

std::string to_json(const Q2Row& r) {
  std::string out;
  JsonObject(out).field("auction", r.auction).field("price", r.price);
  return out;
}

std::string to_json(const Q3Row& r) {
  std::string out;
  JsonObject(out)
      .field("name", r.name)
      .field("city", r.city)
      .field("state", r.state)
      .field("id", r.id);
  return out;
}

std::string to_json(const Q4Row& r) {
  std::string out;
  JsonObject(out)
      .field("category", r.category)
      .field("average", r.average())
      .field("auctions", r.auctions)
      .field("total", r.total);
  return out;
}

std::string to_json(const Q5Row& r) {
  std::string out;
  JsonObject(out)
      .field("auction", r.auction)
      .field("num", r.count)
      .field("starttime", r.window_start)
      .field("endtime", r.window_end);
  return out;
}

std::string to_json(const Q7Row& r) {
  std::string out;
  JsonObject(out)
      .field("auction", r.auction)
      .field("bidder", r.bidder)
      .field("price", r.price)
      .field("dateTime", r.date_time)
      .field("extra", r.extra)
      .field("starttime", r.window_start)
      .field("endtime", r.window_end);
  return out;
}

std::string to_json(const Q8Row& r) {
  std::string out;
  JsonObject(out).field("id", r.id).field("name", r.name).field("stime", r.window_start);
  return out;
}

std::string to_json(const Q11Row& r) {
  std::string out;
  JsonObject(out)
      .field("bidder", r.bidder)
      .field("bid_count", r.bid_count)
      .field("starttime", r.session_start)
      .field("endtime", r.session_end);
  return out;
}

}  // namespace weft::nexmark
