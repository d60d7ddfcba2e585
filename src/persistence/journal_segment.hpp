// The containers of journal records (docs/journal-format.md): a log segment holds one group
// commit; a chunk holds consecutive events of one persistence id; a tag chunk holds index
// entries of one tag. Dependency-light (weft_core only) so the fuzz target can compile it in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/journal_keys.hpp"
#include "weft/core/result.hpp"

namespace weft::persistence {

/// Format 2 adds the manifest definitions of the records that follow (format 1, without them,
/// is still read).
inline constexpr std::uint8_t kSegmentFormat = 2;

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

/// Manifests a segment defines (ids first_id, first_id + 1, ...) for the records in it and
/// after it: the journal's manifest registry as it grows.
struct ManifestDefinitions {
  std::uint64_t first_id = 0;
  std::vector<std::string_view> names;
};

/// A log segment: u8 format(2) ‖ varint first tag offset ‖ varint manifest count ‖
/// [varint first manifest id ‖ (varint len ‖ name)*, when the count is not 0] ‖ varint entry
/// count ‖ entries ‖ u32le CRC32C of every byte before it. `entries` is the concatenation of
/// put_segment_entry.
void encode_segment(std::string& out, std::uint64_t first_offset, std::uint64_t count,
                    std::string_view entries, const ManifestDefinitions& manifests = {});
/// The same in pieces, so the writer need not copy entries into one buffer: the header, then
/// the entries (the CRC continues over them), then the trailer with the CRC.
void encode_segment_header(std::string& out, std::uint64_t first_offset, std::uint64_t count,
                           const ManifestDefinitions& manifests = {});
void encode_segment_trailer(std::string& out, std::uint32_t crc);

struct SegmentHeader {
  std::uint64_t first_offset = 0;
  std::uint64_t count = 0;
};

/// Verifies and walks a segment: `manifests` (when set) gets its manifest definitions first,
/// then `entry` each entry; Errc::corrupted naming the segment on any damage (checksum,
/// framing, count), or the callbacks' errors. Never aborts.
[[nodiscard]] Result<SegmentHeader> decode_segment(
    std::string_view segment, std::uint64_t segment_no,
    const std::function<Result<void>(const SegmentEntry&)>& entry,
    const std::function<Result<void>(const ManifestDefinitions&)>& manifests = nullptr);

/// A log file (docs/journal-format.md, "Log files") is, for each use, a header page and then a
/// run of frames, each one segment. The header page: "WEFTWLOG" ‖ u32le format ‖ u64le first
/// segment number ‖ u64le salt ‖ u32le CRC32C of those 28 bytes ‖ zeros up to kLogFrameAlign.
/// A frame: u64le segment number ‖ u32le segment length ‖ u32le CRC32C of the salt (u64le) and
/// those 12 bytes ‖ the segment ‖ zeros up to the next multiple of kLogFrameAlign. Frames start
/// aligned, so a reader can look for intact frames after a damaged one; the salt, drawn at
/// random for each use of a file, keeps the bytes left from an earlier use from ever reading as
/// frames of this one.
inline constexpr std::size_t kLogFrameHeader = 16;
inline constexpr std::size_t kLogFrameAlign = 4096;
inline constexpr std::size_t kLogHeaderPage = kLogFrameAlign;
inline constexpr std::uint32_t kLogFileFormat = 1;

/// Appends a header page (kLogHeaderPage bytes) for a use of a file from segment `first`.
void encode_log_header(std::string& out, std::uint64_t first, std::uint64_t salt);
/// Appends a frame header, under the file use's `salt`, for a segment of `length` bytes
/// numbered `segment_no`.
void encode_frame_header(std::string& out, std::uint64_t salt, std::uint64_t segment_no,
                         std::uint32_t length);
/// The size a frame of a `length`-byte segment takes in its file, padding included.
[[nodiscard]] constexpr std::size_t frame_size(std::size_t length) {
  return (kLogFrameHeader + length + kLogFrameAlign - 1) / kLogFrameAlign * kLogFrameAlign;
}

/// What a scan of one log file found.
struct FrameScan {
  /// Whether the file holds a use's header page naming the file's first segment; if not, the
  /// file holds no frames (it was taken into use, and a crash came before its first frame).
  /// unsalted: no header page, but a frame of the format before salts, numbered `first`, at
  /// byte 0 (a file written before header pages; not read).
  enum class Header { valid, missing, damaged, other_first, unsalted } header = Header::missing;
  std::uint64_t salt = 0;  // of the file's current use, when the header is valid
  std::uint64_t next = 0;  // the segment number expected after the last intact frame
  std::size_t end = 0;     // byte offset just past the last intact frame (aligned); 0: no header
  /// The frames end at bytes not written as a frame of this use (left from the file's earlier
  /// use, or a frame header a crash tore): the normal end of a reused file.
  bool stale = false;
  std::string torn;  // non-empty: a damaged frame of this use at `end`, nothing intact after it
};

/// Walks one log file's bytes, whose first frame is segment `first`: a header page naming
/// `first`, then frames numbered first, first+1, ..., each intact one (header checksum under
/// the header page's salt, then the segment's own trailing checksum) going to
/// `frame(segment_no, segment)`; its error stops the scan. Without a valid header page naming
/// `first` the file holds no frames (FrameScan::header says why). The scan ends cleanly at
/// zeros, at the end of the bytes, or at a frame header whose checksum fails under the salt
/// (FrameScan::stale). A frame of this use that is damaged (wrong number, length past the end,
/// segment checksum) is a torn tail (a crash during that write, which was therefore never
/// acknowledged), reported in FrameScan::torn. Either way, an intact frame of this use numbered
/// at or above the expected one further on makes it corruption in the middle: Errc::corrupted
/// naming `file` and both byte offsets. Frames numbered up to `skip_through` (already folded)
/// are only stepped over: their headers are checked, not their segments. Never aborts.
[[nodiscard]] Result<FrameScan> scan_frames(
    std::string_view bytes, std::uint64_t first, std::string_view file,
    const std::function<Result<void>(std::uint64_t, std::string_view)>& frame,
    std::uint64_t skip_through = 0);

/// For a log file of the format before header pages (frames from byte 0, frame header checksum
/// over the 12 header bytes alone): the number of its last frame whose header is intact,
/// walking from `first`; nullopt if `bytes` does not start with such a frame header. Only the
/// headers are checked: this tells whether everything in the file is folded, it reads no
/// segment (a header whose segment runs past the end of `bytes` still counts).
[[nodiscard]] std::optional<std::uint64_t> unsalted_log_last(std::string_view bytes,
                                                             std::uint64_t first);

/// A chunk: varint count ‖ (varint len ‖ record)*, the records of consecutive sequence
/// numbers from the one in its key. Each of `records` is one (varint len ‖ record).
void encode_chunk(std::string& out, std::span<const std::string_view> records);

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
