#include "json.hpp"

#include <fmt/format.h>

#include <charconv>
#include <iterator>

namespace weft::nexmark {

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

JsonObject::JsonObject(std::string& out) : out_(out) {
  out_.push_back('{');
}

void JsonObject::next_key(std::string_view name) {
  if (!first_) out_.push_back(',');
  first_ = false;
  append_json_string(out_, name);
  out_.push_back(':');
}

JsonObject& JsonObject::field(std::string_view name, std::int64_t value) {
  next_key(name);
  char buf[24];
  out_.append(buf, std::to_chars(buf, buf + sizeof buf, value).ptr);
  return *this;
}

JsonObject& JsonObject::field(std::string_view name, double value) {
  next_key(name);
  // Shortest form that reads back as the same double.
  fmt::format_to(std::back_inserter(out_), "{}", value);
  return *this;
}

JsonObject& JsonObject::field(std::string_view name, std::string_view value) {
  next_key(name);
  append_json_string(out_, value);
  return *this;
}

JsonObject& JsonObject::key(std::string_view name) {
  next_key(name);
  return *this;
}

void JsonObject::close() {
  if (open_) out_.push_back('}');
  open_ = false;
}

void append_json(std::string& out, const Event& e) {
  JsonObject outer(out);
  switch (e.kind) {
    case EventKind::person: {
      const Person& p = e.person;
      outer.key("person");
      JsonObject(out)
          .field("id", p.id)
          .field("name", p.name)
          .field("emailAddress", p.email_address)
          .field("creditCard", p.credit_card)
          .field("city", p.city)
          .field("state", p.state)
          .field("dateTime", p.date_time)
          .field("extra", p.extra);
      break;
    }
    case EventKind::auction: {
      const Auction& a = e.auction;
      outer.key("auction");
      JsonObject(out)
          .field("id", a.id)
          .field("itemName", a.item_name)
          .field("description", a.description)
          .field("initialBid", a.initial_bid)
          .field("reserve", a.reserve)
          .field("dateTime", a.date_time)
          .field("expires", a.expires)
          .field("seller", a.seller)
          .field("category", a.category)
          .field("extra", a.extra);
      break;
    }
    case EventKind::bid: {
      const Bid& b = e.bid;
      outer.key("bid");
      JsonObject(out)
          .field("auction", b.auction)
          .field("bidder", b.bidder)
          .field("price", b.price)
          .field("channel", b.channel)
          .field("url", b.url)
          .field("dateTime", b.date_time)
          .field("extra", b.extra);
      break;
    }
  }
}

std::string to_json(const Event& e) {
  std::string out;
  append_json(out, e);
  return out;
}

}  // namespace weft::nexmark
