// Key encodings of the journal's column families (docs/journal-format.md). Keys sort in the
// order they are read: a persistence id's events by sequence number, a tag's entries by
// global offset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace weft::persistence {

/// journal CF: varint(len) ‖ pid ‖ 0x00 ‖ big-endian u64 seq. The length prefix means no
/// pid is a prefix of another's key range, whatever bytes the pids contain.
void put_journal_key(std::string& out, std::string_view persistence_id, std::uint64_t seq);
[[nodiscard]] std::string journal_key(std::string_view persistence_id, std::uint64_t seq);
/// The smallest key after every key of `persistence_id` (an exclusive upper bound).
[[nodiscard]] std::string journal_key_end(std::string_view persistence_id);

struct JournalKey {
  std::string_view persistence_id;
  std::uint64_t sequence_nr = 0;
};
[[nodiscard]] std::optional<JournalKey> decode_journal_key(std::string_view key);

/// tags CF: varint(len) ‖ tag ‖ 0x00 ‖ big-endian u64 first global offset of a tag chunk.
[[nodiscard]] std::string tag_key(std::string_view tag, std::uint64_t offset);
[[nodiscard]] std::string tag_key_end(std::string_view tag);
[[nodiscard]] std::optional<std::uint64_t> tag_key_offset(std::string_view key);

/// meta CF, per persistence id: 'p' ‖ pid → varint highest ‖ varint epoch ‖ varint deleted_to,
/// as of the last fold (events in the log after it may be newer); deleted_to is always exact.
struct PidMeta {
  std::uint64_t highest = 0;
  std::uint64_t epoch = 0;
  std::uint64_t deleted_to = 0;
};
inline constexpr char kMetaPidPrefix = 'p';
[[nodiscard]] std::string meta_pid_key(std::string_view persistence_id);
[[nodiscard]] std::string encode_pid_meta(const PidMeta& meta);
[[nodiscard]] std::optional<PidMeta> decode_pid_meta(std::string_view value);

/// meta CF, global: "o" → big-endian u64, the highest tag offset folded; "f" → big-endian u64,
/// the last log segment folded into chunks (segments up to it are deleted).
inline constexpr std::string_view kMetaOffsetKey = "o";
inline constexpr std::string_view kMetaFoldedKey = "f";
/// meta CF, the manifest registry: 'm' ‖ big-endian u64 id → the manifest's name, for every id
/// defined in the log up to the last fold (records of format 3 store the id).
inline constexpr char kMetaManifestPrefix = 'm';
[[nodiscard]] std::string encode_u64_be(std::uint64_t v);
[[nodiscard]] std::optional<std::uint64_t> decode_u64_be(std::string_view bytes);

/// Little helpers shared by the key and record encodings.
inline void put_varint(std::string& out, std::uint64_t v) {
  char buf[10];
  std::size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out.append(buf, n);
}
/// Reads a canonical varint at `pos`, advancing it; nullopt if truncated or non-canonical.
/// Always inline: a replay reads about eight per event, and an optional returned from a call
/// goes through memory (get_bytes' 24 bytes were stored in two halves and loaded back as one:
/// a stalled store forward per field, ~60% of decode_record_view's samples in a recovery).
[[nodiscard]] [[gnu::always_inline]] inline std::optional<std::uint64_t> get_varint(
    std::string_view in, std::size_t& pos) {
  std::uint64_t value = 0;
  for (unsigned i = 0; i < 10; ++i) {
    if (pos >= in.size()) return std::nullopt;
    const auto b = static_cast<std::uint8_t>(in[pos++]);
    if (i == 9 && b > 1) return std::nullopt;
    value |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      if (b == 0 && i > 0) return std::nullopt;
      return value;
    }
  }
  return std::nullopt;
}
/// varint(len) ‖ bytes, and reading it back (nullopt if truncated).
void put_bytes(std::string& out, std::string_view bytes);
[[nodiscard]] [[gnu::always_inline]] inline std::optional<std::string_view> get_bytes(
    std::string_view in, std::size_t& pos) {
  auto n = get_varint(in, pos);
  if (!n || *n > in.size() - pos) return std::nullopt;
  auto out = in.substr(pos, *n);
  pos += *n;
  return out;
}

}  // namespace weft::persistence
