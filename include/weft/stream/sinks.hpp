// Built-in sinks: collect into memory, call a function, count, print, and a transactional file
// sink that makes output visible only when the checkpoint that covers it completes
// (exactly-once output files, as Flink's two-phase-commit FileSink).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "weft/stream/source.hpp"
#include "weft/stream/stream.hpp"

namespace weft::stream {

/// Records gathered by collect(): thread-safe, for tests and small jobs.
template <class T>
class Collected {
 public:
  void add(T value, Timestamp ts) {
    std::lock_guard lock(mutex_);
    items_.emplace_back(std::move(value), ts);
  }
  [[nodiscard]] std::vector<T> values() const {
    std::lock_guard lock(mutex_);
    std::vector<T> out;
    out.reserve(items_.size());
    for (const auto& [v, ts] : items_) out.push_back(v);
    return out;
  }
  [[nodiscard]] std::vector<std::pair<T, Timestamp>> records() const {
    std::lock_guard lock(mutex_);
    return items_;
  }
  [[nodiscard]] std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<T, Timestamp>> items_;
};

template <class T>
SinkFactory<T> collect(std::shared_ptr<Collected<T>> into) {
  class Impl final : public Sink<T> {
   public:
    explicit Impl(std::shared_ptr<Collected<T>> c) : c_(std::move(c)) {}
    void emit(T&& v, Timestamp ts) override { c_->add(std::move(v), ts); }

   private:
    std::shared_ptr<Collected<T>> c_;
  };
  return [into] { return std::make_unique<Impl>(into); };
}

/// Calls `f(T&&, Timestamp)` for each record, on the sink's task.
template <class T, class F>
SinkFactory<T> for_each(F f) {
  class Impl final : public Sink<T> {
   public:
    explicit Impl(F f) : f_(std::move(f)) {}
    void emit(T&& v, Timestamp ts) override { f_(std::move(v), ts); }

   private:
    F f_;
  };
  return [f] { return std::make_unique<Impl>(f); };
}

/// Counts records (benchmarks: the cheapest possible end).
template <class T>
SinkFactory<T> count_into(std::shared_ptr<std::atomic<std::uint64_t>> counter) {
  class Impl final : public Sink<T> {
   public:
    explicit Impl(std::shared_ptr<std::atomic<std::uint64_t>> c) : c_(std::move(c)) {}
    void emit(T&&, Timestamp) override { ++local_; }
    void finish() override { flush(); }
    void close() override { flush(); }

   private:
    void flush() {
      c_->fetch_add(local_, std::memory_order_relaxed);
      local_ = 0;
    }
    std::shared_ptr<std::atomic<std::uint64_t>> c_;
    std::uint64_t local_ = 0;
  };
  return [counter] { return std::make_unique<Impl>(counter); };
}

/// Prints `format(record)` as a line on stdout.
template <class T, class Format>
SinkFactory<T> print(Format format) {
  return for_each<T>([format](T&& v, Timestamp) {
    const std::string line = format(v);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
  });
}

namespace detail {
/// The non-template part of the transactional file sink (src/stream/file_sink.cpp).
class TransactionalFiles {
 public:
  TransactionalFiles(std::filesystem::path dir, std::string prefix);
  ~TransactionalFiles();
  Result<void> open(std::uint32_t subtask);
  Result<void> write_line(std::string_view line);
  /// Closes the open part file as pending for checkpoint `id`.
  Result<void> prepare(CheckpointId id, Writer& state);
  /// Publishes every pending part of checkpoints <= id.
  void commit(CheckpointId id);
  /// End of input: publishes everything written.
  Result<void> commit_all();
  /// After a restart: publishes the parts the restored checkpoint had prepared, drops the rest.
  Result<void> recover(std::span<const std::vector<std::byte>> blobs);

 private:
  struct Part {
    CheckpointId checkpoint;
    std::string name;
  };
  Result<void> roll();
  [[nodiscard]] std::string part_name(std::uint64_t seq) const;

  std::filesystem::path dir_;
  std::string prefix_;
  std::uint32_t subtask_ = 0;
  std::FILE* file_ = nullptr;
  std::string current_;
  std::uint64_t seq_ = 0;
  std::vector<Part> pending_;
};
}  // namespace detail

/// Writes `format(record)` lines into `dir`/<prefix>-<subtask>-<seq>; a part becomes visible
/// (renamed from .pending) only when its checkpoint completes, so after any crash and restore the
/// visible files hold each record exactly once.
template <class T, class Format>
SinkFactory<T> transactional_files(std::filesystem::path dir, std::string prefix, Format format) {
  class Impl final : public Sink<T> {
   public:
    Impl(std::filesystem::path dir, std::string prefix, Format format)
        : files_(std::move(dir), std::move(prefix)), format_(std::move(format)) {}
    void open(OperatorContext& ctx) override {
      Sink<T>::open(ctx);
      error_ = files_.open(ctx.subtask());
    }
    void emit(T&& v, Timestamp) override {
      if (!error_) return;
      error_ = files_.write_line(format_(v));
    }
    void finish() override {
      if (error_) error_ = files_.commit_all();
    }
    [[nodiscard]] bool has_state() const override { return true; }
    Result<void> snapshot(CheckpointId id, Writer& w) override {
      if (!error_) return error_;
      return files_.prepare(id, w);
    }
    Result<void> restore(std::span<const std::vector<std::byte>> blobs) override {
      const auto me = this->ctx().subtask();
      if (me >= blobs.size()) return {};
      return files_.recover(blobs.subspan(me, 1));
    }
    void notify_checkpoint_complete(CheckpointId id) override { files_.commit(id); }

   private:
    detail::TransactionalFiles files_;
    Format format_;
    Result<void> error_;
  };
  return [dir, prefix, format] { return std::make_unique<Impl>(dir, prefix, format); };
}

}  // namespace weft::stream
