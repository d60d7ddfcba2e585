#include "weft/persistence/integrity_journal.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <limits>
#include <list>
#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "persistence/integrity_codec.hpp"

namespace weft::persistence {

namespace codec = integrity_codec;

namespace {

constexpr Mac kChainStart{};

Error chain_break(const std::string& pid, std::uint64_t seq, const std::string& reason) {
  return Error(Errc::corrupted, "integrity: the chain of '" + pid + "' is broken at sequence " +
                                    std::to_string(seq) + ": " + reason);
}

bool same(const Mac& a, const Mac& b) {
  return constant_time_equal(a, b);
}

struct Known {
  std::uint64_t sequence_nr = 0;
  Mac mac{};
};

/// What is remembered of a persistence id: the MAC of the last event appended and of the last
/// event a read verified (the next page's link), and its data key.
struct PidEntry {
  std::optional<Known> head;
  std::optional<Known> cursor;
  std::optional<Key> data_key;
};

/// Least recently used entries go first once `capacity` is reached.
class PidCache {
 public:
  explicit PidCache(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

  PidEntry* find(const std::string& pid) {
    auto it = index_.find(pid);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }

  PidEntry& touch(const std::string& pid) {
    if (auto* e = find(pid)) return *e;
    if (index_.size() >= capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    order_.emplace_front(pid, PidEntry{});
    index_.emplace(pid, order_.begin());
    return order_.front().second;
  }

  void erase(const std::string& pid) {
    auto it = index_.find(pid);
    if (it == index_.end()) return;
    order_.erase(it->second);
    index_.erase(it);
  }

 private:
  std::size_t capacity_;
  std::list<std::pair<std::string, PidEntry>> order_;
  std::unordered_map<std::string, std::list<std::pair<std::string, PidEntry>>::iterator> index_;
};

template <class T>
Future<T> failed(Error e) {
  return make_ready_future<T>(std::unexpected(std::move(e)));
}

}  // namespace

struct IntegrityJournal::Impl {
  std::shared_ptr<Journal> inner;
  Key mac_key;
  ChainBreakPolicy policy;
  std::unique_ptr<KeyStore> key_store;

  mutable std::mutex mutex;
  PidCache cache;
  // The last event signed but not yet acknowledged, per id: an append issued before the
  // previous one completes chains to it (its predecessor is not readable yet).
  std::unordered_map<std::string, Known> in_flight;
  std::map<std::string, Error> quarantine;
  std::unordered_set<std::string> forgotten;

  // Journal callbacks in flight. The destructor waits for them instead of letting them keep
  // this (and the inner journal) alive: the last reference to a RocksDbJournal must not be
  // dropped on its own writer thread, where its callbacks run.
  std::size_t ops = 0;
  std::condition_variable idle;

  /// Held by every callback of one operation; the last one to finish releases it.
  class Op {
   public:
    explicit Op(Impl& impl) : impl_(impl) {
      std::lock_guard lock(impl_.mutex);
      ++impl_.ops;
    }
    ~Op() {
      // Notified under the lock: the destructor cannot return (and free `idle`) before.
      std::lock_guard lock(impl_.mutex);
      if (--impl_.ops == 0) impl_.idle.notify_all();
    }
    Op(const Op&) = delete;
    Op& operator=(const Op&) = delete;

   private:
    Impl& impl_;
  };
  using OpRef = std::shared_ptr<Op>;
  OpRef begin_op() { return std::make_shared<Op>(*this); }

  void wait_idle() {
    std::unique_lock lock(mutex);
    idle.wait(lock, [&] { return ops == 0; });
  }

  Impl(std::shared_ptr<Journal> j, const Key& master, IntegrityOptions& o)
      : inner(std::move(j)),
        mac_key(derive_key(master, "journal-mac")),
        policy(o.on_break),
        key_store(std::move(o.key_store)),
        cache(o.cache_entries) {}

  // ---- state checks ----

  bool is_forgotten(const std::string& pid) const {
    std::lock_guard lock(mutex);
    return forgotten.contains(pid);
  }

  bool is_quarantined(const std::string& pid) const {
    std::lock_guard lock(mutex);
    return quarantine.contains(pid);
  }

  std::optional<Error> quarantined(const std::string& pid) const {
    std::lock_guard lock(mutex);
    auto it = quarantine.find(pid);
    if (it == quarantine.end()) return std::nullopt;
    return Error(Errc::corrupted,
                 "integrity: persistence id '" + pid +
                     "' is quarantined (lift_quarantine to retry): " + it->second.message());
  }

  /// Applies the policy to a break found in `pid`; returns the error to report.
  Error broken(const std::string& pid, Error e) {
    if (e.code() != Errc::corrupted) return e;  // a wrong key is configuration, not damage
    if (policy == ChainBreakPolicy::quarantine) {
      bool added = false;
      {
        std::lock_guard lock(mutex);
        added = quarantine.emplace(pid, e).second;
      }
      // Logged once per id; with the fail policy the caller reports each failed read.
      if (added) spdlog::error("{}; persistence id '{}' quarantined", e.message(), pid);
    }
    return e;
  }

  std::optional<Mac> known_mac(const std::string& pid, std::uint64_t seq) {
    if (seq == 0) return kChainStart;
    std::lock_guard lock(mutex);
    auto* e = cache.find(pid);
    if (e == nullptr) return std::nullopt;
    if (e->head && e->head->sequence_nr == seq) return e->head->mac;
    if (e->cursor && e->cursor->sequence_nr == seq) return e->cursor->mac;
    return std::nullopt;
  }

  // ---- checking ----

  /// The event's own MAC (over its stored prev): detects any change to the event itself.
  Result<codec::MacField> check_event(const EventRecord& e, const std::string& pid) const {
    if (e.persistence_id != pid) {
      return std::unexpected(chain_break(
          pid, e.sequence_nr, "the journal returned an event of '" + e.persistence_id + "'"));
    }
    auto field = codec::decode(e.mac);
    if (!field) return std::unexpected(chain_break(pid, e.sequence_nr, field.error().message()));
    if (field->key_id != mac_key.id()) {
      return fail(Errc::invalid_argument,
                  "integrity: event " + std::to_string(e.sequence_nr) + " of '" + pid +
                      "' was signed with another key (MAC key id " + std::to_string(field->key_id) +
                      ", this journal's is " + std::to_string(mac_key.id()) +
                      "): is the master key the right one?");
    }
    if (!same(codec::compute_mac(mac_key, e, field->flags, field->prev), field->mac)) {
      return std::unexpected(
          chain_break(pid, e.sequence_nr, "its MAC does not match its contents (modified)"));
    }
    return field;
  }

  /// Where a walk along a chain is: the sequence number the next event must have (0: any)
  /// and the MAC it must link to (nullopt: accept its stored link, as for the first event
  /// after a deleted prefix).
  struct ChainPos {
    std::uint64_t next_seq = 0;
    std::optional<Mac> prev;
  };

  /// The event's own MAC and its link to the position; advances the position.
  Result<Mac> check_next(const EventRecord& e, const std::string& pid, ChainPos& pos) const {
    auto field = check_event(e, pid);
    if (!field) return std::unexpected(field.error());
    if (pos.next_seq != 0 && e.sequence_nr != pos.next_seq) {
      return std::unexpected(chain_break(pid, pos.next_seq,
                                         e.sequence_nr > pos.next_seq
                                             ? "the event is missing (the next one stored is " +
                                                   std::to_string(e.sequence_nr) + ")"
                                             : "events are out of order (" +
                                                   std::to_string(e.sequence_nr) + " follows " +
                                                   std::to_string(pos.next_seq - 1) + ")"));
    }
    if (e.sequence_nr == 1 && !same(field->prev, kChainStart)) {
      return std::unexpected(chain_break(pid, 1, "the first event does not start a chain"));
    }
    if (pos.prev && !same(field->prev, *pos.prev)) {
      return std::unexpected(chain_break(pid, e.sequence_nr,
                                         "it does not follow event " +
                                             std::to_string(e.sequence_nr - 1) +
                                             " (an event was replaced, inserted or removed)"));
    }
    pos.next_seq = e.sequence_nr + 1;
    pos.prev = field->mac;
    return field->mac;
  }

  /// A page along its chain from `prev`; returns the last event's MAC.
  Result<Mac> check_run(const std::vector<EventRecord>& events, const std::string& pid,
                        std::optional<Mac> prev) const {
    ChainPos pos{0, prev};
    Mac last{};
    for (const auto& e : events) {
      auto mac = check_next(e, pid, pos);
      if (!mac) return mac;
      last = *mac;
    }
    return last;
  }

  // ---- data keys ----

  /// nullopt if the id has no key (forgotten, or never encrypted).
  Result<std::optional<Key>> data_key(const std::string& pid, bool create) {
    {
      std::lock_guard lock(mutex);
      if (auto* e = cache.find(pid); e != nullptr && e->data_key) return e->data_key;
    }
    Result<std::optional<Key>> key = std::optional<Key>();
    if (create) {
      auto made = key_store->get_or_create(pid);
      if (!made) return std::unexpected(made.error());
      key = std::optional<Key>(std::move(*made));
    } else {
      key = key_store->find(pid);
    }
    if (!key || !*key) return key;
    std::lock_guard lock(mutex);
    if (!forgotten.contains(pid)) cache.touch(pid).data_key = **key;
    return key;
  }

  /// Replaces sealed payloads by their plaintext. Ok(false) if the id was forgotten meanwhile
  /// (the events must then not be returned).
  Result<bool> open_payloads(const std::string& pid, std::vector<EventRecord*> events) {
    std::optional<Key> key;
    thread_local std::vector<std::byte> aad;
    for (auto* e : events) {
      auto field = codec::decode(e->mac);
      if (!field || (field->flags & codec::kFlagEncrypted) == 0) continue;
      if (!key) {
        if (!key_store) {
          return fail(Errc::invalid_argument, "integrity: the events of '" + pid +
                                                  "' are encrypted but no key store is set");
        }
        auto k = data_key(pid, false);
        if (!k) return std::unexpected(k.error());
        if (!*k) {
          if (is_forgotten(pid)) return false;
          return fail(Errc::corrupted, "integrity: the key store has no data key for '" + pid +
                                           "', whose events are encrypted");
        }
        key = std::move(*k);
      }
      codec::payload_aad(aad, pid, e->sequence_nr);
      auto plain = aes_gcm_decrypt(*key, e->payload, aad);
      if (!plain) {
        return fail(Errc::corrupted, "integrity: the payload of '" + pid + "' at sequence " +
                                         std::to_string(e->sequence_nr) +
                                         " does not decrypt with its data key");
      }
      e->payload = std::move(*plain);
    }
    return true;
  }

  // ---- append ----

  void sign_and_append(AppendBatch batch, Mac prev, Promise<std::uint64_t> promise, OpRef op) {
    const std::string pid = batch.persistence_id;
    std::uint8_t flags = 0;
    if (key_store) {
      auto key = data_key(pid, true);
      if (!key) {
        promise.complete(std::unexpected(key.error()));
        return;
      }
      std::vector<std::byte> aad;
      for (auto& e : batch.events) {
        codec::payload_aad(aad, pid, e.sequence_nr);
        auto sealed = aes_gcm_encrypt(**key, e.payload, aad);
        if (!sealed) {
          promise.complete(std::unexpected(sealed.error()));
          return;
        }
        e.payload = std::move(*sealed);
      }
      flags |= codec::kFlagEncrypted;
    }
    for (auto& e : batch.events) {
      codec::MacField field{flags, mac_key.id(), prev, {}};
      field.mac = codec::compute_mac(mac_key, e, flags, prev);
      e.mac = codec::encode(field);
      prev = field.mac;
    }
    const Known signed_head{batch.events.back().sequence_nr, prev};
    {
      std::lock_guard lock(mutex);
      in_flight[pid] = signed_head;
    }
    inner->append(std::move(batch))
        .on_complete([self = this, op = std::move(op), pid, signed_head,
                      promise](const Result<std::uint64_t>& r) {
          {
            std::lock_guard lock(self->mutex);
            auto it = self->in_flight.find(pid);
            if (it != self->in_flight.end() && it->second.sequence_nr == signed_head.sequence_nr &&
                same(it->second.mac, signed_head.mac)) {
              self->in_flight.erase(it);
            }
            if (r && !self->forgotten.contains(pid)) self->cache.touch(pid).head = signed_head;
          }
          promise.complete(r);
        });
  }

  Future<std::uint64_t> append(AppendBatch batch) {
    const std::string pid = batch.persistence_id;
    if (is_forgotten(pid)) {
      return failed<std::uint64_t>(
          Error(Errc::invalid_argument, "persistence id '" + pid +
                                            "' was forgotten (crypto-shredded); it cannot be "
                                            "written again"));
    }
    if (auto q = quarantined(pid)) return failed<std::uint64_t>(*q);
    // Nothing to sign: the journal answers (and refuses) as it would.
    if (batch.events.empty()) return inner->append(std::move(batch));

    Promise<std::uint64_t> promise;
    auto future = promise.future();
    const std::uint64_t prev_seq =
        batch.expected_next_sequence_nr == 0 ? 0 : batch.expected_next_sequence_nr - 1;
    std::optional<Mac> prev;
    {
      std::lock_guard lock(mutex);
      if (auto it = in_flight.find(pid);
          it != in_flight.end() && it->second.sequence_nr == prev_seq) {
        prev = it->second.mac;
      }
    }
    if (!prev) prev = known_mac(pid, prev_seq);
    if (prev) {
      sign_and_append(std::move(batch), *prev, promise, begin_op());
      return future;
    }
    // Not cached: the predecessor's own MAC is checked before chaining to it. If it is gone
    // (every event deleted by delete_to) a new chain starts.
    inner->read(pid, prev_seq, prev_seq, 1)
        .on_complete([self = this, op = begin_op(), batch = std::move(batch), pid, prev_seq,
                      promise](const Result<std::vector<EventRecord>>& page) mutable {
          if (!page) {
            promise.complete(std::unexpected(page.error()));
            return;
          }
          Mac link = kChainStart;
          if (!page->empty() && page->front().sequence_nr == prev_seq) {
            auto field = self->check_event(page->front(), pid);
            if (!field) {
              promise.complete(std::unexpected(self->broken(pid, field.error())));
              return;
            }
            link = field->mac;
          }
          self->sign_and_append(std::move(batch), link, promise, std::move(op));
        });
    return future;
  }

  // ---- read ----

  /// The verified page: links its first event, opens payloads, remembers the last MAC.
  void finish_read(const std::string& pid, std::vector<EventRecord> events, Mac last,
                   const Promise<std::vector<EventRecord>>& promise) {
    std::vector<EventRecord*> all;
    for (auto& e : events) all.push_back(&e);
    auto opened = open_payloads(pid, std::move(all));
    if (!opened) {
      promise.complete(std::unexpected(broken(pid, opened.error())));
      return;
    }
    if (!*opened) {
      promise.complete(std::vector<EventRecord>{});
      return;
    }
    {
      std::lock_guard lock(mutex);
      if (!forgotten.contains(pid))
        cache.touch(pid).cursor = Known{events.back().sequence_nr, last};
    }
    promise.complete(std::move(events));
  }

  /// The first event's predecessor was neither cached nor requested: read it. If it is gone,
  /// the page is valid only if everything before it is gone too (a delete_to prefix).
  void link_first(const std::string& pid, std::vector<EventRecord> events, Mac last,
                  Promise<std::vector<EventRecord>> promise, OpRef op) {
    const std::uint64_t first = events.front().sequence_nr;
    inner->read(pid, first - 1, first - 1, 1)
        .on_complete([self = this, op = std::move(op), pid, events = std::move(events), last, first,
                      promise](const Result<std::vector<EventRecord>>& before) mutable {
          if (!before) {
            promise.complete(std::unexpected(before.error()));
            return;
          }
          if (!before->empty()) {
            // The page was checked already; only its first link is left.
            auto field = self->check_event(before->front(), pid);
            if (field) {
              ChainPos pos{first, field->mac};
              auto linked = self->check_next(events.front(), pid, pos);
              if (!linked) field = std::unexpected(linked.error());
            }
            if (!field) {
              promise.complete(std::unexpected(self->broken(pid, field.error())));
              return;
            }
            self->finish_read(pid, std::move(events), last, promise);
            return;
          }
          self->inner->read(pid, 1, first - 1, 1)
              .on_complete([self, op = std::move(op), pid, events = std::move(events), last, first,
                            promise](const Result<std::vector<EventRecord>>& older) mutable {
                if (!older) {
                  promise.complete(std::unexpected(older.error()));
                  return;
                }
                if (!older->empty()) {
                  promise.complete(std::unexpected(
                      self->broken(pid, chain_break(pid, first - 1,
                                                    "the event is missing while event " +
                                                        std::to_string(older->front().sequence_nr) +
                                                        " before it is stored (removed)"))));
                  return;
                }
                self->finish_read(pid, std::move(events), last, promise);
              });
        });
  }

  Future<std::vector<EventRecord>> read(const std::string& pid, std::uint64_t from,
                                        std::uint64_t to, std::size_t max_events) {
    using Out = std::vector<EventRecord>;
    if (is_forgotten(pid)) return make_ready_future<Out>(Out{});
    if (auto q = quarantined(pid)) return failed<Out>(*q);
    Promise<Out> promise;
    auto future = promise.future();
    inner->read(pid, from, to, max_events)
        .on_complete([self = this, op = begin_op(), pid, promise](const Result<Out>& page) {
          if (!page) {
            promise.complete(page);
            return;
          }
          if (page->empty() || self->is_forgotten(pid)) {
            promise.complete(Out{});
            return;
          }
          const std::uint64_t first = page->front().sequence_nr;
          auto prev = self->known_mac(pid, first - 1);
          // Without a known predecessor, the page is first checked on its own, then linked.
          auto last = self->check_run(*page, pid, prev);
          if (!last) {
            promise.complete(std::unexpected(self->broken(pid, last.error())));
            return;
          }
          if (prev) {
            self->finish_read(pid, *page, *last, promise);
          } else {
            self->link_first(pid, *page, *last, promise, op);
          }
        });
    return future;
  }

  // ---- events by tag ----

  struct TagFill {
    std::string tag;
    std::uint64_t after = 0;
    std::size_t max = 0;
    std::vector<TaggedEvent> out;
    Promise<std::vector<TaggedEvent>> promise;
    OpRef op;
  };

  /// Takes one inner page into `fill`; true if another page is needed (events were left out
  /// of a full page).
  bool absorb(TagFill& fill, Result<std::vector<TaggedEvent>> page, std::size_t asked) {
    if (!page) {
      fill.promise.complete(std::unexpected(page.error()));
      return false;
    }
    for (auto& te : *page) {
      fill.after = te.offset;
      const std::string& pid = te.event.persistence_id;  // last used before te moves
      if (is_forgotten(pid) || is_quarantined(pid)) continue;
      auto field = check_event(te.event, pid);
      if (!field) {
        auto e = broken(pid, field.error());
        if (policy == ChainBreakPolicy::quarantine && e.code() == Errc::corrupted) continue;
        fill.promise.complete(std::unexpected(e));
        return false;
      }
      auto opened = open_payloads(pid, {&te.event});
      if (!opened) {
        auto e = broken(pid, opened.error());
        if (policy == ChainBreakPolicy::quarantine && e.code() == Errc::corrupted) continue;
        fill.promise.complete(std::unexpected(e));
        return false;
      }
      if (*opened) fill.out.push_back(std::move(te));
    }
    if (page->size() < asked || fill.out.size() >= fill.max) {
      fill.promise.complete(std::move(fill.out));
      return false;
    }
    return true;
  }

  /// Loops while the journal answers at once, so refilling never grows the stack.
  void fill_tag(std::shared_ptr<TagFill> fill) {
    for (;;) {
      const std::size_t asked = fill->max - fill->out.size();
      auto page = inner->events_by_tag(fill->tag, fill->after, asked);
      if (!page.is_ready()) {
        page.on_complete([self = this, fill, asked](const Result<std::vector<TaggedEvent>>& r) {
          if (self->absorb(*fill, r, asked)) self->fill_tag(fill);
        });
        return;
      }
      if (!absorb(*fill, std::move(page).take(), asked)) return;
    }
  }

  // ---- verify ----

  Result<VerifyReport> verify(const std::string& pid,
                              const std::function<void(const VerifyProgress&)>& progress,
                              std::size_t page_size) {
    VerifyReport report;
    report.persistence_id = pid;
    auto highest = inner->highest_sequence_nr(pid).get();
    if (!highest) return std::unexpected(highest.error());
    page_size = std::max<std::size_t>(page_size, 1);
    ChainPos pos;  // the first stored event keeps its own link (a deleted prefix)
    std::uint64_t from = 1;
    for (;;) {
      auto page =
          inner->read(pid, from, std::numeric_limits<std::uint64_t>::max(), page_size).get();
      if (!page) return std::unexpected(page.error());
      if (page->empty()) break;
      if (report.first_sequence_nr == 0) report.first_sequence_nr = page->front().sequence_nr;
      for (const auto& e : *page) {
        auto mac = check_next(e, pid, pos);
        if (!mac) {
          report.first_break = mac.error();
          return report;
        }
        report.last_sequence_nr = e.sequence_nr;
        ++report.events_checked;
      }
      if (progress) {
        progress(VerifyProgress{pid, report.events_checked, report.last_sequence_nr, *highest});
      }
      if (page->size() < page_size) break;
      from = report.last_sequence_nr + 1;
    }
    if (report.last_sequence_nr != 0 && report.last_sequence_nr < *highest) {
      report.first_break =
          chain_break(pid, report.last_sequence_nr + 1,
                      "events " + std::to_string(report.last_sequence_nr + 1) + ".." +
                          std::to_string(*highest) +
                          " are missing at the tail (the journal's highest sequence number is " +
                          std::to_string(*highest) + ")");
    }
    return report;
  }
};

Result<std::unique_ptr<IntegrityJournal>> IntegrityJournal::open(std::shared_ptr<Journal> inner,
                                                                 const Key& master,
                                                                 IntegrityOptions options) {
  if (!inner) return fail(Errc::invalid_argument, "IntegrityJournal needs a journal to wrap");
  auto impl = std::make_unique<Impl>(std::move(inner), master, options);
  if (impl->key_store) {
    // Tombstones are few and checked on every call: kept in memory.
    auto ids = impl->key_store->forgotten();
    if (!ids) return std::unexpected(ids.error().with_context("opening the integrity journal"));
    impl->forgotten.insert(ids->begin(), ids->end());
  }
  return std::unique_ptr<IntegrityJournal>(new IntegrityJournal(std::move(impl)));
}

IntegrityJournal::IntegrityJournal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

IntegrityJournal::~IntegrityJournal() {
  impl_->wait_idle();
}

Future<std::uint64_t> IntegrityJournal::append(AppendBatch batch) {
  return impl_->append(std::move(batch));
}

Future<std::vector<EventRecord>> IntegrityJournal::read(std::string persistence_id,
                                                        std::uint64_t from, std::uint64_t to,
                                                        std::size_t max_events) {
  return impl_->read(persistence_id, from, to, max_events);
}

Future<std::uint64_t> IntegrityJournal::highest_sequence_nr(std::string persistence_id) {
  return impl_->inner->highest_sequence_nr(std::move(persistence_id));
}

Future<std::uint64_t> IntegrityJournal::delete_to(std::string persistence_id, std::uint64_t to) {
  return impl_->inner->delete_to(std::move(persistence_id), to);
}

Future<std::vector<TaggedEvent>> IntegrityJournal::events_by_tag(std::string tag,
                                                                 std::uint64_t after_offset,
                                                                 std::size_t max_events) {
  auto fill = std::make_shared<Impl::TagFill>();
  fill->tag = std::move(tag);
  fill->after = after_offset;
  fill->max = max_events;
  fill->op = impl_->begin_op();
  auto future = fill->promise.future();
  if (max_events == 0) {
    fill->promise.complete(std::vector<TaggedEvent>{});
    return future;
  }
  impl_->fill_tag(std::move(fill));
  return future;
}

Future<std::vector<std::string>> IntegrityJournal::persistence_ids() {
  using Out = std::vector<std::string>;
  Promise<Out> promise;
  auto future = promise.future();
  impl_->inner->persistence_ids().on_complete(
      [self = impl_.get(), op = impl_->begin_op(), promise](const Result<Out>& ids) {
        if (!ids) {
          promise.complete(ids);
          return;
        }
        Out out;
        for (const auto& id : *ids) {
          if (!self->is_forgotten(id)) out.push_back(id);
        }
        promise.complete(std::move(out));
      });
  return future;
}

std::uint64_t IntegrityJournal::subscribe(std::function<void(std::uint64_t)> listener) {
  return impl_->inner->subscribe(std::move(listener));
}

void IntegrityJournal::unsubscribe(std::uint64_t id) {
  impl_->inner->unsubscribe(id);
}

Future<std::uint64_t> IntegrityJournal::forget(std::string persistence_id) {
  if (!impl_->key_store) {
    return failed<std::uint64_t>(Error(
        Errc::invalid_argument, "forget needs crypto-shredding: set IntegrityOptions::key_store"));
  }
  if (auto r = impl_->key_store->forget(persistence_id); !r) {
    return failed<std::uint64_t>(r.error());
  }
  {
    std::lock_guard lock(impl_->mutex);
    impl_->forgotten.insert(persistence_id);
    impl_->cache.erase(persistence_id);
    impl_->in_flight.erase(persistence_id);
    impl_->quarantine.erase(persistence_id);
  }
  // The key is gone, so the events are already unreadable; deleting them frees the space.
  Promise<std::uint64_t> promise;
  auto future = promise.future();
  impl_->inner->highest_sequence_nr(persistence_id)
      .on_complete([self = impl_.get(), op = impl_->begin_op(), pid = persistence_id,
                    promise](const Result<std::uint64_t>& h) {
        if (!h) {
          promise.complete(h);
          return;
        }
        self->inner->delete_to(pid, *h).on_complete(
            [op, promise](const Result<std::uint64_t>& n) { promise.complete(n); });
      });
  return future;
}

Result<VerifyReport> IntegrityJournal::verify(
    const std::string& persistence_id, const std::function<void(const VerifyProgress&)>& progress,
    std::size_t page_size) {
  return impl_->verify(persistence_id, progress, page_size);
}

std::vector<QuarantinedId> IntegrityJournal::quarantined() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<QuarantinedId> out;
  for (const auto& [pid, reason] : impl_->quarantine) out.push_back(QuarantinedId{pid, reason});
  return out;
}

void IntegrityJournal::lift_quarantine(const std::string& persistence_id) {
  std::lock_guard lock(impl_->mutex);
  impl_->quarantine.erase(persistence_id);
}

}  // namespace weft::persistence
