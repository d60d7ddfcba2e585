#include "persistence/snapshot_format.hpp"

#include <cstring>

#include "persistence/journal_record.hpp"
#include "weft/persistence/compression.hpp"

namespace weft::persistence {

namespace {

// magic, format, flags, key id, sequence, timestamp, version, pid length
constexpr std::size_t kFixedHeader = 4 + 1 + 1 + 4 + 8 + 8 + 4 + 2;

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

struct Reader {
  std::string_view in;
  std::size_t pos = 0;
  bool ok = true;

  std::uint64_t be(int bytes) {
    if (in.size() - pos < static_cast<std::size_t>(bytes)) {
      ok = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[pos++]);
    return v;
  }
  std::string_view take(std::uint64_t n) {
    if (!ok || in.size() - pos < n) {
      ok = false;
      return {};
    }
    auto s = in.substr(pos, n);
    pos += n;
    return s;
  }
};

std::string hex32(std::uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

}  // namespace

SnapshotCodec::SnapshotCodec(const SnapshotOptions& options)
    : compress_(options.compress),
      level_(options.zstd_level),
      max_bytes_(options.max_snapshot_bytes) {
  if (options.key) {
    key_ = derive_key(*options.key, "snapshots");
    key_id_ = options.key->id();
  }
}

Result<std::string> SnapshotCodec::encode(const SnapshotRecord& r) const {
  const auto& pid = r.meta.persistence_id;
  auto where = [&] {
    return "snapshot of '" + pid + "' at sequence " + std::to_string(r.meta.sequence_nr);
  };
  if (r.payload.size() > max_bytes_) {
    return fail(Errc::invalid_argument,
                where() + ": payload of " + std::to_string(r.payload.size()) +
                    " bytes exceeds max_snapshot_bytes " + std::to_string(max_bytes_));
  }
  if (pid.size() > 0xffff || r.manifest.size() > 0xffff) {
    return fail(Errc::invalid_argument,
                where() + ": persistence id and manifest are limited to 65535 bytes");
  }
  std::uint8_t flags = (compress_ ? kSnapshotCompressed : 0) | (key_ ? kSnapshotEncrypted : 0);
  std::string out;
  out.reserve(kFixedHeader + pid.size() + 2 + r.manifest.size() + 8 + r.payload.size() + 64);
  out.append(kSnapshotMagic);
  out.push_back(static_cast<char>(kSnapshotFormat));
  out.push_back(static_cast<char>(flags));
  put_be(out, key_ ? key_id_ : 0, 4);
  put_be(out, r.meta.sequence_nr, 8);
  put_be(out, static_cast<std::uint64_t>(r.meta.timestamp_ms), 8);
  put_be(out, r.version, 4);
  put_be(out, pid.size(), 2);
  out.append(pid);
  put_be(out, r.manifest.size(), 2);
  out.append(r.manifest);

  std::span<const std::byte> body = r.payload;
  Result<std::vector<std::byte>> compressed, sealed;
  if (compress_) {
    compressed = zstd_compress(body, level_);
    if (!compressed) return std::unexpected(compressed.error().with_context(where()));
    body = *compressed;
  }
  if (key_) {
    // The whole header is the associated data: a ciphertext moved to another id, sequence,
    // manifest or flags no longer authenticates.
    sealed = aes_gcm_encrypt(*key_, body, byte_view(out));
    if (!sealed) return std::unexpected(sealed.error().with_context(where()));
    body = *sealed;
  }
  put_be(out, body.size(), 8);
  out.append(reinterpret_cast<const char*>(body.data()), body.size());
  put_be(out, crc32c(0, out), 4);
  return out;
}

Result<SnapshotRecord> SnapshotCodec::decode(std::string_view bytes,
                                             std::string_view persistence_id,
                                             std::uint64_t sequence_nr) const {
  auto corrupt = [&](const std::string& why) -> Result<SnapshotRecord> {
    return fail(Errc::corrupted, "snapshot of '" + std::string(persistence_id) + "' at sequence " +
                                     std::to_string(sequence_nr) + ": " + why);
  };
  if (bytes.size() < kFixedHeader + 2 + 8 + 4) {
    return corrupt("truncated (" + std::to_string(bytes.size()) + " bytes)");
  }
  auto body_end = bytes.size() - 4;
  Reader crc_reader{bytes.substr(body_end)};
  auto stored_crc = static_cast<std::uint32_t>(crc_reader.be(4));
  if (crc32c(0, bytes.substr(0, body_end)) != stored_crc) {
    return corrupt("checksum mismatch (damaged or truncated)");
  }
  Reader r{bytes.substr(0, body_end)};
  if (r.take(4) != kSnapshotMagic) return corrupt("not a snapshot (bad magic)");
  auto format = r.be(1);
  if (format != kSnapshotFormat) return corrupt("unknown format " + std::to_string(format));
  auto flags = static_cast<std::uint8_t>(r.be(1));
  if ((flags & ~(kSnapshotCompressed | kSnapshotEncrypted)) != 0) {
    return corrupt("unknown flags " + std::to_string(flags));
  }
  auto key_id = static_cast<std::uint32_t>(r.be(4));
  SnapshotRecord rec;
  rec.meta.sequence_nr = r.be(8);
  rec.meta.timestamp_ms = static_cast<std::int64_t>(r.be(8));
  rec.version = static_cast<std::uint32_t>(r.be(4));
  rec.meta.persistence_id = std::string(r.take(r.be(2)));
  rec.manifest = std::string(r.take(r.be(2)));
  auto header_end = r.pos;
  auto body_len = r.be(8);
  auto body_text = r.take(body_len);
  if (!r.ok || r.pos != r.in.size()) return corrupt("frame lengths do not add up");
  if (rec.meta.persistence_id != persistence_id || rec.meta.sequence_nr != sequence_nr) {
    return corrupt("holds the snapshot of '" + rec.meta.persistence_id + "' at sequence " +
                   std::to_string(rec.meta.sequence_nr));
  }

  std::span<const std::byte> body = byte_view(body_text);
  Result<std::vector<std::byte>> opened, plain;
  if (flags & kSnapshotEncrypted) {
    if (!key_)
      return corrupt("is encrypted (key id " + hex32(key_id) + ") but no key is configured");
    if (key_id != key_id_) {
      return corrupt("is encrypted with key id " + hex32(key_id) +
                     " but the configured key has id " + hex32(key_id_));
    }
    opened = aes_gcm_decrypt(*key_, body, byte_view(bytes.substr(0, header_end)));
    if (!opened) return corrupt(opened.error().message());
    body = *opened;
  } else if (key_) {
    // Otherwise anyone who can write the store could replace a state with one of their own.
    return corrupt("is not encrypted but a key is configured");
  }
  if (flags & kSnapshotCompressed) {
    plain = zstd_decompress(body, max_bytes_);
    if (!plain) return corrupt(plain.error().message());
    rec.payload = std::move(*plain);
  } else {
    if (body.size() > max_bytes_) {
      return corrupt("payload of " + std::to_string(body.size()) +
                     " bytes exceeds max_snapshot_bytes");
    }
    rec.payload.assign(body.begin(), body.end());
  }
  return rec;
}

}  // namespace weft::persistence
