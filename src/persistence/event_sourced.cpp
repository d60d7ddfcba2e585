// The event-sourced actor's log lines (the behavior itself is a template in the header).
#include "weft/persistence/event_sourced.hpp"

#include <spdlog/spdlog.h>

namespace weft::persistence::detail {

void log_snapshot_unusable(const std::string& path, const std::string& pid, const Error& error) {
  spdlog::warn("{}: snapshot of '{}' cannot be used, looking for an older one: {}", path, pid,
               error.describe());
}

void log_snapshot_fallback(const std::string& path, const std::string& pid, std::uint64_t seq) {
  if (seq == 0) {
    spdlog::warn("{}: no readable snapshot of '{}'; recovering from its events alone", path, pid);
  } else {
    spdlog::warn("{}: recovering '{}' from its older snapshot at sequence {}", path, pid, seq);
  }
}

void log_snapshot_save_failed(const std::string& pid, std::uint64_t seq, const Error& error) {
  spdlog::warn(
      "snapshot of '{}' at sequence {} was not saved (the actor goes on; its events are "
      "in the journal): {}",
      pid, seq, error.describe());
}

void log_snapshot_cleanup_failed(const std::string& pid, std::string_view what,
                                 const Error& error) {
  spdlog::warn("deleting old {} of '{}' after a snapshot failed: {}", what, pid, error.describe());
}

void log_recovery_corrupted(const std::string& path, const std::string& pid, std::uint64_t seq,
                            const Error& error) {
  spdlog::error(
      "{}: recovery of '{}' found corrupted data at sequence {}; stopping it instead of "
      "restarting: {}",
      path, pid, seq, error.describe());
}

}  // namespace weft::persistence::detail
