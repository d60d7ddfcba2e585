// Decodes arbitrary bytes as journal keys, pid metadata, record values (both formats: by
// manifest name, by manifest id), log segments (with their manifest definitions), log files
// (frames), chunks and tag chunks.
// Decoding must never crash; a record that decodes must re-encode to exactly its input.
// The decoders are compiled in directly: they depend on weft_core only.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../src/persistence/journal_keys.cpp"
#include "../src/persistence/journal_record.cpp"
#include "../src/persistence/journal_segment.cpp"
#include "../src/persistence/manifest_registry.cpp"

using namespace weft::persistence;

namespace {

std::uint64_t le(std::string_view bytes, std::size_t pos, int width) {
  std::uint64_t v = 0;
  for (int i = 0; i < width; ++i) {
    v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(bytes[pos + i])) << (8 * i);
  }
  return v;
}

// A random header page or frame header checksum almost never matches, so the input is also
// scanned as a log file whose header page is valid, salted with the input's first 8 bytes, the
// rest following it. At each page, the low bits of the stored frame header checksum choose
// whether that checksum is made valid under the salt (bit 0), and then the segment's own
// trailing checksum too (bit 1): frames of this use, torn ones and stale ones all get walked.
void scan_salted(std::string_view in) {
  if (in.size() < 8) return;
  const std::uint64_t salt = le(in, 0, 8);
  std::string file;
  encode_log_header(file, 1, salt);
  file.append(in.substr(8));
  for (std::size_t pos = kLogHeaderPage; pos + kLogFrameHeader <= file.size();
       pos += kLogFrameAlign) {
    const auto mode = static_cast<std::uint8_t>(file[pos + 12]);
    if ((mode & 1) == 0) continue;
    const std::uint64_t no = le(file, pos, 8);
    const auto length = static_cast<std::uint32_t>(le(file, pos + 8, 4));
    std::string header;
    encode_frame_header(header, salt, no, length);
    file.replace(pos, kLogFrameHeader, header);
    const std::size_t body = pos + kLogFrameHeader;
    if ((mode & 2) != 0 && length >= 4 && length <= file.size() - body) {
      const std::uint32_t crc = crc32c(0, std::string_view(file).substr(body, length - 4));
      for (int i = 0; i < 4; ++i) file[body + length - 4 + i] = static_cast<char>(crc >> (8 * i));
    }
  }
  std::uint64_t frames = 0;
  auto scan = scan_frames(file, 1, "log", [&](std::uint64_t no, std::string_view segment) {
    if (no != 1 + frames++ || segment.size() < 4) std::abort();
    return weft::Result<void>();
  });
  if (!scan) {
    if (scan.error().code() != weft::Errc::corrupted) std::abort();
    return;
  }
  // A valid header page: the frames walked are the ones counted, and end on a page boundary
  // at or past the header page.
  if (scan->header != FrameScan::Header::valid || scan->salt != salt) std::abort();
  if (scan->next != 1 + frames || scan->end < kLogHeaderPage || scan->end % kLogFrameAlign != 0) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)decode_journal_key(in);
  (void)tag_key_offset(in);
  (void)decode_pid_meta(in);
  {
    ManifestRegistry defined;
    (void)decode_segment(
        in, 1,
        [](const SegmentEntry& e) -> weft::Result<void> {
          if (e.record.size() > 1u << 30) std::abort();
          return {};
        },
        [&](const ManifestDefinitions& d) -> weft::Result<void> {
          for (std::size_t i = 0; i < d.names.size(); ++i) {
            if (auto r = defined.define(d.first_id + i, d.names[i], "segment"); !r) return r;
          }
          return {};
        });
  }
  std::uint64_t walked = 0;
  (void)walk_chunk(in, "pid", 1, [&](std::uint64_t, std::string_view) { return ++walked < 1000; });
  (void)decode_tag_chunk(in, "tag", 1);
  // A log file of the format before header pages: its frames are numbered from 1, so the
  // last one cannot be below 1 nor above one per frame header's worth of bytes.
  if (auto last = unsalted_log_last(in, 1); last && (*last < 1 || *last > size / kLogFrameHeader)) {
    std::abort();
  }
  for (std::uint64_t skip : {0, 1}) {
    (void)scan_frames(
        in, 1, "log",
        [](std::uint64_t, std::string_view segment) -> weft::Result<void> {
          if (segment.size() < 4) std::abort();  // an intact segment carries its checksum
          return {};
        },
        skip);
  }
  scan_salted(in);

  // The first byte says how much of the rest is the key; the value follows.
  if (size == 0) return 0;
  const std::size_t key_len = std::min<std::size_t>(static_cast<std::uint8_t>(in[0]), size - 1);
  const auto key = in.substr(1, key_len);
  const auto value = in.substr(1 + key_len);
  // Ids 0..3 name manifests; records of format 3 with any other id are damage.
  static ManifestRegistry* const names = [] {
    auto* r = new ManifestRegistry(4);
    for (const char* m : {"a", "bb", "", "d.Event"}) (void)r->id_of(m);
    return r;
  }();
  auto check = [&](std::string_view v) {
    RecordView view;
    auto viewed = decode_record_view(view, crc32c(0, key), v, "pid", 7, names);
    auto record = decode_record(key, v, "pid", 7, names);
    if (viewed.has_value() != record.has_value()) std::abort();
    if (record) {
      std::string again;
      encode_record(again, key, *record, record->writer_epoch, view.manifest_id);
      if (again != v) std::abort();
    } else if (record.error().code() != weft::Errc::corrupted) {
      std::abort();
    }
  };
  check(value);
  // A random checksum almost never matches: also decode the value with a valid one appended,
  // so the parser behind the check gets fuzzed.
  std::string sealed(value);
  const std::uint32_t crc = crc32c(crc32c(0, key), value);
  for (int i = 0; i < 4; ++i) sealed.push_back(static_cast<char>(crc >> (8 * i)));
  check(sealed);
  return 0;
}
