// The containers of journal records (docs/journal-format.md): a log segment holds one group
// commit; a chunk holds consecutive events of one persistence id; a tag chunk holds index
// entries of one tag. Dependency-light (weft_core only) so the fuzz target can compile it in.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/journal_keys.hpp"
#include "weft/core/result.hpp"

namespace weft::persistence {

inline constexpr std::uint8_t kSegmentFormat = 1;

/// One entry of a log segment: an event of `persistence_id` at `sequence_nr`, its record
/// (journal_record.hpp) as stored.
struct SegmentEntry {
  std::string_view persistence_id;
  std::uint64_t sequence_nr = 0;
  std::string_view record;
};

/// Appends an entry (varint len ‖ pid ‖ varint seq ‖ varint len ‖ record) to `out`.
void put_segment_entry(std::string& out, std::string_view persistence_id, std::uint64_t seq,
                       std::string_view record);

/// A log segment: u8 format ‖ varint first tag offset ‖ varint entry count ‖ entries ‖
/// u32le CRC32C of every byte before it. `entries` is the concatenation of put_segment_entry.
void encode_segment(std::string& out, std::uint64_t first_offset, std::uint64_t count,
                    std::string_view entries);
/// The same in pieces, so the writer need not copy entries into one buffer: the header, then
/// the entries (the CRC continues over them), then the trailer with the CRC.
void encode_segment_header(std::string& out, std::uint64_t first_offset, std::uint64_t count);
void encode_segment_trailer(std::string& out, std::uint32_t crc);

struct SegmentHeader {
  std::uint64_t first_offset = 0;
  std::uint64_t count = 0;
};

/// Verifies and walks a segment, calling `entry` for each; Errc::corrupted naming the segment
/// on any damage (checksum, framing, count). Never aborts.
[[nodiscard]] Result<SegmentHeader> decode_segment(
    std::string_view segment, std::uint64_t segment_no,
    const std::function<Result<void>(const SegmentEntry&)>& entry);

/// A chunk: varint count ‖ (varint len ‖ record)*, the records of consecutive sequence
/// numbers from the one in its key. `records` is the (varint len ‖ record)* part.
void encode_chunk(std::string& out, std::uint64_t count, std::string_view records);

/// The error of a chunk whose framing is damaged: Errc::corrupted naming the persistence id
/// and the chunk's first sequence number.
[[nodiscard]] Error chunk_damage(std::string_view persistence_id, std::uint64_t first_seq,
                                 std::string_view why);

/// Walks a chunk's records; `record(seq, bytes)` returns false to stop early. Errc::corrupted
/// naming the persistence id and first sequence on framing damage (records verify themselves).
/// A template: replays call it for every event, and an indirect call per record showed.
template <class F>
[[nodiscard]] Result<void> walk_chunk(std::string_view chunk, std::string_view persistence_id,
                                      std::uint64_t first_seq, F&& record) {
  std::size_t pos = 0;
  auto count = get_varint(chunk, pos);
  if (!count || *count > chunk.size()) {
    return std::unexpected(chunk_damage(persistence_id, first_seq, "bad record count"));
  }
  for (std::uint64_t i = 0; i < *count; ++i) {
    auto rec = get_bytes(chunk, pos);
    if (!rec) {
      return std::unexpected(chunk_damage(
          persistence_id, first_seq, "record " + std::to_string(first_seq + i) + " is truncated"));
    }
    if (!record(first_seq + i, *rec)) return {};
  }
  if (pos != chunk.size()) {
    return std::unexpected(chunk_damage(persistence_id, first_seq,
                                        std::to_string(chunk.size() - pos) + " trailing bytes"));
  }
  return {};
}

/// The number of records a chunk claims; nullopt if its header does not decode.
[[nodiscard]] std::optional<std::uint64_t> chunk_count(std::string_view chunk);

/// One entry of the tag index: the event at (pid, seq) carries the tag, at this global offset.
struct TagEntry {
  std::uint64_t offset = 0;
  std::string persistence_id;
  std::uint64_t sequence_nr = 0;
};

/// A tag chunk: varint count ‖ (varint offset delta ‖ varint len ‖ pid ‖ varint seq)* ‖
/// u32le CRC32C. The first delta is from the offset in the key minus one; offsets ascend.
void encode_tag_chunk(std::string& out, std::uint64_t first_offset,
                      const std::vector<TagEntry>& entries);
[[nodiscard]] Result<std::vector<TagEntry>> decode_tag_chunk(std::string_view chunk,
                                                             std::string_view tag,
                                                             std::uint64_t first_offset);

}  // namespace weft::persistence
