#include "model.hpp"

namespace weft::nexmark {

Event stored_copy(const Event& e) {
  switch (e.kind) {
    case EventKind::person:
      return Event::of(e.person);
    case EventKind::auction:
      return Event::of(e.auction);
    case EventKind::bid:
      break;
  }
  return Event::of(e.bid);
}

bool operator==(const Event& a, const Event& b) {
  if (a.kind != b.kind || a.timestamp != b.timestamp) return false;
  switch (a.kind) {
    case EventKind::person:
      return a.person == b.person;
    case EventKind::auction:
      return a.auction == b.auction;
    case EventKind::bid:
      return a.bid == b.bid;
  }
  return false;
}

std::size_t idealized_size(const Event& e) {
  switch (e.kind) {
    case EventKind::person: {
      const Person& p = e.person;
      return 8 + p.name.size() + p.email_address.size() + p.credit_card.size() + p.city.size() +
             p.state.size() + p.extra.size();
    }
    case EventKind::auction:
      return 8 + e.auction.item_name.size() + e.auction.description.size() + 8 * 5 +
             e.auction.extra.size();
    case EventKind::bid:
      return 8 * 4 + e.bid.extra.size();
  }
  return 0;
}

}  // namespace weft::nexmark
