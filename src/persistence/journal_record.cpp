#include "persistence/journal_record.hpp"

#include <array>
#include <cstring>

#include "persistence/journal_keys.hpp"

namespace weft::persistence {

namespace {

constexpr std::uint32_t kCastagnoli = 0x82f63b78;  // reflected polynomial

constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kCastagnoli : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kTable = make_table();

std::uint32_t crc32c_soft(std::uint32_t crc, const unsigned char* p, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) crc = kTable[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t crc32c_hw(std::uint32_t crc, const unsigned char* p,
                                                          std::size_t n) noexcept {
  std::uint64_t c = crc;
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    c = __builtin_ia32_crc32di(c, w);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n-- > 0) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}
const bool kHaveSse42 = __builtin_cpu_supports("sse4.2");
#endif

std::uint32_t crc32c_raw(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
#if defined(__x86_64__)
  if (kHaveSse42) return ~crc32c_hw(crc, p, n);
#endif
  return ~crc32c_soft(crc, p, n);
}

std::uint64_t zigzag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
std::int64_t unzigzag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

}  // namespace

std::uint32_t crc32c(std::uint32_t crc, std::span<const std::byte> bytes) noexcept {
  return crc32c_raw(crc, bytes.data(), bytes.size());
}

std::uint32_t crc32c(std::uint32_t crc, std::string_view bytes) noexcept {
  return crc32c_raw(crc, bytes.data(), bytes.size());
}

void encode_record(std::string& out, std::string_view key, const EventRecord& event,
                   std::uint64_t writer_epoch, std::optional<std::uint32_t> manifest_id) {
  // `key` may point into `out` (the journal encodes keys and values into one buffer): use it
  // before appending anything.
  const std::uint32_t key_crc = crc32c(0, key);
  const std::size_t start = out.size();
  out.push_back(static_cast<char>(manifest_id ? kRecordFormatManifestId : kRecordFormat));
  put_varint(out, event.version);
  if (manifest_id) {
    put_varint(out, *manifest_id);
  } else {
    put_bytes(out, event.manifest);
  }
  put_varint(out, zigzag(event.timestamp_ms));
  put_varint(out, writer_epoch);
  put_varint(out, event.tags.size());
  for (const auto& t : event.tags) put_bytes(out, t);
  put_bytes(out, std::string_view(reinterpret_cast<const char*>(event.payload.data()),
                                  event.payload.size()));
  put_bytes(out,
            std::string_view(reinterpret_cast<const char*>(event.mac.data()), event.mac.size()));
  const std::uint32_t crc =
      crc32c(key_crc, std::string_view(out).substr(start, out.size() - start));
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(crc >> (8 * i)));
}

Result<EventRecord> decode_record(std::string_view key, std::string_view value,
                                  std::string_view persistence_id, std::uint64_t sequence_nr,
                                  const ManifestNames* names) {
  return decode_record_with_key_crc(crc32c(0, key), value, persistence_id, sequence_nr, names);
}

std::uint32_t journal_key_crc(std::uint32_t pid_prefix_crc, std::uint64_t sequence_nr) noexcept {
  char seq[8];
  for (int i = 0; i < 8; ++i) seq[i] = static_cast<char>(sequence_nr >> (8 * (7 - i)));
  return crc32c(pid_prefix_crc, std::string_view(seq, 8));
}

Result<EventRecord> decode_record_with_key_crc(std::uint32_t key_crc, std::string_view value,
                                               std::string_view persistence_id,
                                               std::uint64_t sequence_nr,
                                               const ManifestNames* names) {
  EventRecord e;
  if (auto r = decode_record_into(e, key_crc, value, persistence_id, sequence_nr, names); !r) {
    return std::unexpected(std::move(r).error());
  }
  return e;
}

Result<void> decode_record_view(RecordView& v, std::uint32_t key_crc, std::string_view value,
                                std::string_view persistence_id, std::uint64_t sequence_nr,
                                const ManifestNames* names) {
  auto damaged = [&](std::string_view why) {
    return fail(Errc::corrupted, "journal record of '" + std::string(persistence_id) +
                                     "' at sequence " + std::to_string(sequence_nr) + ": " +
                                     std::string(why));
  };
  if (value.size() < 5)
    return damaged("value of " + std::to_string(value.size()) + " bytes is too short");
  const auto body = value.substr(0, value.size() - 4);
  std::uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) {
    stored |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(value[body.size() + i]))
              << (8 * i);
  }
  if (crc32c(key_crc, body) != stored) return damaged("checksum mismatch");
  const auto format = static_cast<std::uint8_t>(body[0]);
  if (format != kRecordFormat && format != kRecordFormatManifestId) {
    return damaged("unknown record format " + std::to_string(format));
  }
  std::size_t pos = 1;
  auto version = get_varint(body, pos);
  if (!version || *version > UINT32_MAX) return damaged("bad schema version");
  v.version = static_cast<std::uint32_t>(*version);
  if (format == kRecordFormatManifestId) {
    auto id = get_varint(body, pos);
    if (!id || *id > UINT32_MAX) return damaged("bad manifest id");
    const std::string* name =
        names != nullptr ? names->name(static_cast<std::uint32_t>(*id)) : nullptr;
    if (name == nullptr) return damaged("unknown manifest id " + std::to_string(*id));
    v.manifest = *name;
    v.manifest_id = static_cast<std::uint32_t>(*id);
  } else {
    auto manifest = get_bytes(body, pos);
    if (!manifest) return damaged("bad manifest");
    v.manifest = *manifest;
    v.manifest_id.reset();
  }
  auto ts = get_varint(body, pos);
  if (!ts) return damaged("bad timestamp");
  v.timestamp_ms = unzigzag(*ts);
  auto epoch = get_varint(body, pos);
  if (!epoch) return damaged("bad writer epoch");
  v.writer_epoch = *epoch;
  auto ntags = get_varint(body, pos);
  // Every tag takes at least its length byte: a count above what remains is damage, and
  // checking it first bounds the work (and a caller's allocation) on hostile input.
  if (!ntags || *ntags > body.size() - pos) return damaged("bad tag count");
  v.tag_count = *ntags;
  const std::size_t tags_start = pos;
  for (std::uint64_t i = 0; i < *ntags; ++i) {
    if (!get_bytes(body, pos)) return damaged("bad tag " + std::to_string(i));
  }
  v.tags = body.substr(tags_start, pos - tags_start);
  auto payload = get_bytes(body, pos);
  if (!payload) return damaged("bad payload");
  v.payload = *payload;
  auto mac = get_bytes(body, pos);
  if (!mac) return damaged("bad integrity code");
  v.mac = *mac;
  if (pos != body.size()) return damaged(std::to_string(body.size() - pos) + " trailing bytes");
  return {};
}

Result<void> decode_record_into(EventRecord& e, std::uint32_t key_crc, std::string_view value,
                                std::string_view persistence_id, std::uint64_t sequence_nr,
                                const ManifestNames* names) {
  RecordView v;
  if (auto r = decode_record_view(v, key_crc, value, persistence_id, sequence_nr, names); !r) {
    return r;
  }
  e.persistence_id = persistence_id;
  e.sequence_nr = sequence_nr;
  e.version = v.version;
  e.manifest = v.manifest;
  e.timestamp_ms = v.timestamp_ms;
  e.writer_epoch = v.writer_epoch;
  e.tags.clear();
  e.tags.reserve(v.tag_count);
  std::size_t pos = 0;
  for (std::uint64_t i = 0; i < v.tag_count; ++i) e.tags.emplace_back(*get_bytes(v.tags, pos));
  const auto* p = reinterpret_cast<const std::byte*>(v.payload.data());
  e.payload.assign(p, p + v.payload.size());
  const auto* m = reinterpret_cast<const std::byte*>(v.mac.data());
  e.mac.assign(m, m + v.mac.size());
  return {};
}

}  // namespace weft::persistence
