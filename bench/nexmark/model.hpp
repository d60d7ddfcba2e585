// The Nexmark data model: people, auctions and bids of an online auction house.
// Field names and meanings follow Beam's and Flink's Nexmark; times are int64 milliseconds
// since the Unix epoch. docs/nexmark.md describes the generator that produces them.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace weft::nexmark {

struct Person {
  std::int64_t id = 0;
  std::string name;
  std::string email_address;
  std::string credit_card;
  std::string city;
  std::string state;
  std::int64_t date_time = 0;
  std::string extra;

  friend auto operator<=>(const Person&, const Person&) = default;
};

struct Auction {
  std::int64_t id = 0;
  std::string item_name;
  std::string description;
  std::int64_t initial_bid = 0;
  std::int64_t reserve = 0;
  std::int64_t date_time = 0;
  std::int64_t expires = 0;
  std::int64_t seller = 0;
  std::int64_t category = 0;
  std::string extra;

  friend auto operator<=>(const Auction&, const Auction&) = default;
};

struct Bid {
  std::int64_t auction = 0;
  std::int64_t bidder = 0;
  std::int64_t price = 0;  // in cents
  std::string channel;
  std::string url;
  std::int64_t date_time = 0;
  std::string extra;

  friend auto operator<=>(const Bid&, const Bid&) = default;
};

enum class EventKind : std::uint8_t { person, auction, bid };

/// One generated event: `kind` says which of the three members is current; the other two hold
/// whatever an earlier event left there. A tagged struct rather than a variant so that
/// `Generator::next` overwrites the strings of the same kind in place and, once their capacity
/// has grown, never allocates (bench/nexmark/generator.hpp). Consumers dispatch on `kind` and
/// copy or move only the current member.
struct Event {
  EventKind kind = EventKind::bid;
  std::int64_t timestamp = 0;  // event time, ms since the epoch; equals the member's date_time
  Person person;
  Auction auction;
  Bid bid;

  static Event of(Person p) {
    Event e;
    e.kind = EventKind::person;
    e.timestamp = p.date_time;
    e.person = std::move(p);
    return e;
  }
  static Event of(Auction a) {
    Event e;
    e.kind = EventKind::auction;
    e.timestamp = a.date_time;
    e.auction = std::move(a);
    return e;
  }
  static Event of(Bid b) {
    Event e;
    e.kind = EventKind::bid;
    e.timestamp = b.date_time;
    e.bid = std::move(b);
    return e;
  }
};

/// A copy that holds only the current member, the others empty: what to keep when storing
/// events, since a generated Event's other members still hold strings of earlier events.
Event stored_copy(const Event& e);

/// Events are equal when their kinds, timestamps and current members are; stale members of
/// other kinds do not count.
bool operator==(const Event& a, const Event& b);

/// The idealized size in bytes that the generator pads each event towards (8 per number plus
/// the string lengths, counted as Beam counts them): averages 200 / 500 / 100 bytes for
/// person / auction / bid with the default configuration.
std::size_t idealized_size(const Event& e);

}  // namespace weft::nexmark
