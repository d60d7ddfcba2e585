// Rule 2: per device, tumbling event-time windows with a watermark per device (each sensor's
// clock drifts on its own). A stream job reads ReadingRecorded / ReadingsRecorded events by tag
// from the journal, keys them by device, windows them, and sends each closed window to the device
// actor as a RecordAggregate with a dedup id, so it is recorded exactly once even across crashes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "weft/actor.hpp"
#include "weft/core/codec.hpp"
#include "weft/node/device.hpp"
#include "weft/stream/job.hpp"

namespace weft::node {

struct WindowRules {
  std::int64_t size_ms = 5'000;                      // windows [k*size, (k+1)*size)
  std::int64_t out_of_orderness_ms = 2'000;          // watermark = newest ts of the device - this
  Duration idle_timeout = std::chrono::seconds(10);  // processing time without a reading
};

/// One window being filled.
struct WindowAcc {
  std::uint64_t count = 0;
  double sum = 0;
  double min = 0;
  double max = 0;
  friend bool operator==(const WindowAcc&, const WindowAcc&) = default;
};
WEFT_CODEC(WindowAcc, "weft.node.WindowAcc", 1, count, sum, min, max);

/// One device's open windows and watermark: the keyed state of the window operator. Pure.
struct DeviceWindows {
  std::map<std::int64_t, WindowAcc> open;  // by window start
  std::int64_t max_ts = std::numeric_limits<std::int64_t>::min();
  /// Readings with ts below this are late: their window is closed.
  std::int64_t closed_until = std::numeric_limits<std::int64_t>::min();
  std::uint64_t late = 0;
  /// The window size of `open` (set by add, used by close_all).
  std::int64_t size_ms = 0;

  /// Adds a reading. Returns false (and counts it) when it is late. Appends the windows that
  /// the device's new watermark closes to `closed`, oldest first.
  bool add(const WindowRules& rules, std::string_view device, std::int64_t ts, double temperature,
           std::vector<Aggregate>& closed);
  /// The device went idle: closes every open window, oldest first.
  void close_all(std::string_view device, std::vector<Aggregate>& closed);
  friend bool operator==(const DeviceWindows&, const DeviceWindows&) = default;
};
WEFT_CODEC(DeviceWindows, "weft.node.DeviceWindows", 1, open, max_ts, closed_until, late, size_ms);

/// Late readings per device, as the window operator counts them (thread-safe; read by the API
/// and /metrics). Values are set from the operator's state, so a restore does not double them.
class LateCounts {
 public:
  void set(const std::string& device, std::uint64_t late);
  [[nodiscard]] std::vector<std::pair<std::string, std::uint64_t>> snapshot() const;
  [[nodiscard]] std::uint64_t total() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::uint64_t> late_;
  std::uint64_t total_ = 0;
};

struct WindowJobSpec {
  std::shared_ptr<persistence::Journal> journal;
  ActorRef<DevicesMsg> devices;
  WindowRules rules;
  /// Checkpoint dir, interval, clock, ... (job_id names the dedup ids: keep it stable).
  stream::JobOptions options;
  std::shared_ptr<LateCounts> late;  // may be null
  /// Names the dedup ids the devices record: keep it stable across restarts.
  std::string job_id = "windows";
};

/// Starts the window job on `system`; it resumes from its newest complete checkpoint.
[[nodiscard]] Result<std::unique_ptr<stream::Job>> start_window_job(ActorSystem& system,
                                                                    WindowJobSpec spec);

}  // namespace weft::node
