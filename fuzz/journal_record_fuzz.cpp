// Decodes arbitrary bytes as journal keys, pid metadata, record values, log segments, log
// files (frames), chunks and tag chunks.
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

using namespace weft::persistence;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)decode_journal_key(in);
  (void)tag_key_offset(in);
  (void)decode_pid_meta(in);
  (void)decode_segment(in, 1, [](const SegmentEntry& e) -> weft::Result<void> {
    if (e.record.size() > 1u << 30) std::abort();
    return {};
  });
  std::uint64_t walked = 0;
  (void)walk_chunk(in, "pid", 1, [&](std::uint64_t, std::string_view) { return ++walked < 1000; });
  (void)decode_tag_chunk(in, "tag", 1);
  for (std::uint64_t skip : {0, 1}) {
    (void)scan_frames(
        in, 1, "log",
        [](std::uint64_t, std::string_view segment) -> weft::Result<void> {
          if (segment.size() < 4) std::abort();  // an intact segment carries its checksum
          return {};
        },
        skip);
  }

  // The first byte says how much of the rest is the key; the value follows.
  if (size == 0) return 0;
  const std::size_t key_len = std::min<std::size_t>(static_cast<std::uint8_t>(in[0]), size - 1);
  const auto key = in.substr(1, key_len);
  const auto value = in.substr(1 + key_len);
  auto check = [&](std::string_view v) {
    auto record = decode_record(key, v, "pid", 7);
    if (record) {
      std::string again;
      encode_record(again, key, *record, record->writer_epoch);
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
