#include "persistence/journal_keys.hpp"

namespace weft::persistence {

void put_bytes(std::string& out, std::string_view b) {
  put_varint(out, b.size());
  out.append(b);
}

namespace {

void put_u64_be(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}

std::uint64_t load_u64_be(std::string_view b) {
  std::uint64_t v = 0;
  for (char c : b) v = (v << 8) | static_cast<std::uint8_t>(c);
  return v;
}

void put_name(std::string& out, std::string_view name, char terminator) {
  put_varint(out, name.size());
  out.append(name);
  out.push_back(terminator);
}

// Splits "varint(len) ‖ name ‖ 0x00 ‖ u64 BE" into name and number.
std::optional<JournalKey> decode_name_u64(std::string_view key) {
  std::size_t pos = 0;
  auto len = get_varint(key, pos);
  if (!len || *len > key.size() - pos || key.size() - pos - *len != 9) return std::nullopt;
  const auto name = key.substr(pos, *len);
  pos += *len;
  if (key[pos] != '\0') return std::nullopt;
  return JournalKey{name, load_u64_be(key.substr(pos + 1))};
}

}  // namespace

void put_journal_key(std::string& out, std::string_view persistence_id, std::uint64_t seq) {
  put_name(out, persistence_id, '\0');
  put_u64_be(out, seq);
}

std::string journal_key(std::string_view persistence_id, std::uint64_t seq) {
  std::string out;
  out.reserve(persistence_id.size() + 11);
  put_journal_key(out, persistence_id, seq);
  return out;
}

std::string journal_key_end(std::string_view persistence_id) {
  std::string out;
  put_name(out, persistence_id, '\x01');
  return out;
}

std::optional<JournalKey> decode_journal_key(std::string_view key) {
  return decode_name_u64(key);
}

std::string tag_key(std::string_view tag, std::uint64_t offset) {
  std::string out;
  out.reserve(tag.size() + 11);
  put_name(out, tag, '\0');
  put_u64_be(out, offset);
  return out;
}

std::string tag_key_end(std::string_view tag) {
  std::string out;
  put_name(out, tag, '\x01');
  return out;
}

std::optional<std::uint64_t> tag_key_offset(std::string_view key) {
  auto k = decode_name_u64(key);
  if (!k) return std::nullopt;
  return k->sequence_nr;
}

std::string meta_pid_key(std::string_view persistence_id) {
  std::string out(1, kMetaPidPrefix);
  out.append(persistence_id);
  return out;
}

std::string encode_pid_meta(const PidMeta& meta) {
  std::string out;
  put_varint(out, meta.highest);
  put_varint(out, meta.epoch);
  put_varint(out, meta.deleted_to);
  return out;
}

std::optional<PidMeta> decode_pid_meta(std::string_view value) {
  std::size_t pos = 0;
  PidMeta m;
  auto h = get_varint(value, pos);
  auto e = h ? get_varint(value, pos) : std::nullopt;
  auto d = e ? get_varint(value, pos) : std::nullopt;
  if (!d || pos != value.size()) return std::nullopt;
  m.highest = *h;
  m.epoch = *e;
  m.deleted_to = *d;
  return m;
}

std::string encode_u64_be(std::uint64_t v) {
  std::string out;
  put_u64_be(out, v);
  return out;
}

std::optional<std::uint64_t> decode_u64_be(std::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  return load_u64_be(bytes);
}

}  // namespace weft::persistence
