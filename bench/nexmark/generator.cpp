#include "generator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace weft::nexmark {

namespace {

// Beam's lists; states stay upper case because q3 filters on 'OR', 'ID' and 'CA'.
constexpr std::array<std::string_view, 6> us_states = {"AZ", "CA", "ID", "OR", "WA", "WY"};
constexpr std::array<std::string_view, 10> us_cities = {
    "Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland",
    "Bend",    "Redmond",     "Seattle",       "Kent",  "Cheyenne"};
constexpr std::array<std::string_view, 11> first_names = {
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"};
constexpr std::array<std::string_view, 9> last_names = {
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"};
constexpr std::array<std::string_view, 4> hot_channels = {"Google", "Facebook", "Baidu", "Apple"};

constexpr std::int64_t person_id_lead = 10;   // people not generated yet that bids may name
constexpr std::int64_t auction_id_lead = 10;  // auctions not generated yet that bids may name
constexpr std::int64_t hot_group = 100;       // hot sellers/bidders/auctions: 1 in each 100
constexpr std::uint64_t num_channels = 10'000;
constexpr std::uint64_t min_string_length = 3;

// SplitMix64 seeded by the event id. Beam seeds java.util.Random with the id, but that LCG's
// first outputs for consecutive seeds are nearly equal (its first nextInt(2) repeats for runs of
// thousands of ids); SplitMix64 mixes every draw, is as small, and costs a few cycles.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, bound) by multiply-shift; the bias (bound / 2^64) is far below anything a
  // benchmark could notice.
  std::uint64_t below(std::uint64_t bound) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * bound) >> 64);
  }

  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

// 13 × 26 symbols: one in 13 is a space, as in Beam's nextString, the rest letters.
constexpr std::size_t num_spaced = 13 * 26;
constexpr std::array<char, num_spaced> spaced_letters = [] {
  std::array<char, num_spaced> t{};
  for (std::size_t i = 0; i < num_spaced; ++i) {
    t[i] = i < 26 ? ' ' : static_cast<char>('a' + i % 26);
  }
  return t;
}();

std::size_t slice(std::uint64_t word, int k, std::size_t range) {
  return static_cast<std::size_t>((((word >> (16 * k)) & 0xffffu) * range) >> 16);
}

// Sixteen random letters from four draws: each 16-bit slice scaled to 0..25 by a multiply-high.
// Padding strings are most of the generator's output bytes, so this is its hottest loop; left to
// the compiler it vectorized in one build and went through the stack in another (2x slower), so
// the SSE2 version is spelled out. Both versions produce the same letters.
void sixteen_letters(char* out, Rng& rng) {
  std::array<std::uint64_t, 4> words;
  for (auto& w : words) w = rng.next();
#if defined(__SSE2__)
  const __m128i lo =
      _mm_set_epi64x(static_cast<long long>(words[1]), static_cast<long long>(words[0]));
  const __m128i hi =
      _mm_set_epi64x(static_cast<long long>(words[3]), static_cast<long long>(words[2]));
  const __m128i scale = _mm_set1_epi16(26);
  const __m128i letters = _mm_packus_epi16(_mm_mulhi_epu16(lo, scale), _mm_mulhi_epu16(hi, scale));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_add_epi8(letters, _mm_set1_epi8('a')));
#else
  for (std::size_t i = 0; i < 16; ++i) {
    const std::uint32_t slice16 = (words[i / 4] >> (16 * (i % 4))) & 0xffffu;
    out[i] = static_cast<char>('a' + ((slice16 * 26) >> 16));
  }
#endif
}

void fill_letters(char* out, std::size_t n, Rng& rng) {
  for (; n >= 16; n -= 16, out += 16) sixteen_letters(out, rng);
  if (n == 0) return;
  char tail[16];
  sixteen_letters(tail, rng);
  std::copy_n(tail, n, out);
}

// Exactly n random letters (Beam's nextExactString).
void exact_string(std::string& s, std::size_t n, Rng& rng) {
  s.resize_and_overwrite(n, [&](char* p, std::size_t) {
    fill_letters(p, n, rng);
    return n;
  });
}

// Appends 3..max-1 letters with occasional spaces, trimmed (Beam's nextString).
void append_spaced_string(std::string& s, std::size_t max, Rng& rng) {
  const std::size_t old = s.size();
  const std::size_t len = min_string_length + rng.below(max - min_string_length);
  s.resize_and_overwrite(old + len, [&](char* all, std::size_t) {
    char* p = all + old;
    std::uint64_t r = 0;
    for (std::size_t i = 0; i < len; ++i) {
      if (i % 4 == 0) r = rng.next();
      p[i] = spaced_letters[slice(r, static_cast<int>(i % 4), num_spaced)];
    }
    std::size_t begin = 0;
    std::size_t end = len;
    while (begin < end && p[begin] == ' ') ++begin;
    while (end > begin && p[end - 1] == ' ') --end;
    if (begin > 0) std::memmove(p, p + begin, end - begin);
    return old + end - begin;
  });
}

void spaced_string(std::string& s, std::size_t max, Rng& rng) {
  s.clear();
  append_spaced_string(s, max, rng);
}

// Padding so that current + padding averages `average` (Beam's nextExtra): uniform within
// ±20% of the shortfall.
void extra_string(std::string& s, std::size_t current, std::size_t average, Rng& rng) {
  if (current > average) {
    s.clear();
    return;
  }
  const std::size_t wanted = average - current;
  const std::size_t delta = (wanted + 2) / 5;  // round(0.2 * wanted): there are no ties
  const std::size_t size = wanted - delta + (delta == 0 ? 0 : rng.below(2 * delta));
  exact_string(s, size, rng);
}

// Prices in cents spread log-uniformly over $1 .. $1,000,000 (Beam's 10^(6u) * 100).
std::int64_t next_price(Rng& rng) {
  constexpr double six_ln10 = 13.815510557964274;
  return static_cast<std::int64_t>(std::exp(rng.unit() * six_ln10) * 100.0 + 0.5);
}

void credit_card(std::string& s, Rng& rng) {
  s.resize_and_overwrite(19, [&](char* p, std::size_t) {
    for (int group = 0; group < 4; ++group) {
      auto v = static_cast<unsigned>(rng.below(10'000));
      char* g = p + 5 * group;
      for (int d = 3; d >= 0; --d) {
        g[d] = static_cast<char>('0' + v % 10);
        v /= 10;
      }
      if (group < 3) g[4] = ' ';
    }
    return std::size_t{19};
  });
}

// Writes the url of a channel: "https://www.nexmark.com/<a>/<b>/<c>/item.htm?query=1", each
// part 3 or 4 letters ('_' for the occasional space), plus "&channel_id=<n>" for 9 in 10 ordinary
// channels, all drawn from the channel number alone. Made on the fly: nexmark-rs keeps a table
// of 10,000 urls, which here missed the cache on every bid (a quarter of the generator's time).
void channel_url(std::string& s, std::uint64_t channel, bool ordinary) {
  constexpr std::string_view prefix = "https://www.nexmark.com";
  constexpr std::string_view suffix = "/item.htm?query=1";
  constexpr std::string_view id_key = "&channel_id=";
  constexpr std::size_t max_size = prefix.size() + 3 * 5 + suffix.size() + id_key.size() + 20;
  Rng rng(channel ^ 0x6e65786d61726b00ULL);  // "nexmark\0": apart from the events' draws
  s.resize_and_overwrite(max_size, [&](char* p, std::size_t) {
    char* o = std::copy(prefix.begin(), prefix.end(), p);
    for (int part = 0; part < 3; ++part) {
      const std::uint64_t r = rng.next();
      *o++ = '/';
      const int len = 3 + static_cast<int>(r >> 63);
      for (int k = 0; k < len; ++k) {
        const char c = spaced_letters[slice(r, k, num_spaced)];
        *o++ = c == ' ' ? '_' : c;
      }
    }
    o = std::copy(suffix.begin(), suffix.end(), o);
    if (ordinary && rng.below(10) > 0) {
      o = std::copy(id_key.begin(), id_key.end(), o);
      o = std::to_chars(o, p + max_size, (channel * 2654435761ULL) % 1'000'003).ptr;
    }
    return static_cast<std::size_t>(o - p);
  });
}

void channel_name(std::string& s, std::uint64_t channel) {
  constexpr std::string_view prefix = "channel-";
  s.resize_and_overwrite(prefix.size() + 20, [&](char* p, std::size_t n) {
    char* o = std::copy(prefix.begin(), prefix.end(), p);
    return static_cast<std::size_t>(std::to_chars(o, p + n, channel).ptr - p);
  });
}

const std::array<std::string, hot_channels.size()>& hot_channel_urls() {
  static const std::array<std::string, hot_channels.size()> urls = [] {
    std::array<std::string, hot_channels.size()> u;
    for (std::size_t i = 0; i < u.size(); ++i) channel_url(u[i], num_channels + i, false);
    return u;
  }();
  return urls;
}

}  // namespace

Result<void> validate(const GeneratorConfig& c) {
  auto bad = [](std::string what) {
    return fail(Errc::invalid_argument, "nexmark generator config: " + std::move(what));
  };
  if (!(c.first_event_rate > 0) || !std::isfinite(c.first_event_rate)) {
    return bad(
        fmt::format("first_event_rate must be a positive number, got {}", c.first_event_rate));
  }
  if (c.out_of_order_group_size == 0) return bad("out_of_order_group_size must be at least 1");
  if (c.person_proportion == 0 || c.auction_proportion == 0) {
    return bad("person_proportion and auction_proportion must be at least 1");
  }
  if (c.hot_auction_ratio == 0 || c.hot_sellers_ratio == 0 || c.hot_bidders_ratio == 0 ||
      c.hot_channels_ratio == 0) {
    return bad("hot ratios must be at least 1");
  }
  if (c.num_active_people == 0) return bad("num_active_people must be at least 1");
  if (c.first_event_id < 0) return bad("first_event_id must not be negative");
  return {};
}

Generator::Generator(const GeneratorConfig& config, std::uint64_t first_index, std::uint64_t stride)
    : config_(config),
      index_(first_index),
      stride_(stride),
      total_proportion_(static_cast<std::int64_t>(config.person_proportion) +
                        config.auction_proportion + config.bid_proportion),
      delay_us_(config.inter_event_delay_us()),
      events_for_auctions_(static_cast<std::uint64_t>(config.num_in_flight_auctions) *
                           static_cast<std::uint64_t>(total_proportion_) /
                           std::max<std::uint32_t>(config.auction_proportion, 1)) {
  if (auto ok = validate(config); !ok) throw std::invalid_argument(ok.error().message());
  if (stride == 0) throw std::invalid_argument("nexmark generator: stride must be at least 1");
  hot_channel_urls();  // built here rather than inside the first timed next()
}

std::uint64_t Generator::event_number(std::uint64_t index) const {
  // Beam's out-of-order groups: within each group of g positions the event numbers are
  // permuted by multiplying with the prime 953 (a permutation unless g is a multiple of 953).
  const std::uint64_t g = config_.out_of_order_group_size;
  if (g == 1) return index;
  return index / g * g + (index * 953) % g;
}

std::int64_t Generator::timestamp_for(std::uint64_t event_number) const {
  return config_.base_time +
         static_cast<std::int64_t>(static_cast<double>(event_number) * delay_us_) / 1000;
}

std::int64_t Generator::timestamp_at(std::uint64_t index) const {
  return timestamp_for(event_number(index));
}

std::int64_t Generator::watermark() const {
  const std::uint64_t g = config_.out_of_order_group_size;
  return timestamp_for(index_ / g * g);
}

bool Generator::next(Event& e) {
  if (config_.max_events != 0 && index_ >= config_.max_events) return false;
  event_at(index_, e);
  index_ += stride_;
  return true;
}

void Generator::event_at(std::uint64_t index, Event& e) const {
  const std::uint64_t number = event_number(index);
  const std::int64_t id = config_.first_event_id + static_cast<std::int64_t>(number);
  const std::int64_t ts = timestamp_for(number);
  // One division per event: the proportions are configurable, so it is not by a constant.
  const std::int64_t epoch = id / total_proportion_;
  const std::int64_t rem = id % total_proportion_;
  const std::int64_t persons = config_.person_proportion;
  const std::int64_t auctions = config_.auction_proportion;
  // Beam's lastBase0PersonId and lastBase0AuctionId: the newest person and auction at `id`.
  Position at{id, epoch * persons + std::min(rem, persons - 1), 0};
  e.timestamp = ts;
  if (rem < persons) {
    e.kind = EventKind::person;
    at.last_auction = (epoch - 1) * auctions + auctions - 1;
    person(at, ts, e.person);
  } else if (rem < persons + auctions) {
    e.kind = EventKind::auction;
    at.last_auction = epoch * auctions + rem - persons;
    auction(number, at, ts, e.auction);
  } else {
    e.kind = EventKind::bid;
    at.last_auction = epoch * auctions + auctions - 1;
    bid(at, ts, e.bid);
  }
}

namespace {

// A random person among the active ones, or a few not generated yet (Beam's nextBase0PersonId).
std::int64_t some_person(std::int64_t last_person, std::int64_t active_people, Rng& rng) {
  const std::int64_t people = last_person + 1;
  const std::int64_t active = std::min(people, active_people);
  return people - active + static_cast<std::int64_t>(rng.below(active + person_id_lead));
}

}  // namespace

void Generator::person(const Position& at, std::int64_t ts, Person& p) const {
  Rng rng(static_cast<std::uint64_t>(at.event_id));
  p.id = at.last_person + first_person_id;
  p.name.assign(first_names[rng.below(first_names.size())]);
  p.name.push_back(' ');
  p.name.append(last_names[rng.below(last_names.size())]);
  spaced_string(p.email_address, 7, rng);
  p.email_address.push_back('@');
  append_spaced_string(p.email_address, 5, rng);
  p.email_address.append(".com");
  credit_card(p.credit_card, rng);
  p.city.assign(us_cities[rng.below(us_cities.size())]);
  p.state.assign(us_states[rng.below(us_states.size())]);
  p.date_time = ts;
  const std::size_t current = 8 + p.name.size() + p.email_address.size() + p.credit_card.size() +
                              p.city.size() + p.state.size();
  extra_string(p.extra, current, config_.avg_person_byte_size, rng);
}

void Generator::auction(std::uint64_t event_number, const Position& at, std::int64_t ts,
                        Auction& a) const {
  Rng rng(static_cast<std::uint64_t>(at.event_id));
  a.id = at.last_auction + first_auction_id;
  if (rng.below(config_.hot_sellers_ratio) > 0) {
    a.seller = at.last_person / hot_group * hot_group;
  } else {
    a.seller = some_person(at.last_person, config_.num_active_people, rng);
  }
  a.seller += first_person_id;
  a.category = first_category_id + static_cast<std::int64_t>(rng.below(num_categories));
  a.initial_bid = next_price(rng);
  // Auctions last on average until num_in_flight_auctions more auctions have been generated.
  const std::int64_t horizon = timestamp_for(event_number + events_for_auctions_) - ts;
  a.expires = ts + 1 +
              static_cast<std::int64_t>(
                  rng.below(static_cast<std::uint64_t>(std::max<std::int64_t>(horizon * 2, 1))));
  spaced_string(a.item_name, 20, rng);
  spaced_string(a.description, 100, rng);
  a.reserve = a.initial_bid + next_price(rng);
  a.date_time = ts;
  const std::size_t current = 8 + a.item_name.size() + a.description.size() + 8 * 5;
  extra_string(a.extra, current, config_.avg_auction_byte_size, rng);
}

void Generator::bid(const Position& at, std::int64_t ts, Bid& b) const {
  Rng rng(static_cast<std::uint64_t>(at.event_id));
  if (rng.below(config_.hot_auction_ratio) > 0) {
    b.auction = at.last_auction / hot_group * hot_group;
  } else {
    const std::int64_t max_auction = at.last_auction;
    const std::int64_t min_auction =
        std::max<std::int64_t>(max_auction - config_.num_in_flight_auctions, 0);
    b.auction = min_auction + static_cast<std::int64_t>(
                                  rng.below(max_auction - min_auction + 1 + auction_id_lead));
  }
  b.auction += first_auction_id;
  if (rng.below(config_.hot_bidders_ratio) > 0) {
    // The second person of the group, so that hot bidders are not also the hot sellers.
    b.bidder = at.last_person / hot_group * hot_group + 1;
  } else {
    b.bidder = some_person(at.last_person, config_.num_active_people, rng);
  }
  b.bidder += first_person_id;
  b.price = next_price(rng);
  if (rng.below(config_.hot_channels_ratio) > 0) {
    const std::size_t i = rng.below(hot_channels.size());
    b.channel.assign(hot_channels[i]);
    b.url.assign(hot_channel_urls()[i]);
  } else {
    const std::uint64_t channel = rng.below(num_channels);
    channel_name(b.channel, channel);
    channel_url(b.url, channel, true);
  }
  b.date_time = ts;
  extra_string(b.extra, 8 * 4, config_.avg_bid_byte_size, rng);
}

}  // namespace weft::nexmark
