// Tamper evidence and crypto-shredding for any Journal, as a decorator.
//
// Every appended event gets a MAC chained to its predecessor's (a hash chain per persistence
// id), so reads detect a modified, inserted, removed or reordered event. Optionally each
// persistence id's payloads are encrypted with its own data key from a KeyStore, and
// forget(pid) destroys that key (GDPR erasure by crypto-shredding). Formats, key purposes
// and what the chain cannot detect are in docs/integrity.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "weft/core/result.hpp"
#include "weft/persistence/crypto.hpp"
#include "weft/persistence/journal.hpp"
#include "weft/persistence/key_store.hpp"

namespace weft::persistence {

/// What a broken chain does beyond failing the read that found it.
enum class ChainBreakPolicy : std::uint8_t {
  fail,        // only the read fails; the next read checks again
  quarantine,  // the persistence id is quarantined: its reads and appends fail until lifted
};

struct IntegrityOptions {
  ChainBreakPolicy on_break = ChainBreakPolicy::fail;
  /// Persistence ids whose latest MAC (and data key) are kept in memory: appends to a cached
  /// id need no read; on a miss the id's last event is read.
  std::size_t cache_entries = 65536;
  /// Set to encrypt every persistence id's payloads with its own data key (crypto-shredding,
  /// and forget()). Null: payloads are stored as given.
  std::unique_ptr<KeyStore> key_store;
};

struct QuarantinedId {
  std::string persistence_id;
  Error reason;
};

/// Where verify() is; for a progress bar.
struct VerifyProgress {
  std::string persistence_id;
  std::uint64_t events_checked = 0;
  std::uint64_t last_sequence_nr = 0;
  std::uint64_t highest_sequence_nr = 0;
};

struct VerifyReport {
  std::string persistence_id;
  std::uint64_t events_checked = 0;
  /// The first event still stored (later than 1 after delete_to), 0 if none.
  std::uint64_t first_sequence_nr = 0;
  std::uint64_t last_sequence_nr = 0;
  /// The first break found (Errc::corrupted naming the sequence number); verification stops
  /// there. Empty when the whole chain holds.
  std::optional<Error> first_break;
};

/// Thread-safe, like every Journal. One IntegrityJournal per underlying journal: it caches
/// chain heads, so writers that bypass it break the chain (and are detected).
class IntegrityJournal final : public Journal {
 public:
  /// `inner` is shared with whoever else needs the raw journal (administration, tests).
  /// The MAC key is derived from `master` with purpose "journal-mac"; `master` itself is
  /// not kept. Fails only when the key store cannot list its tombstones.
  [[nodiscard]] static Result<std::unique_ptr<IntegrityJournal>> open(
      std::shared_ptr<Journal> inner, const Key& master, IntegrityOptions options = {});
  /// Waits for the journal callbacks still in flight (so do not destroy it from within a
  /// callback of one of its own futures).
  ~IntegrityJournal() override;
  IntegrityJournal(const IntegrityJournal&) = delete;
  IntegrityJournal& operator=(const IntegrityJournal&) = delete;

  /// Signs (and encrypts) the events, then appends them. Fails with Errc::invalid_argument
  /// for a forgotten id, Errc::corrupted for a quarantined one.
  Future<std::uint64_t> append(AppendBatch batch) override;
  /// Verifies the chain of the page and its link to the event before it, then decrypts. A
  /// break gives Errc::corrupted naming the persistence id and sequence number, and applies
  /// the policy. A forgotten id reads as empty.
  Future<std::vector<EventRecord>> read(std::string persistence_id, std::uint64_t from,
                                        std::uint64_t to, std::size_t max_events) override;
  Future<std::uint64_t> highest_sequence_nr(std::string persistence_id) override;
  Future<std::uint64_t> delete_to(std::string persistence_id, std::uint64_t to) override;
  /// Checks each event's own MAC (not its link: that needs its predecessor, and per-id
  /// reads and verify() check links). Events of forgotten ids are left out, and with the
  /// quarantine policy so are those of quarantined ids; pages are refilled so that a short
  /// page still means the end.
  Future<std::vector<TaggedEvent>> events_by_tag(std::string tag, std::uint64_t after_offset,
                                                 std::size_t max_events) override;
  /// Without forgotten ids.
  Future<std::vector<std::string>> persistence_ids() override;
  std::uint64_t subscribe(std::function<void(std::uint64_t)> listener) override;
  void unsubscribe(std::uint64_t id) override;

  /// GDPR erasure: durably destroys the id's data key and writes a tombstone, then deletes
  /// its events from the journal; completes with how many were deleted. Afterwards the id
  /// reads as empty, is missing from tags and ids, and refuses appends. Idempotent: calling
  /// it again finishes an erasure that a crash interrupted. Errc::invalid_argument without
  /// a key store.
  [[nodiscard]] Future<std::uint64_t> forget(std::string persistence_id);

  /// Walks the whole chain of `persistence_id` page by page (no data key needed) and reports
  /// the first break, including events missing at the tail. Blocks the calling thread:
  /// meant for `weft journal verify`, not for actors. Errors are only those of the journal
  /// itself (I/O); a break is in the report. Changes no quarantine.
  [[nodiscard]] Result<VerifyReport> verify(
      const std::string& persistence_id,
      const std::function<void(const VerifyProgress&)>& progress = {},
      std::size_t page_size = 4096);

  /// Quarantined ids with the break that put them there, sorted by id.
  [[nodiscard]] std::vector<QuarantinedId> quarantined() const;
  /// Lets a quarantined id be read and written again (after its history was repaired or
  /// accepted); a break still in it quarantines it again.
  void lift_quarantine(const std::string& persistence_id);

 private:
  struct Impl;
  explicit IntegrityJournal(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace weft::persistence
