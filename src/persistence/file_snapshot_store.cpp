#include "weft/persistence/file_snapshot_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include "persistence/snapshot_format.hpp"

namespace weft::persistence {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kSuffix = ".snap";
constexpr std::size_t kSeqDigits = 20;  // u64 max has 20 digits: names sort numerically
// Header, manifest and envelopes on top of the payload limit.
constexpr std::size_t kFrameSlack = std::size_t{1} << 20;

std::unexpected<Error> io_error(const std::string& what, const std::string& path, int err) {
  return fail(Errc::io, what + " '" + path + "': " + std::strerror(err));
}

// A directory name for any persistence id: hex keeps every byte legal; ids too long for a
// file name use their SHA-256 (the id inside each file is checked on load anyway).
std::string pid_dir(const std::string& pid) {
  if (pid.size() <= 100) return "p" + to_hex(byte_view(pid));
  return "h" + to_hex(sha256(byte_view(pid)));
}

std::string file_name(std::uint64_t seq) {
  auto digits = std::to_string(seq);
  return std::string(kSeqDigits - digits.size(), '0') + digits + std::string(kSuffix);
}

Result<std::monostate> fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open", path, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return io_error("cannot fsync", path, err);
  return std::monostate{};
}

Result<std::monostate> write_durably(const std::string& dir, const std::string& name,
                                     std::string_view bytes) {
  auto final_path = dir + "/" + name;
  auto tmp_path = final_path + ".tmp";
  int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("cannot create snapshot file", tmp_path, errno);
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp_path.c_str());
      return io_error("cannot write snapshot file", tmp_path, err);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp_path.c_str());
    return io_error("cannot fsync snapshot file", tmp_path, err);
  }
  ::close(fd);
  if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp_path.c_str());
    return io_error("cannot rename snapshot file into place", final_path, err);
  }
  return fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

// Sequence numbers of the complete snapshots in `dir`, ascending; temporary files ignored.
Result<std::vector<std::uint64_t>> list(const std::string& dir) {
  std::vector<std::uint64_t> seqs;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return seqs;
  if (ec) return fail(Errc::io, "cannot list snapshots in '" + dir + "': " + ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.size() != kSeqDigits + kSuffix.size() || !name.ends_with(kSuffix)) continue;
    std::uint64_t seq = 0;
    bool digits = true;
    for (std::size_t i = 0; i < kSeqDigits; ++i) {
      if (name[i] < '0' || name[i] > '9') digits = false;
    }
    if (!digits) continue;
    try {
      seq = std::stoull(name.substr(0, kSeqDigits));
    } catch (const std::out_of_range&) {
      continue;
    }
    seqs.push_back(seq);
  }
  if (ec) return fail(Errc::io, "cannot list snapshots in '" + dir + "': " + ec.message());
  std::sort(seqs.begin(), seqs.end());
  return seqs;
}

Result<std::string> read_file(const std::string& path, std::size_t limit) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open snapshot file", path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return io_error("cannot stat snapshot file", path, err);
  }
  auto size = static_cast<std::size_t>(st.st_size);
  if (size > limit) {
    ::close(fd);
    return fail(Errc::corrupted, "snapshot file '" + path + "' has " + std::to_string(size) +
                                     " bytes, more than max_snapshot_bytes allows");
  }
  std::string out(size, '\0');
  std::size_t done = 0;
  while (done < size) {
    auto n = ::read(fd, out.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return io_error("cannot read snapshot file", path, err);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  out.resize(done);
  return out;
}

}  // namespace

struct FileSnapshotStore::Impl {
  Impl(std::string dir, const SnapshotOptions& options) : root(std::move(dir)), codec(options) {}

  std::string root;
  SnapshotCodec codec;

  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::function<void()>> queue;
  bool stopping = false;
  std::thread worker;

  std::string dir_of(const std::string& pid) const { return root + "/" + pid_dir(pid); }

  void run() {
    std::unique_lock lock(mutex);
    while (true) {
      wake.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) return;  // stopping, and everything queued has run
      auto job = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }

  template <class T, class F>
  Future<T> submit(F work) {
    Promise<T> promise;
    auto future = promise.future();
    {
      std::lock_guard lock(mutex);
      queue.push_back([promise, work = std::move(work)]() mutable { promise.complete(work()); });
    }
    wake.notify_one();
    return future;
  }

  Result<std::monostate> save(const SnapshotRecord& record) {
    auto bytes = codec.encode(record);
    if (!bytes) return std::unexpected(bytes.error());
    auto dir = dir_of(record.meta.persistence_id);
    std::error_code ec;
    if (fs::create_directory(dir, ec)) {
      // A new directory entry must be durable too, or the snapshot can vanish with it.
      auto synced = fsync_path(root, O_RDONLY | O_DIRECTORY);
      if (!synced) return synced;
    } else if (ec) {
      return fail(Errc::io, "cannot create snapshot directory '" + dir + "': " + ec.message());
    }
    return write_durably(dir, file_name(record.meta.sequence_nr), *bytes);
  }

  Result<std::optional<SnapshotRecord>> load_latest(const std::string& pid, SnapshotSelection sel) {
    auto dir = dir_of(pid);
    auto seqs = list(dir);
    if (!seqs) return std::unexpected(seqs.error());
    auto it = std::upper_bound(seqs->begin(), seqs->end(), sel.max_sequence_nr);
    if (it == seqs->begin()) return std::nullopt;
    auto seq = *std::prev(it);
    auto bytes = read_file(dir + "/" + file_name(seq), codec.max_snapshot_bytes() + kFrameSlack);
    if (!bytes) {
      return std::unexpected(bytes.error().with_context("snapshot of '" + pid + "' at sequence " +
                                                        std::to_string(seq)));
    }
    auto rec = codec.decode(*bytes, pid, seq);
    if (!rec) return std::unexpected(rec.error());
    return std::optional<SnapshotRecord>(std::move(*rec));
  }

  // Deletes the snapshots of `pid` that `doomed` selects from the ascending list.
  Result<std::size_t> remove(
      const std::string& pid,
      const std::function<std::size_t(const std::vector<std::uint64_t>&)>& doomed) {
    auto dir = dir_of(pid);
    auto seqs = list(dir);
    if (!seqs) return std::unexpected(seqs.error());
    std::size_t n = doomed(*seqs);
    for (std::size_t i = 0; i < n; ++i) {
      auto path = dir + "/" + file_name((*seqs)[i]);
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return io_error("cannot delete snapshot file", path, errno);
      }
    }
    if (n > 0) {
      auto synced = fsync_path(dir, O_RDONLY | O_DIRECTORY);
      if (!synced) return std::unexpected(synced.error());
    }
    return n;
  }
};

Result<std::unique_ptr<FileSnapshotStore>> FileSnapshotStore::open(std::string directory,
                                                                   SnapshotOptions options) {
  std::error_code ec;
  fs::create_directories(directory, ec);
  if (ec) {
    return fail(Errc::io, "cannot create snapshot directory '" + directory + "': " + ec.message());
  }
  if (!fs::is_directory(directory, ec)) {
    return fail(Errc::io, "snapshot directory '" + directory + "' is not a directory");
  }
  if (::access(directory.c_str(), W_OK | X_OK) != 0) {
    return io_error("cannot write to snapshot directory", directory, errno);
  }
  auto impl = std::make_unique<Impl>(std::move(directory), options);
  impl->worker = std::thread([p = impl.get()] { p->run(); });
  return std::unique_ptr<FileSnapshotStore>(new FileSnapshotStore(std::move(impl)));
}

FileSnapshotStore::FileSnapshotStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

FileSnapshotStore::~FileSnapshotStore() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_one();
  impl_->worker.join();
}

Future<std::monostate> FileSnapshotStore::save(SnapshotRecord record) {
  return impl_->submit<std::monostate>(
      [this, record = std::move(record)] { return impl_->save(record); });
}

Future<std::optional<SnapshotRecord>> FileSnapshotStore::load_latest(std::string persistence_id,
                                                                     SnapshotSelection selection) {
  return impl_->submit<std::optional<SnapshotRecord>>(
      [this, pid = std::move(persistence_id), selection] {
        return impl_->load_latest(pid, selection);
      });
}

Future<std::size_t> FileSnapshotStore::delete_older(std::string persistence_id,
                                                    std::size_t keep_last) {
  return impl_->submit<std::size_t>([this, pid = std::move(persistence_id), keep_last] {
    return impl_->remove(pid, [keep_last](const std::vector<std::uint64_t>& seqs) {
      return seqs.size() > keep_last ? seqs.size() - keep_last : 0;
    });
  });
}

Future<std::size_t> FileSnapshotStore::delete_to(std::string persistence_id,
                                                 std::uint64_t max_sequence_nr) {
  return impl_->submit<std::size_t>([this, pid = std::move(persistence_id), max_sequence_nr] {
    return impl_->remove(pid, [max_sequence_nr](const std::vector<std::uint64_t>& seqs) {
      return static_cast<std::size_t>(std::upper_bound(seqs.begin(), seqs.end(), max_sequence_nr) -
                                      seqs.begin());
    });
  });
}

std::string FileSnapshotStore::path_of(const std::string& persistence_id,
                                       std::uint64_t sequence_nr) const {
  return impl_->dir_of(persistence_id) + "/" + file_name(sequence_nr);
}

}  // namespace weft::persistence
