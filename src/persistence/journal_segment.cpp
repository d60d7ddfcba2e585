#include "persistence/journal_segment.hpp"

#include <algorithm>

#include "persistence/journal_keys.hpp"
#include "persistence/journal_record.hpp"

namespace weft::persistence {

namespace {

void put_crc(std::string& out, std::size_t start) {
  const std::uint32_t crc = crc32c(0, std::string_view(out).substr(start));
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(crc >> (8 * i)));
}

// Splits `bytes` into body and trailing CRC; false if too short or the CRC does not match.
bool check_crc(std::string_view bytes, std::string_view& body) {
  if (bytes.size() < 4) return false;
  body = bytes.substr(0, bytes.size() - 4);
  std::uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) {
    stored |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes[body.size() + i]))
              << (8 * i);
  }
  return crc32c(0, body) == stored;
}

}  // namespace

void put_segment_entry(std::string& out, std::string_view persistence_id, std::uint64_t seq,
                       std::string_view record) {
  put_bytes(out, persistence_id);
  put_varint(out, seq);
  put_bytes(out, record);
}

void encode_segment_header(std::string& out, std::uint64_t first_offset, std::uint64_t count,
                           const ManifestDefinitions& manifests) {
  out.push_back(static_cast<char>(kSegmentFormat));
  put_varint(out, first_offset);
  put_varint(out, manifests.names.size());
  if (!manifests.names.empty()) {
    put_varint(out, manifests.first_id);
    for (auto name : manifests.names) put_bytes(out, name);
  }
  put_varint(out, count);
}

void encode_segment_trailer(std::string& out, std::uint32_t crc) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(crc >> (8 * i)));
}

void encode_segment(std::string& out, std::uint64_t first_offset, std::uint64_t count,
                    std::string_view entries, const ManifestDefinitions& manifests) {
  const std::size_t start = out.size();
  encode_segment_header(out, first_offset, count, manifests);
  out.append(entries);
  put_crc(out, start);
}

Result<SegmentHeader> decode_segment(
    std::string_view segment, std::uint64_t segment_no,
    const std::function<Result<void>(const SegmentEntry&)>& entry,
    const std::function<Result<void>(const ManifestDefinitions&)>& manifests) {
  auto damaged = [&](const std::string& why) {
    return fail(Errc::corrupted, "journal log segment " + std::to_string(segment_no) + ": " + why);
  };
  std::string_view body;
  if (!check_crc(segment, body)) return damaged("checksum mismatch");
  const auto format = body.empty() ? 0 : static_cast<std::uint8_t>(body[0]);
  if (format != 1 && format != kSegmentFormat) return damaged("unknown segment format");
  std::size_t pos = 1;
  SegmentHeader h;
  auto first = get_varint(body, pos);
  if (!first) return damaged("bad header");
  if (format == kSegmentFormat) {
    auto defined = get_varint(body, pos);
    // Every name takes at least its length byte: a count beyond what remains is damage.
    if (!defined || *defined > body.size() - pos) return damaged("bad manifest count");
    ManifestDefinitions defs;
    if (*defined > 0) {
      auto first_id = get_varint(body, pos);
      if (!first_id) return damaged("bad first manifest id");
      defs.first_id = *first_id;
      defs.names.reserve(*defined);
      for (std::uint64_t i = 0; i < *defined; ++i) {
        auto name = get_bytes(body, pos);
        if (!name) return damaged("manifest " + std::to_string(*first_id + i) + " is truncated");
        defs.names.push_back(*name);
      }
    }
    if (manifests && !defs.names.empty()) {
      if (auto r = manifests(defs); !r) return std::unexpected(r.error());
    }
  }
  auto count = get_varint(body, pos);
  if (!count) return damaged("bad header");
  h.first_offset = *first;
  h.count = *count;
  for (std::uint64_t i = 0; i < h.count; ++i) {
    SegmentEntry e;
    auto pid = get_bytes(body, pos);
    auto seq = pid ? get_varint(body, pos) : std::nullopt;
    auto rec = seq ? get_bytes(body, pos) : std::nullopt;
    if (!rec) return damaged("entry " + std::to_string(i) + " is truncated");
    e.persistence_id = *pid;
    e.sequence_nr = *seq;
    e.record = *rec;
    if (auto r = entry(e); !r) return std::unexpected(r.error());
  }
  if (pos != body.size()) return damaged(std::to_string(body.size() - pos) + " trailing bytes");
  return h;
}

namespace {

constexpr std::string_view kLogMagic = "WEFTWLOG";
constexpr std::size_t kLogHeaderFields = 28;  // magic, format, first, salt: what its CRC covers

void put_le(std::string& out, std::uint64_t v, int width) {
  for (int i = 0; i < width; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

std::uint64_t get_le(std::string_view bytes, std::size_t pos, int width) {
  std::uint64_t v = 0;
  for (int i = 0; i < width; ++i) {
    v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(bytes[pos + i])) << (8 * i);
  }
  return v;
}

// CRC32C of the salt, continued over a frame's first 12 header bytes.
std::uint32_t frame_header_crc(std::uint64_t salt, std::string_view twelve) {
  char s[8];
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(salt >> (8 * i));
  return crc32c(crc32c(0, std::string_view(s, 8)), twelve);
}

}  // namespace

void encode_log_header(std::string& out, std::uint64_t first, std::uint64_t salt) {
  const std::size_t start = out.size();
  out.append(kLogMagic);
  put_le(out, kLogFileFormat, 4);
  put_le(out, first, 8);
  put_le(out, salt, 8);
  put_le(out, crc32c(0, std::string_view(out).substr(start)), 4);
  out.resize(start + kLogHeaderPage, '\0');
}

void encode_frame_header(std::string& out, std::uint64_t salt, std::uint64_t segment_no,
                         std::uint32_t length) {
  const std::size_t start = out.size();
  put_le(out, segment_no, 8);
  put_le(out, length, 4);
  put_le(out, frame_header_crc(salt, std::string_view(out).substr(start)), 4);
}

std::optional<std::uint64_t> unsalted_log_last(std::string_view bytes, std::uint64_t first) {
  std::optional<std::uint64_t> last;
  std::uint64_t expected = first;
  std::size_t at = 0;
  while (bytes.size() - at >= kLogFrameHeader) {
    const std::string_view h = bytes.substr(at, kLogFrameHeader);
    if (get_le(h, 0, 8) != expected || crc32c(0, h.substr(0, 12)) != get_le(h, 12, 4)) break;
    // An intact header counts even if its segment runs past the end (a prefix of the file, or
    // a torn write): counting it can only make the file look less folded.
    last = expected++;
    const std::uint64_t length = get_le(h, 8, 4);
    if (length > bytes.size() - at - kLogFrameHeader) break;
    const std::size_t size = frame_size(static_cast<std::size_t>(length));
    if (size > bytes.size() - at) break;
    at += size;
  }
  return last;
}

namespace {

// The header page of `bytes`, judged against the file's first segment.
FrameScan read_log_header(std::string_view bytes, std::uint64_t first) {
  FrameScan scan;
  scan.next = first;
  const std::string_view page = bytes.substr(0, std::min(bytes.size(), kLogHeaderPage));
  if (page.find_first_not_of('\0') == std::string_view::npos) return scan;  // missing
  scan.header = FrameScan::Header::damaged;
  if (unsalted_log_last(page, first)) {
    scan.header = FrameScan::Header::unsalted;
    return scan;
  }
  if (page.size() < kLogHeaderFields + 4 || !page.starts_with(kLogMagic) ||
      get_le(page, kLogMagic.size(), 4) != kLogFileFormat ||
      crc32c(0, page.substr(0, kLogHeaderFields)) != get_le(page, kLogHeaderFields, 4)) {
    return scan;
  }
  if (get_le(page, 12, 8) != first) {
    scan.header = FrameScan::Header::other_first;
    return scan;
  }
  scan.header = FrameScan::Header::valid;
  scan.salt = get_le(page, 20, 8);
  scan.end = kLogHeaderPage;
  return scan;
}

struct FrameAt {
  // stale: not a frame of this use (its header checksum fails under the use's salt).
  enum class State { intact, end, stale, damaged } state = State::end;
  std::uint64_t segment_no = 0;
  std::string_view segment;
  std::string why;
};

// The frame at `pos`, judged against the number it should carry; its segment's checksum is
// checked unless `header_only`.
FrameAt frame_at(std::string_view bytes, std::size_t pos, std::uint64_t salt,
                 std::uint64_t expected, bool header_only = false) {
  FrameAt f;
  if (pos + kLogFrameHeader > bytes.size()) return f;
  const std::string_view header = bytes.substr(pos, kLogFrameHeader);
  if (header.find_first_not_of('\0') == std::string_view::npos) return f;
  if (frame_header_crc(salt, header.substr(0, 12)) != get_le(header, 12, 4)) {
    f.state = FrameAt::State::stale;
    return f;
  }
  f.state = FrameAt::State::damaged;
  f.segment_no = get_le(header, 0, 8);
  const auto length = static_cast<std::size_t>(get_le(header, 8, 4));
  if (f.segment_no != expected) {
    f.why = "frame of segment " + std::to_string(f.segment_no) + " where " +
            std::to_string(expected) + " was expected";
    return f;
  }
  if (length > bytes.size() - pos - kLogFrameHeader) {
    f.why = "frame of " + std::to_string(length) + " bytes runs past the end of the file";
    return f;
  }
  std::string_view body;
  if (!header_only && !check_crc(bytes.substr(pos + kLogFrameHeader, length), body)) {
    f.why = "segment " + std::to_string(f.segment_no) + " checksum mismatch";
    return f;
  }
  f.state = FrameAt::State::intact;
  f.segment = bytes.substr(pos + kLogFrameHeader, length);
  return f;
}

}  // namespace

Result<FrameScan> scan_frames(
    std::string_view bytes, std::uint64_t first, std::string_view file,
    const std::function<Result<void>(std::uint64_t, std::string_view)>& frame,
    std::uint64_t skip_through) {
  FrameScan scan = read_log_header(bytes, first);
  if (scan.header != FrameScan::Header::valid) return scan;
  for (;;) {
    const bool skip = scan.next <= skip_through;
    FrameAt f = frame_at(bytes, scan.end, scan.salt, scan.next, skip);
    if (f.state == FrameAt::State::end) return scan;
    if (f.state != FrameAt::State::intact) {
      // The frames of this use end here, unless an intact frame of this use, numbered at or
      // above the expected one, follows: then the damage is in the middle. Frames of earlier
      // uses never pass their header checksum under this use's salt.
      for (std::size_t pos = scan.end + kLogFrameAlign; pos + kLogFrameHeader <= bytes.size();
           pos += kLogFrameAlign) {
        const std::uint64_t no = get_le(bytes, pos, 8);
        if (no >= scan.next &&
            frame_at(bytes, pos, scan.salt, no).state == FrameAt::State::intact) {
          const std::string why = f.state == FrameAt::State::stale
                                      ? std::string("frame header checksum mismatch")
                                      : f.why;
          return fail(Errc::corrupted, "journal log file '" + std::string(file) +
                                           "': damaged frame at byte " + std::to_string(scan.end) +
                                           " (" + why + "), but segment " + std::to_string(no) +
                                           " follows intact at byte " + std::to_string(pos));
        }
      }
      if (f.state == FrameAt::State::stale) {
        scan.stale = true;
      } else {
        scan.torn = std::move(f.why);
      }
      return scan;
    }
    if (!skip) {
      if (auto r = frame(f.segment_no, f.segment); !r) return std::unexpected(r.error());
    }
    ++scan.next;
    scan.end += frame_size(f.segment.size());
  }
}

void encode_chunk(std::string& out, std::span<const std::string_view> records) {
  put_varint(out, records.size());
  for (auto r : records) out.append(r);
}

std::optional<std::uint64_t> chunk_count(std::string_view chunk) {
  std::size_t pos = 0;
  return get_varint(chunk, pos);
}

Error chunk_damage(std::string_view persistence_id, std::uint64_t first_seq, std::string_view why) {
  return Error(Errc::corrupted, "journal chunk of '" + std::string(persistence_id) +
                                    "' from sequence " + std::to_string(first_seq) + ": " +
                                    std::string(why));
}

void encode_tag_chunk(std::string& out, std::uint64_t first_offset,
                      const std::vector<TagEntry>& entries) {
  const std::size_t start = out.size();
  put_varint(out, entries.size());
  std::uint64_t prev = first_offset - 1;
  for (const auto& e : entries) {
    put_varint(out, e.offset - prev);
    prev = e.offset;
    put_bytes(out, e.persistence_id);
    put_varint(out, e.sequence_nr);
  }
  put_crc(out, start);
}

Result<std::vector<TagEntry>> decode_tag_chunk(std::string_view chunk, std::string_view tag,
                                               std::uint64_t first_offset) {
  auto damaged = [&](const std::string& why) {
    return fail(Errc::corrupted, "tag index chunk of '" + std::string(tag) + "' from offset " +
                                     std::to_string(first_offset) + ": " + why);
  };
  std::string_view body;
  if (!check_crc(chunk, body)) return damaged("checksum mismatch");
  std::size_t pos = 0;
  auto count = get_varint(body, pos);
  if (!count || *count > body.size()) return damaged("bad entry count");
  std::vector<TagEntry> out;
  out.reserve(*count);
  std::uint64_t prev = first_offset - 1;
  for (std::uint64_t i = 0; i < *count; ++i) {
    auto delta = get_varint(body, pos);
    auto pid = delta ? get_bytes(body, pos) : std::nullopt;
    auto seq = pid ? get_varint(body, pos) : std::nullopt;
    if (!seq || *delta == 0 || prev + *delta < prev) {
      return damaged("entry " + std::to_string(i) + " does not decode");
    }
    prev += *delta;
    out.push_back(TagEntry{prev, std::string(*pid), *seq});
  }
  if (pos != body.size()) return damaged(std::to_string(body.size() - pos) + " trailing bytes");
  if (!out.empty() && out.front().offset != first_offset) return damaged("first offset mismatch");
  return out;
}

}  // namespace weft::persistence
