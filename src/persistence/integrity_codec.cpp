#include "persistence/integrity_codec.hpp"

#include <algorithm>
#include <string>

namespace weft::persistence::integrity_codec {

void put_u32(std::vector<std::byte>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(std::byte(v >> shift));
}

void put_u64(std::vector<std::byte>& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(std::byte(v >> shift));
}

void put_bytes(std::vector<std::byte>& out, std::span<const std::byte> bytes) {
  put_u64(out, bytes.size());
  out.insert(out.end(), bytes.begin(), bytes.end());
}

std::uint32_t get_u32(std::span<const std::byte> in) {
  std::uint32_t v = 0;
  for (auto b : in.first(4)) v = (v << 8) | std::to_integer<std::uint32_t>(b);
  return v;
}

std::uint64_t get_u64(std::span<const std::byte> in) {
  std::uint64_t v = 0;
  for (auto b : in.first(8)) v = (v << 8) | std::to_integer<std::uint64_t>(b);
  return v;
}

std::vector<std::byte> encode(const MacField& field) {
  std::vector<std::byte> out;
  out.reserve(kMacFieldBytes);
  out.push_back(std::byte{kMacFormat});
  out.push_back(std::byte{field.flags});
  put_u32(out, field.key_id);
  out.insert(out.end(), field.prev.begin(), field.prev.end());
  out.insert(out.end(), field.mac.begin(), field.mac.end());
  return out;
}

Result<MacField> decode(std::span<const std::byte> stored) {
  if (stored.empty()) return fail(Errc::corrupted, "it carries no MAC");
  if (stored.size() != kMacFieldBytes) {
    return fail(Errc::corrupted, "its MAC field has " + std::to_string(stored.size()) +
                                     " bytes instead of " + std::to_string(kMacFieldBytes));
  }
  if (std::to_integer<std::uint8_t>(stored[0]) != kMacFormat) {
    return fail(Errc::corrupted, "its MAC field has unknown format " +
                                     std::to_string(std::to_integer<int>(stored[0])));
  }
  MacField f;
  f.flags = std::to_integer<std::uint8_t>(stored[1]);
  if ((f.flags & ~kFlagEncrypted) != 0) {
    return fail(Errc::corrupted, "its MAC field has unknown flags " + std::to_string(f.flags));
  }
  f.key_id = get_u32(stored.subspan(2, 4));
  std::copy_n(stored.begin() + 6, 32, f.prev.begin());
  std::copy_n(stored.begin() + 38, 32, f.mac.begin());
  return f;
}

Mac compute_mac(const Key& mac_key, const EventRecord& event, std::uint8_t flags, const Mac& prev) {
  // Fed in pieces: the payload is hashed where it lies, not copied.
  thread_local std::vector<std::byte> head;
  head.clear();
  head.push_back(std::byte{kMacFormat});
  head.push_back(std::byte{flags});
  put_bytes(head, byte_view(event.persistence_id));
  put_u64(head, event.sequence_nr);
  put_bytes(head, byte_view(event.manifest));
  put_u32(head, event.version);
  put_u64(head, event.payload.size());
  HmacSha256 mac(mac_key);
  mac.update(head);
  mac.update(event.payload);
  mac.update(prev);
  return mac.finish();
}

void payload_aad(std::vector<std::byte>& out, std::string_view persistence_id,
                 std::uint64_t sequence_nr) {
  out.clear();
  put_bytes(out, byte_view("weft/event-payload/v1"));
  put_bytes(out, byte_view(persistence_id));
  put_u64(out, sequence_nr);
}

}  // namespace weft::persistence::integrity_codec
