// The journal's write-ahead log: group commits as frames in files of its own, so that the
// fdatasync on the path of every acknowledgement writes data blocks only. Files are reused
// (recycled, or written full of zeros ahead of need by a background thread), never grown while
// in use when it can be helped: an fdatasync that must also commit a new file size or newly
// allocated blocks waits on the file system's journal, behind everything else being written.
// Frame format and recovery rules: docs/journal-format.md, "Log files".
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "weft/core/result.hpp"

namespace weft::persistence {

struct SegmentLogOptions {
  /// Created if missing.
  std::string directory;
  /// A file takes frames until the next would pass this size; then the log moves on to a spare.
  std::size_t file_bytes = 64u << 20;
  /// fdatasync after every append (Durability::fsync).
  bool sync = true;
  /// Spare files are written full of zeros at about this rate, in small synced pieces, so the
  /// background writes do not hold up the appends' fdatasync. 0: none are made; files are
  /// only reused.
  std::size_t prepare_bytes_per_s = 64u << 20;
  /// Prepare a spare as soon as the log opens, and move to it once it is ready whenever the
  /// file being written grows as it is written (a new journal's first file): latency is steady
  /// from the start. Off, the first spare is made once the first file is half full.
  bool spare_at_open = false;
  /// Released files kept as spares, at most; the rest are deleted. The journal makes room for
  /// a fold's worth of files: with fewer, a fold deleted a file and the next generation had to
  /// write a new one full of zeros.
  std::size_t max_spares = 2;
};

class SegmentLog {
 public:
  using Frame = std::function<Result<void>(std::uint64_t segment_no, std::string_view segment)>;

  /// Opens the log in `options.directory` and hands every intact frame numbered after `folded`
  /// to `frame`, oldest first. Files that hold only folded segments are released. A torn tail
  /// (an append that a crash interrupted, never acknowledged) is cut off with a warning;
  /// damage before intact frames, or a missing segment, is Errc::corrupted naming the file.
  [[nodiscard]] static Result<std::unique_ptr<SegmentLog>> open(SegmentLogOptions options,
                                                                std::uint64_t folded,
                                                                const Frame& frame);
  /// Reads the frames after `folded` without changing anything (for verify).
  [[nodiscard]] static Result<std::uint64_t> read(const std::string& directory,
                                                  std::uint64_t folded, const Frame& frame);

  ~SegmentLog();
  SegmentLog(const SegmentLog&) = delete;
  SegmentLog& operator=(const SegmentLog&) = delete;

  /// The number the next frame must carry: one after the last intact frame (0 when empty).
  [[nodiscard]] std::uint64_t next() const { return next_; }

  /// Writes segment `segment_no` (the concatenation of `parts`) as one frame, durably when
  /// `sync`. On failure (Errc::io naming the file) nothing is acknowledged and the next append
  /// writes at the same place again.
  [[nodiscard]] Result<void> append(std::uint64_t segment_no,
                                    std::span<const std::string_view> parts);

  /// Every segment up to `segment_no` is folded and durable elsewhere: files holding only
  /// those are recycled as spares or deleted. Called from another thread than append.
  void release_through(std::uint64_t segment_no);
  /// Whether release_through(segment_no) would release a file.
  [[nodiscard]] bool releasable(std::uint64_t segment_no) const;

  /// Log files in use, and spares ready to take frames.
  [[nodiscard]] std::size_t files() const;
  [[nodiscard]] std::size_t spares() const;

 private:
  struct File {
    std::uint64_t first = 0;  // the number of its first frame; also its name
    std::string path;
  };
  explicit SegmentLog(SegmentLogOptions options);
  Result<void> switch_file(std::uint64_t segment_no);
  void run_preparer();
  [[nodiscard]] std::string path_of(std::uint64_t first) const;

  SegmentLogOptions options_;
  int dir_fd_ = -1;
  std::uint64_t next_ = 0;

  // The file being written: writer thread only.
  int fd_ = -1;
  bool growing_ = false;  // the file being written was not full-sized when taken
  std::string path_;
  std::uint64_t first_ = 0;  // the file's first segment, which its header page names
  std::uint64_t salt_ = 0;   // of the file's current use
  std::size_t offset_ = 0;   // 0: the header page is not written yet
  std::string buffer_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<File> files_;          // oldest first; the last is being written
  std::vector<std::string> spares_;  // ready to take frames
  std::size_t spare_serial_ = 0;
  bool want_spare_ = false;
  std::chrono::steady_clock::time_point retry_prepare_;  // after a failed preparation
  bool stopping_ = false;
  std::thread preparer_;
};

}  // namespace weft::persistence
