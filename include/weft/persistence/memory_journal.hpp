// A journal in memory: the reference behaviour of the Journal contract, for tests and for
// data that may be lost. Completes every future before returning.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "weft/persistence/journal.hpp"

namespace weft::persistence {

class MemoryJournal final : public Journal {
 public:
  MemoryJournal();
  ~MemoryJournal() override;

  Future<std::uint64_t> append(AppendBatch batch) override;
  Future<std::vector<EventRecord>> read(std::string persistence_id, std::uint64_t from,
                                        std::uint64_t to, std::size_t max_events) override;
  Future<std::uint64_t> highest_sequence_nr(std::string persistence_id) override;
  Future<std::uint64_t> delete_to(std::string persistence_id, std::uint64_t to) override;
  Future<std::vector<TaggedEvent>> events_by_tag(std::string tag, std::uint64_t after_offset,
                                                 std::size_t max_events) override;
  Future<std::vector<std::string>> persistence_ids() override;
  std::uint64_t subscribe(std::function<void(std::uint64_t)> listener) override;
  void unsubscribe(std::uint64_t id) override;

  /// Makes every later append fail with `error` until cleared (tests of persist failures).
  void fail_appends(std::optional<Error> error);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace weft::persistence
