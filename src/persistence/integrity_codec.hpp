// The bytes of IntegrityJournal: the MAC field every event carries, the MAC's input and the
// AAD that binds an encrypted payload to its event. Layouts are in docs/integrity.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "weft/core/result.hpp"
#include "weft/persistence/crypto.hpp"
#include "weft/persistence/journal.hpp"

namespace weft::persistence::integrity_codec {

void put_u32(std::vector<std::byte>& out, std::uint32_t v);
void put_u64(std::vector<std::byte>& out, std::uint64_t v);
/// u64 length ‖ bytes: a variable field that cannot run into the next.
void put_bytes(std::vector<std::byte>& out, std::span<const std::byte> bytes);
/// Big-endian; `in` must hold exactly 4 (8) bytes.
[[nodiscard]] std::uint32_t get_u32(std::span<const std::byte> in);
[[nodiscard]] std::uint64_t get_u64(std::span<const std::byte> in);

inline constexpr std::uint8_t kMacFormat = 1;
/// Set when the stored payload is sealed with the persistence id's data key.
inline constexpr std::uint8_t kFlagEncrypted = 0x01;
inline constexpr std::size_t kMacFieldBytes = 1 + 1 + 4 + 32 + 32;

/// The decoded `EventRecord::mac`: the previous event's MAC is stored beside this one's, so
/// an event whose predecessor is gone (delete_to) can still be checked on its own.
struct MacField {
  std::uint8_t flags = 0;
  std::uint32_t key_id = 0;  // Key::id() of the MAC key that signed it
  Mac prev{};                // all zeros where a chain starts
  Mac mac{};
};

[[nodiscard]] std::vector<std::byte> encode(const MacField& field);
/// Errc::corrupted on any other length, format or flag.
[[nodiscard]] Result<MacField> decode(std::span<const std::byte> stored);

/// HMAC-SHA256(mac_key, format ‖ flags ‖ pid ‖ seq ‖ manifest ‖ version ‖ payload ‖ prev),
/// over the payload as stored (sealed when encrypted), so verifying needs no data key.
[[nodiscard]] Mac compute_mac(const Key& mac_key, const EventRecord& event, std::uint8_t flags,
                              const Mac& prev);

/// The AAD of an encrypted payload: its persistence id and sequence number, so a sealed
/// payload moved to another event does not open. Written into `out` (replacing what it held),
/// reusing its storage.
void payload_aad(std::vector<std::byte>& out, std::string_view persistence_id,
                 std::uint64_t sequence_nr);

}  // namespace weft::persistence::integrity_codec
