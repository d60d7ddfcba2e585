// Decodes arbitrary bytes as a stored snapshot: frame parse, CRC32C, AES-256-GCM and bounded
// zstd must never crash, hang or allocate without bound, whatever the input. The first input
// byte picks a mode: bit 0 rewrites the CRC trailer so mutations reach the layers behind it,
// bit 1 decodes with a key configured. The expected id is read from where the frame keeps it,
// so that parsing goes past the id check.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "persistence/journal_record.hpp"
#include "persistence/snapshot_format.hpp"

namespace {

using namespace weft::persistence;

SnapshotOptions fuzz_options(bool keyed) {
  SnapshotOptions o;
  o.max_snapshot_bytes = 1 << 20;
  if (keyed) o.key = Key::from_bytes(std::vector<std::byte>(kKeyBytes, std::byte{0x42})).value();
  return o;
}

std::uint64_t be(std::string_view s, std::size_t at, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const SnapshotCodec plain(fuzz_options(false));
  static const SnapshotCodec keyed(fuzz_options(true));
  if (size < 1) return 0;
  std::uint8_t mode = data[0];
  std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if ((mode & 1) && bytes.size() >= 4) {
    auto crc = crc32c(0, std::string_view(bytes).substr(0, bytes.size() - 4));
    for (int i = 0; i < 4; ++i)
      bytes[bytes.size() - 4 + i] = static_cast<char>(crc >> (8 * (3 - i)));
  }
  std::string pid;
  std::uint64_t seq = 0;
  if (bytes.size() >= 32) {
    seq = be(bytes, 10, 8);
    auto len = be(bytes, 30, 2);
    pid = bytes.substr(32, len);
  }
  const SnapshotCodec& codec = (mode & 2) ? keyed : plain;
  auto rec = codec.decode(bytes, pid, seq);
  if (!rec) {
    if (rec.error().code() != weft::Errc::corrupted) std::abort();
    return 0;
  }
  // Whatever decodes re-encodes and decodes to the same record.
  auto again = codec.encode(*rec);
  if (!again) std::abort();
  auto back = codec.decode(*again, pid, seq);
  if (!back || !(*back == *rec)) std::abort();
  return 0;
}
