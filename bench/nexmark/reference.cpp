#include "reference.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

namespace weft::nexmark::reference {

namespace {

template <class Row>
std::vector<Row> sorted(std::vector<Row> rows) {
  std::sort(rows.begin(), rows.end());
  return rows;
}

template <class F>
void for_each_bid(std::span<const Event> events, F&& f) {
  for (const Event& e : events) {
    if (e.kind == EventKind::bid) f(e.bid);
  }
}

}  // namespace

std::vector<Q0Row> q0(std::span<const Event> events) {
  std::vector<Q0Row> rows;
  for_each_bid(events, [&](const Bid& b) { rows.push_back(b); });
  return sorted(std::move(rows));
}

std::vector<Q1Row> q1(std::span<const Event> events) {
  std::vector<Q1Row> rows;
  for_each_bid(events, [&](const Bid& b) {
    rows.push_back({b.auction, b.bidder, dollars_to_euros(b.price), b.date_time, b.extra});
  });
  return sorted(std::move(rows));
}

std::vector<Q2Row> q2(std::span<const Event> events) {
  std::vector<Q2Row> rows;
  for_each_bid(events, [&](const Bid& b) {
    if (b.auction % q2_auction_modulus == 0) rows.push_back({b.auction, b.price});
  });
  return sorted(std::move(rows));
}

std::vector<Q3Row> q3(std::span<const Event> events) {
  std::unordered_multimap<std::int64_t, const Person*> sellers;
  for (const Event& e : events) {
    if (e.kind != EventKind::person) continue;
    const std::string& s = e.person.state;
    if (s == "OR" || s == "ID" || s == "CA") sellers.emplace(e.person.id, &e.person);
  }
  std::vector<Q3Row> rows;
  for (const Event& e : events) {
    if (e.kind != EventKind::auction || e.auction.category != 10) continue;
    auto [begin, end] = sellers.equal_range(e.auction.seller);
    for (auto it = begin; it != end; ++it) {
      const Person& p = *it->second;
      rows.push_back({p.name, p.city, p.state, e.auction.id});
    }
  }
  return sorted(std::move(rows));
}

std::vector<Q4Row> q4(std::span<const Event> events) {
  std::unordered_multimap<std::int64_t, const Auction*> auctions;
  for (const Event& e : events) {
    if (e.kind == EventKind::auction) auctions.emplace(e.auction.id, &e.auction);
  }
  // The winning (highest) price per (auction id, category), over bids inside the auction's life.
  std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> winning;
  for_each_bid(events, [&](const Bid& b) {
    auto [begin, end] = auctions.equal_range(b.auction);
    for (auto it = begin; it != end; ++it) {
      const Auction& a = *it->second;
      if (b.date_time < a.date_time || b.date_time > a.expires) continue;
      auto [slot, fresh] = winning.try_emplace({a.id, a.category}, b.price);
      if (!fresh) slot->second = std::max(slot->second, b.price);
    }
  });
  std::map<std::int64_t, Q4Row> per_category;
  for (const auto& [key, price] : winning) {
    Q4Row& row = per_category[key.second];
    row.category = key.second;
    row.auctions += 1;
    row.total += price;
  }
  std::vector<Q4Row> rows;
  for (auto& [category, row] : per_category) rows.push_back(row);
  return sorted(std::move(rows));
}

std::vector<Q5Row> q5(std::span<const Event> events) {
  // Bid counts per (window start, auction) over every sliding window holding the bid.
  std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> counts;
  for_each_bid(events, [&](const Bid& b) {
    for (std::int64_t start = window_start(b.date_time, q5_slide_ms);
         start > b.date_time - q5_window_ms; start -= q5_slide_ms) {
      ++counts[{start, b.auction}];
    }
  });
  std::map<std::int64_t, std::int64_t> most;
  for (const auto& [key, n] : counts) most[key.first] = std::max(most[key.first], n);
  std::vector<Q5Row> rows;
  for (const auto& [key, n] : counts) {
    if (n == most[key.first]) rows.push_back({key.first, key.first + q5_window_ms, key.second, n});
  }
  return sorted(std::move(rows));
}

std::vector<Q7Row> q7(std::span<const Event> events) {
  std::map<std::int64_t, std::int64_t> highest;
  for_each_bid(events, [&](const Bid& b) {
    const std::int64_t start = window_start(b.date_time, q7_window_ms);
    auto [slot, fresh] = highest.try_emplace(start, b.price);
    if (!fresh) slot->second = std::max(slot->second, b.price);
  });
  std::vector<Q7Row> rows;
  for_each_bid(events, [&](const Bid& b) {
    const std::int64_t start = window_start(b.date_time, q7_window_ms);
    if (b.price == highest.at(start)) {
      rows.push_back(
          {start, start + q7_window_ms, b.auction, b.bidder, b.price, b.date_time, b.extra});
    }
  });
  return sorted(std::move(rows));
}

std::vector<Q8Row> q8(std::span<const Event> events) {
  std::set<std::tuple<std::int64_t, std::int64_t, std::string>> people;  // (window, id, name)
  std::set<std::pair<std::int64_t, std::int64_t>> sellers;               // (window, seller)
  for (const Event& e : events) {
    if (e.kind == EventKind::person) {
      people.emplace(window_start(e.person.date_time, q8_window_ms), e.person.id, e.person.name);
    } else if (e.kind == EventKind::auction) {
      sellers.emplace(window_start(e.auction.date_time, q8_window_ms), e.auction.seller);
    }
  }
  std::vector<Q8Row> rows;
  for (const auto& [start, id, name] : people) {
    if (sellers.contains({start, id})) rows.push_back({id, name, start});
  }
  return sorted(std::move(rows));
}

std::vector<Q11Row> q11(std::span<const Event> events) {
  std::map<std::int64_t, std::vector<std::int64_t>> times;  // per bidder
  for_each_bid(events, [&](const Bid& b) { times[b.bidder].push_back(b.date_time); });
  std::vector<Q11Row> rows;
  for (auto& [bidder, ts] : times) {
    std::sort(ts.begin(), ts.end());
    Q11Row session{bidder, ts.front(), ts.front() + q11_session_gap_ms, 1};
    for (std::size_t i = 1; i < ts.size(); ++i) {
      // A bid at most one gap after the previous one continues the session: Flink merges
      // session windows [t, t + gap) that touch.
      if (ts[i] <= ts[i - 1] + q11_session_gap_ms) {
        ++session.bid_count;
        session.session_end = ts[i] + q11_session_gap_ms;
      } else {
        rows.push_back(session);
        session = {bidder, ts[i], ts[i] + q11_session_gap_ms, 1};
      }
    }
    rows.push_back(session);
  }
  return sorted(std::move(rows));
}

}  // namespace weft::nexmark::reference
