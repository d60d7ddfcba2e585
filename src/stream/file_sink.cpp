#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>
#include <system_error>

#include "weft/stream/sinks.hpp"

namespace weft::stream::detail {

namespace fs = std::filesystem;

TransactionalFiles::TransactionalFiles(fs::path dir, std::string prefix)
    : dir_(std::move(dir)), prefix_(std::move(prefix)) {}

TransactionalFiles::~TransactionalFiles() {
  if (file_ != nullptr) std::fclose(file_);
}

std::string TransactionalFiles::part_name(std::uint64_t seq) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08llu", static_cast<unsigned long long>(seq));
  return prefix_ + "-" + std::to_string(subtask_) + "-" + buf;
}

Result<void> TransactionalFiles::open(std::uint32_t subtask) {
  subtask_ = subtask;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return fail(Errc::io, "cannot create " + dir_.string() + ": " + ec.message());
  // Parts already published by an earlier run keep their numbers; continue after them.
  const std::string mine = prefix_ + "-" + std::to_string(subtask_) + "-";
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const auto name = e.path().filename().string();
    if (!name.starts_with(mine)) continue;
    try {
      seq_ = std::max<std::uint64_t>(seq_, std::stoull(name.substr(mine.size())) + 1);
    } catch (...) {
    }
  }
  return {};
}

Result<void> TransactionalFiles::roll() {
  current_ = part_name(seq_++);
  const auto path = dir_ / (current_ + ".inprogress");
  file_ = std::fopen(path.c_str(), "wb");
  if (file_ == nullptr) {
    return fail(Errc::io, "cannot create " + path.string() + ": " + std::strerror(errno));
  }
  return {};
}

Result<void> TransactionalFiles::write_line(std::string_view line) {
  if (file_ == nullptr) {
    if (auto r = roll(); !r) return r;
  }
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() ||
      std::fputc('\n', file_) == EOF) {
    return fail(Errc::io, "cannot write " + current_ + ": " + std::strerror(errno));
  }
  return {};
}

Result<void> TransactionalFiles::prepare(CheckpointId id, Writer& state) {
  if (file_ != nullptr) {
    const bool flushed = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
    std::fclose(file_);
    file_ = nullptr;
    if (!flushed) return fail(Errc::io, "cannot sync " + current_ + ": " + std::strerror(errno));
    std::error_code ec;
    fs::rename(dir_ / (current_ + ".inprogress"), dir_ / (current_ + ".pending"), ec);
    if (ec) return fail(Errc::io, "cannot prepare " + current_ + ": " + ec.message());
    pending_.push_back(Part{id, current_});
  }
  state.put_varint(seq_);
  state.put_varint(pending_.size());
  for (const auto& p : pending_) {
    state.put_varint(p.checkpoint);
    state.put_varint(p.name.size());
    state.put_bytes(std::as_bytes(std::span(p.name.data(), p.name.size())));
  }
  return {};
}

void TransactionalFiles::commit(CheckpointId id) {
  std::erase_if(pending_, [&](const Part& p) {
    if (p.checkpoint > id) return false;
    std::error_code ec;
    fs::rename(dir_ / (p.name + ".pending"), dir_ / p.name, ec);
    return true;
  });
}

Result<void> TransactionalFiles::commit_all() {
  if (file_ != nullptr) {
    std::fflush(file_);
    ::fsync(fileno(file_));
    std::fclose(file_);
    file_ = nullptr;
    std::error_code ec;
    fs::rename(dir_ / (current_ + ".inprogress"), dir_ / current_, ec);
    if (ec) return fail(Errc::io, "cannot publish " + current_ + ": " + ec.message());
  }
  commit(std::numeric_limits<CheckpointId>::max());
  return {};
}

Result<void> TransactionalFiles::recover(std::span<const std::vector<std::byte>> blobs) {
  std::vector<Part> prepared;
  std::optional<std::uint64_t> restored_seq;  // the first part written after the checkpoint
  for (const auto& blob : blobs) {
    if (blob.empty()) continue;
    Reader r(blob);
    auto seq = r.varint();
    if (!seq) return std::unexpected(seq.error());
    restored_seq = *seq;
    auto n = r.varint();
    if (!n) return std::unexpected(n.error());
    for (std::uint64_t i = 0; i < *n; ++i) {
      auto id = r.varint();
      if (!id) return std::unexpected(id.error());
      auto len = r.varint();
      if (!len) return std::unexpected(len.error());
      auto bytes = r.bytes(*len);
      if (!bytes) return std::unexpected(bytes.error());
      prepared.push_back(
          Part{*id, std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size())});
    }
  }
  // Everything the restored checkpoint prepared was covered by it: publish. Anything else of
  // this subtask that is not published was written after it and will be written again.
  for (const auto& p : prepared) {
    std::error_code ec;
    if (fs::exists(dir_ / (p.name + ".pending"))) {
      fs::rename(dir_ / (p.name + ".pending"), dir_ / p.name, ec);
    }
  }
  const std::string mine = prefix_ + "-" + std::to_string(subtask_) + "-";
  std::error_code ec;
  std::vector<fs::path> stale;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const auto name = e.path().filename().string();
    if (!name.starts_with(mine)) continue;
    if (name.ends_with(".pending") || name.ends_with(".inprogress")) {
      stale.push_back(e.path());
      continue;
    }
    // A part published although written after the restored checkpoint: only the end of input
    // publishes without a checkpoint (commit_all), so the process died after that and before the
    // job was recorded finished (or an older checkpoint is restored on purpose). The replay
    // writes its records again: withdrawn, or they would be there twice.
    std::uint64_t seq = 0;
    const auto digits = std::string_view(name).substr(mine.size());
    const auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
    if (restored_seq && err == std::errc() && end == digits.data() + digits.size() &&
        seq >= *restored_seq) {
      stale.push_back(e.path());
    }
  }
  for (const auto& p : stale) fs::remove(p, ec);
  return {};
}

}  // namespace weft::stream::detail
