// The value of one stored event in the journal column family, with its CRC32C.
// Layout in docs/journal-format.md. Dependency-light (weft_core only) so the fuzz target
// can compile it in directly.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "weft/core/result.hpp"
#include "weft/persistence/journal.hpp"

namespace weft::persistence {

/// CRC32C (Castagnoli), continuing from `crc` (0 to start). Uses SSE4.2 when the CPU has it.
[[nodiscard]] std::uint32_t crc32c(std::uint32_t crc, std::span<const std::byte> bytes) noexcept;
[[nodiscard]] std::uint32_t crc32c(std::uint32_t crc, std::string_view bytes) noexcept;

/// The first byte of every record value: format 2 stores the manifest's name, format 3 its id
/// in the journal's manifest registry (docs/journal-format.md, "Record").
inline constexpr std::uint8_t kRecordFormat = 2;
inline constexpr std::uint8_t kRecordFormatManifestId = 3;

/// Manifest names by id, for records of format 3 (the journal's ManifestRegistry).
class ManifestNames {
 public:
  /// The name of `id`; null if unknown. A pointer, not an optional: returned in a register.
  [[nodiscard]] virtual const std::string* name(std::uint32_t id) const noexcept = 0;

 protected:
  ManifestNames() = default;
  ManifestNames(const ManifestNames&) = default;
  ManifestNames& operator=(const ManifestNames&) = default;
  ~ManifestNames() = default;
};

/// Appends the value of `event` to `out`. `writer_epoch` is the epoch of the batch that stores
/// it; `key` is the event's journal key, which the checksum covers too, so a value found under
/// the wrong key does not verify. With `manifest_id` (the id of event.manifest in the registry
/// that will read it), the record is of format 3, else of format 2.
void encode_record(std::string& out, std::string_view key, const EventRecord& event,
                   std::uint64_t writer_epoch,
                   std::optional<std::uint32_t> manifest_id = std::nullopt);

/// Decodes and verifies a value stored under `key` for (`persistence_id`, `sequence_nr`).
/// Any damage (bad checksum, unknown format, truncation, trailing bytes, a manifest id that
/// `names` does not know) is Errc::corrupted with a message that names the persistence id and
/// sequence number. Never aborts.
[[nodiscard]] Result<EventRecord> decode_record(std::string_view key, std::string_view value,
                                                std::string_view persistence_id,
                                                std::uint64_t sequence_nr,
                                                const ManifestNames* names = nullptr);

/// The same with the key's CRC32C given: readers of many records of one pid compute the CRC of
/// the key's pid prefix (varint len ‖ pid ‖ 0x00) once and extend it per sequence number with
/// journal_key_crc, instead of building every key.
[[nodiscard]] std::uint32_t journal_key_crc(std::uint32_t pid_prefix_crc,
                                            std::uint64_t sequence_nr) noexcept;
[[nodiscard]] Result<EventRecord> decode_record_with_key_crc(std::uint32_t key_crc,
                                                             std::string_view value,
                                                             std::string_view persistence_id,
                                                             std::uint64_t sequence_nr,
                                                             const ManifestNames* names = nullptr);
/// The same, decoding into `e` (every field is assigned): a replay decodes straight into the
/// vector it returns instead of moving each record there. `e` is unspecified on failure.
[[nodiscard]] Result<void> decode_record_into(EventRecord& e, std::uint32_t key_crc,
                                              std::string_view value,
                                              std::string_view persistence_id,
                                              std::uint64_t sequence_nr,
                                              const ManifestNames* names = nullptr);

/// A verified record's fields as views into its value (valid as long as the value is): what a
/// replay needs, without a copy or an allocation per event. `tags` is the encoded tag list,
/// `tag_count` times (varint len ‖ tag), already checked to be well framed.
struct RecordView {
  std::uint32_t version = 1;
  std::string_view manifest;                 // into `names` for a record of format 3
  std::optional<std::uint32_t> manifest_id;  // format 3 only
  std::int64_t timestamp_ms = 0;
  std::uint64_t writer_epoch = 0;
  std::uint64_t tag_count = 0;
  std::string_view tags;
  std::string_view payload;
  std::string_view mac;
};
/// Verifies and decodes a value into `v` as decode_record_into does (the same checks and
/// errors; that function is built on this one). `v` is unspecified on failure. An out parameter:
/// returning the view by value copied it (with `rep movs`) once per replayed event.
[[nodiscard]] Result<void> decode_record_view(RecordView& v, std::uint32_t key_crc,
                                              std::string_view value,
                                              std::string_view persistence_id,
                                              std::uint64_t sequence_nr,
                                              const ManifestNames* names = nullptr);

}  // namespace weft::persistence
