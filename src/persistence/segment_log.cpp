#include "persistence/segment_log.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "persistence/journal_segment.hpp"

namespace weft::persistence {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSuffix = ".wlog";
constexpr std::string_view kSparePrefix = "spare-";
// Spares are zero-filled in pieces of this size, each synced before the next: a large dirty
// range written back at once holds up the appends' fdatasync for tens of milliseconds.
constexpr std::size_t kPrepareStep = 256u << 10;

Error os_error(std::string_view what, const std::string& path, int err) {
  return Error(Errc::io, fmt::format("{} '{}': {}", what, path, std::strerror(err)));
}

// A non-empty run of decimal digits that fits in 64 bits.
std::optional<std::uint64_t> parse_number(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

// A log file's name is its first segment number, 20 digits, so names sort numerically.
std::optional<std::uint64_t> parse_name(const std::string& name) {
  if (name.size() != 20 + kSuffix.size() || !name.ends_with(kSuffix)) return std::nullopt;
  return parse_number(std::string_view(name).substr(0, 20));
}

struct Listing {
  std::vector<std::pair<std::uint64_t, std::string>> files;  // sorted by first segment
  std::vector<std::string> spares;
  std::vector<std::string> partial;  // spares a crash interrupted
};

Result<Listing> list(const std::string& directory) {
  Listing l;
  std::error_code ec;
  for (fs::directory_iterator it(directory, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (auto first = parse_name(name)) {
      l.files.emplace_back(*first, it->path().string());
    } else if (name.starts_with(kSparePrefix) && name.ends_with(kSuffix)) {
      l.spares.push_back(it->path().string());
    } else if (name.starts_with(kSparePrefix) && name.ends_with(".tmp")) {
      l.partial.push_back(it->path().string());
    }
  }
  if (ec) {
    return std::unexpected(os_error("cannot list the journal log in", directory, ec.value()));
  }
  std::sort(l.files.begin(), l.files.end());
  return l;
}

// The file's bytes, at most `limit` of them.
Result<std::string> read_all(const std::string& path, std::size_t limit = SIZE_MAX) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::unexpected(os_error("cannot open the journal log file", path, errno));
  std::string bytes;
  struct stat st {};
  if (::fstat(fd, &st) == 0) bytes.resize(std::min(static_cast<std::size_t>(st.st_size), limit));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      return std::unexpected(os_error("cannot read the journal log file", path, err));
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return bytes;
}

Result<void> write_all(int fd, std::string_view bytes, std::size_t offset,
                       const std::string& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return std::unexpected(
          os_error("cannot write the journal log file", path, n < 0 ? errno : ENOSPC));
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

// A new salt for a use of a log file: random, so that no bytes written before it was drawn
// (an earlier use's frames, or user payloads in them) can pass as frames of this use.
Result<std::uint64_t> draw_salt(const std::string& path) {
  std::uint64_t salt = 0;
  auto* p = reinterpret_cast<unsigned char*>(&salt);
  std::size_t done = 0;
  while (done < sizeof salt) {
    const ssize_t n = ::getrandom(p + done, sizeof salt - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return std::unexpected(os_error("cannot draw a salt for the journal log file", path, errno));
    done += static_cast<std::size_t>(n);
  }
  return salt;
}

std::string_view header_problem(FrameScan::Header h) {
  switch (h) {
    case FrameScan::Header::valid:
      return "";
    case FrameScan::Header::missing:
      return "it has no header page";
    case FrameScan::Header::damaged:
      return "its header page is damaged";
    case FrameScan::Header::other_first:
      return "its header page names another first segment";
    case FrameScan::Header::unsalted:
      return "it was written before log files had header pages";
  }
  return "";
}

// Walks the files in order: each must start where the one before it ended.
Result<std::uint64_t> scan_files(
    const std::vector<std::pair<std::uint64_t, std::string>>& files, std::uint64_t folded,
    const SegmentLog::Frame& frame,
    const std::function<void(std::size_t index, const FrameScan&)>& scanned) {
  if (files.empty()) return 0;
  if (files.front().first > folded + 1) {
    return fail(Errc::corrupted,
                fmt::format("journal log file '{}' starts at segment {}, but "
                            "segments from {} on are not folded: they are missing",
                            files.front().second, files.front().first, folded + 1));
  }
  std::uint64_t next = files.front().first;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& [first, path] = files[i];
    if (first != next) {
      return fail(Errc::corrupted,
                  fmt::format("journal log file '{}' starts at segment {}, but the file before it "
                              "ends at segment {}",
                              path, first, next - 1));
    }
    auto bytes = read_all(path);
    if (!bytes) return std::unexpected(bytes.error());
    auto scan = scan_frames(*bytes, first, path, frame, folded);
    if (!scan) return std::unexpected(scan.error());
    if (scan->header == FrameScan::Header::unsalted) {
      // Not read: taking it for empty would drop its unfolded frames without a word.
      return fail(Errc::corrupted,
                  fmt::format("journal log file '{}' has no header page: it was written before "
                              "log files had them (docs/journal-format.md, \"Format history\")",
                              path));
    }
    // Only the last file can be one taken into use with no frame written yet: the log moves
    // to a new file only once a frame went into the one before.
    if (scan->header != FrameScan::Header::valid && i + 1 < files.size()) {
      return fail(Errc::corrupted,
                  fmt::format("journal log file '{}' holds no frames ({}), but later files follow",
                              path, header_problem(scan->header)));
    }
    next = scan->next;
    if (scanned) scanned(i, *scan);
  }
  return next;
}

}  // namespace

SegmentLog::SegmentLog(SegmentLogOptions options) : options_(std::move(options)) {}

SegmentLog::~SegmentLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (preparer_.joinable()) preparer_.join();
  if (fd_ >= 0) ::close(fd_);
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

std::string SegmentLog::path_of(std::uint64_t first) const {
  return fmt::format("{}/{:020}{}", options_.directory, first, kSuffix);
}

Result<std::unique_ptr<SegmentLog>> SegmentLog::open(SegmentLogOptions options,
                                                     std::uint64_t folded, const Frame& frame) {
  options.file_bytes = std::max<std::size_t>(options.file_bytes, kLogHeaderPage + kLogFrameAlign);
  std::unique_ptr<SegmentLog> log(new SegmentLog(std::move(options)));
  const std::string& dir = log->options_.directory;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return std::unexpected(os_error("cannot create the journal log directory", dir, ec.value()));
  log->dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (log->dir_fd_ < 0) {
    return std::unexpected(os_error("cannot open the journal log directory", dir, errno));
  }
  auto listing = list(dir);
  if (!listing) return std::unexpected(listing.error());
  for (const auto& p : listing->partial) fs::remove(p, ec);
  for (const auto& p : listing->spares) {
    std::error_code size_ec;
    if (log->spares_.size() < log->options_.max_spares &&
        fs::file_size(p, size_ec) == log->options_.file_bytes) {
      log->spares_.push_back(p);
    } else {
      fs::remove(p, ec);
    }
  }
  // New spares are numbered after every name found, kept or not: a new spare that took the
  // name of a kept one would replace its file, leaving two entries for one file.
  log->spare_serial_ = 1;
  for (const auto& p : listing->spares) {
    const std::string name = fs::path(p).filename().string();
    const auto n = parse_number(std::string_view(name).substr(
        kSparePrefix.size(), name.size() - kSparePrefix.size() - kSuffix.size()));
    if (n && *n < SIZE_MAX) log->spare_serial_ = std::max<std::size_t>(log->spare_serial_, *n + 1);
  }
  auto& files = listing->files;
  // Files whose every segment is folded: the fold's flush completed but their release did not.
  while (files.size() >= 2 && files[1].first <= folded + 1) {
    fs::remove(files.front().second, ec);
    files.erase(files.begin());
  }
  // A file of the format before header pages whose every frame is folded (a journal closed
  // cleanly by that build) goes; one with unfolded frames makes scan_files fail, naming it.
  // Only a lone file can be such a one now: before another file, it would have gone above.
  if (files.size() == 1) {
    auto bytes = read_all(files.front().second, kLogFrameHeader);
    if (!bytes) return std::unexpected(bytes.error());
    if (unsalted_log_last(*bytes, files.front().first)) {
      bytes = read_all(files.front().second);
      if (!bytes) return std::unexpected(bytes.error());
      if (const auto old_last = unsalted_log_last(*bytes, files.front().first);
          old_last && *old_last <= folded) {
        spdlog::info(
            "journal log '{}': of the format before header pages, every segment in it "
            "folded: released",
            files.front().second);
        fs::remove(files.front().second, ec);
        files.clear();
      }
    }
  }
  FrameScan last;
  auto next = scan_files(files, folded, frame, [&](std::size_t i, const FrameScan& scan) {
    if (scan.header == FrameScan::Header::damaged) {
      spdlog::warn(
          "journal log '{}': {}, so it holds no frames (a crash while its first frame was "
          "written, never acknowledged); it takes the next one",
          files[i].second, header_problem(scan.header));
    } else if (scan.header != FrameScan::Header::valid) {
      spdlog::info(
          "journal log '{}': {}: taken into use, then a crash before its first frame was "
          "written; it takes the next one",
          files[i].second, header_problem(scan.header));
    } else if (scan.stale) {
      spdlog::info(
          "journal log '{}': the log ends at byte {} (what follows is left from the file's "
          "earlier use, or a frame header that a crash interrupted)",
          files[i].second, scan.end);
    } else if (!scan.torn.empty()) {
      spdlog::warn(
          "journal log '{}': cut off a torn tail at byte {} ({}): an append that a crash "
          "interrupted, never acknowledged",
          files[i].second, scan.end, scan.torn);
    }
    last = scan;
  });
  if (!next) return std::unexpected(next.error());
  log->next_ = *next;
  for (auto& [first, path] : files) log->files_.push_back(File{first, path});
  if (!files.empty()) {
    const std::string& path = files.back().second;
    log->fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (log->fd_ < 0) {
      return std::unexpected(os_error("cannot open the journal log file", path, errno));
    }
    log->path_ = path;
    log->first_ = files.back().first;
    log->salt_ = last.salt;
    log->offset_ = last.end;
    std::error_code size_ec;
    log->growing_ = fs::file_size(path, size_ec) < log->options_.file_bytes;
    if (!last.torn.empty() || last.stale) {
      // The next append overwrites it anyway; zeroing its header now keeps a second restart
      // from reporting the same end.
      const std::string zeros(kLogFrameHeader, '\0');
      if (auto w = write_all(log->fd_, zeros, last.end, path); !w)
        return std::unexpected(w.error());
      if (::fdatasync(log->fd_) != 0) {
        return std::unexpected(os_error("cannot sync the journal log file", path, errno));
      }
    }
  }
  log->want_spare_ =
      log->options_.spare_at_open && log->options_.prepare_bytes_per_s > 0 && log->spares_.empty();
  log->preparer_ = std::thread([p = log.get()] { p->run_preparer(); });
  return log;
}

Result<std::uint64_t> SegmentLog::read(const std::string& directory, std::uint64_t folded,
                                       const Frame& frame) {
  std::error_code ec;
  if (!fs::exists(directory, ec)) return 0;
  auto listing = list(directory);
  if (!listing) return std::unexpected(listing.error());
  auto& files = listing->files;
  while (files.size() >= 2 && files[1].first <= folded + 1) files.erase(files.begin());
  std::uint64_t frames = 0;
  auto next = scan_files(files, folded,
                         [&](std::uint64_t no, std::string_view segment) {
                           ++frames;
                           return frame(no, segment);
                         },
                         {});
  if (!next) return std::unexpected(next.error());
  return frames;
}

Result<void> SegmentLog::switch_file(std::uint64_t segment_no) {
  const std::string path = path_of(segment_no);
  std::string spare;
  {
    std::lock_guard lock(mutex_);
    growing_ = spares_.empty();
    if (!spares_.empty()) {
      spare = std::move(spares_.back());
      spares_.pop_back();
    }
  }
  if (!spare.empty() && ::rename(spare.c_str(), path.c_str()) != 0) {
    // The spare is unusable (gone, or the directory refuses): a new file takes the frame.
    spdlog::warn("journal log: cannot rename the spare '{}' to '{}': {}; starting a new file",
                 spare, path, std::strerror(errno));
    std::lock_guard lock(mutex_);
    growing_ = true;
  }
  // Not truncated: a file of this name left by a failed switch holds no frame of this number.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return std::unexpected(os_error("cannot create the journal log file", path, errno));
  if (::fsync(dir_fd_) != 0) {
    const int err = errno;
    ::close(fd);
    return std::unexpected(
        os_error("cannot sync the journal log directory", options_.directory, err));
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  path_ = path;
  first_ = segment_no;
  offset_ = 0;
  std::lock_guard lock(mutex_);
  files_.push_back(File{segment_no, path});
  return {};
}

Result<void> SegmentLog::append(std::uint64_t segment_no, std::span<const std::string_view> parts) {
  std::size_t length = 0;
  for (auto p : parts) length += p.size();
  const std::size_t size = frame_size(length);
  bool move_on =
      fd_ < 0 || segment_no != next_ || (offset_ > 0 && offset_ + size > options_.file_bytes);
  if (!move_on && growing_ && offset_ > 0) {
    std::lock_guard lock(mutex_);
    move_on = !spares_.empty();  // a spare is ready: stop growing this file
  }
  if (move_on) {
    if (auto r = switch_file(segment_no); !r) return r;
  }
  buffer_.clear();
  const std::size_t header_page = offset_ == 0 ? kLogHeaderPage : 0;
  if (header_page > 0) {
    // A new use of the file: its header page goes with its first frame, in one write and one
    // fdatasync. Until both are durable the file holds no frames of this use.
    auto salt = draw_salt(path_);
    if (!salt) return std::unexpected(salt.error());
    salt_ = *salt;
    encode_log_header(buffer_, first_, salt_);
  }
  encode_frame_header(buffer_, salt_, segment_no, static_cast<std::uint32_t>(length));
  for (auto p : parts) buffer_.append(p);
  buffer_.resize(header_page + size, '\0');
  if (auto w = write_all(fd_, buffer_, offset_, path_); !w) return w;
  if (options_.sync && ::fdatasync(fd_) != 0) {
    return std::unexpected(os_error("cannot sync the journal log file", path_, errno));
  }
  offset_ += buffer_.size();
  next_ = segment_no + 1;
  if (offset_ > options_.file_bytes / 2 && options_.prepare_bytes_per_s > 0) {
    std::lock_guard lock(mutex_);
    if (spares_.empty() && !want_spare_ && std::chrono::steady_clock::now() >= retry_prepare_) {
      want_spare_ = true;
      wake_.notify_all();
    }
  }
  return {};
}

void SegmentLog::release_through(std::uint64_t segment_no) {
  std::vector<std::string> released;
  std::size_t room = 0;    // spares that may be added
  std::size_t serial = 0;  // the first of the spare numbers reserved for them
  {
    std::lock_guard lock(mutex_);
    while (files_.size() >= 2 && files_[1].first <= segment_no + 1) {
      released.push_back(std::move(files_.front().path));
      files_.erase(files_.begin());
    }
    room = options_.max_spares - std::min(options_.max_spares, spares_.size());
    room = std::min(room, released.size());
    serial = spare_serial_;
    spare_serial_ += room;
  }
  // Renamed and deleted outside the lock, which appends take: deleting a 64 MiB file held it
  // for 4-11 ms here, and the appends behind it waited.
  std::vector<std::string> recycled;
  for (const std::string& path : released) {
    std::error_code ec;
    if (recycled.size() < room && fs::file_size(path, ec) == options_.file_bytes) {
      // Reused as it is: its next use writes a new header page with a new salt, under which
      // its old frames fail their checksums, so a reader stops at them.
      std::string spare =
          fmt::format("{}/{}{}{}", options_.directory, kSparePrefix, serial++, kSuffix);
      if (::rename(path.c_str(), spare.c_str()) == 0) {
        recycled.push_back(std::move(spare));
        continue;
      }
    }
    fs::remove(path, ec);
    if (ec) {
      spdlog::warn("journal log: cannot remove the folded log file '{}': {}", path, ec.message());
    }
  }
  if (recycled.empty()) return;
  std::lock_guard lock(mutex_);
  for (auto& spare : recycled) spares_.push_back(std::move(spare));
}

bool SegmentLog::releasable(std::uint64_t segment_no) const {
  std::lock_guard lock(mutex_);
  return files_.size() >= 2 && files_[1].first <= segment_no + 1;
}

std::size_t SegmentLog::files() const {
  std::lock_guard lock(mutex_);
  return files_.size();
}

std::size_t SegmentLog::spares() const {
  std::lock_guard lock(mutex_);
  return spares_.size();
}

void SegmentLog::run_preparer() {
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
  const std::string zeros(kPrepareStep, '\0');
  const auto step_time = std::chrono::nanoseconds(
      kPrepareStep * 1'000'000'000ull / std::max<std::size_t>(options_.prepare_bytes_per_s, 1));
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return want_spare_ || stopping_; });
    if (stopping_) return;
    const std::string tmp =
        fmt::format("{}/{}{}.tmp", options_.directory, kSparePrefix, spare_serial_);
    const std::string spare =
        fmt::format("{}/{}{}{}", options_.directory, kSparePrefix, spare_serial_++, kSuffix);
    lock.unlock();
    bool ok = false;
    const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ok = true;
      auto due = std::chrono::steady_clock::now();
      for (std::size_t off = 0; ok && off < options_.file_bytes; off += kPrepareStep) {
        const std::size_t n = std::min(kPrepareStep, options_.file_bytes - off);
        ok = write_all(fd, std::string_view(zeros).substr(0, n), off, tmp).has_value() &&
             ::fdatasync(fd) == 0;
        due += step_time;
        std::unique_lock paced(mutex_);
        if (wake_.wait_until(paced, due, [&] { return stopping_; })) ok = false;
      }
      ::close(fd);
      ok = ok && ::rename(tmp.c_str(), spare.c_str()) == 0 && ::fsync(dir_fd_) == 0;
    }
    if (!ok) {
      std::error_code ec;
      fs::remove(tmp, ec);
    }
    lock.lock();
    want_spare_ = false;
    if (ok) {
      spares_.push_back(spare);
    } else if (!stopping_) {
      retry_prepare_ = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      spdlog::warn(
          "journal log: could not prepare a spare log file in '{}'; appends go on in "
          "files that grow as they are written",
          options_.directory);
    }
  }
}

}  // namespace weft::persistence
