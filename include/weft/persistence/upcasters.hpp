// Schema evolution: events stored by an older build keep decoding. Every stored event carries
// its codec's manifest and version; an upcaster registered for an old (manifest, version)
// decodes the old layout and converts it to the current type.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "weft/core/codec.hpp"

namespace weft::persistence {

template <class Event>
class Upcasters {
 public:
  /// Events stored as `Old` (Codec<Old>'s manifest and version; keep the old struct and its
  /// WEFT_CODEC line forever) are read through convert(Old) -> Event. Chains (v1 -> v2 -> v3)
  /// are composed by the caller: register v1 with a function that goes all the way.
  template <class Old, class F>
  Upcasters& add(F convert) {
    table_[{std::string(Codec<Old>::manifest), Codec<Old>::version}] =
        [convert = std::move(convert)](std::span<const std::byte> bytes) -> Result<Event> {
      auto old = weft::decode<Old>(bytes);
      if (!old) return std::unexpected(old.error());
      return convert(std::move(*old));
    };
    return *this;
  }

  /// Decodes a stored payload as the current Event, upcasting when it was written by an older
  /// schema. Unknown manifests and versions are errors that say what was found and expected.
  [[nodiscard]] Result<Event> decode(std::string_view manifest, std::uint32_t version,
                                     std::span<const std::byte> payload) const {
    if (manifest == Codec<Event>::manifest && version == Codec<Event>::version) {
      return weft::decode<Event>(payload);
    }
    auto it = table_.find({std::string(manifest), version});
    if (it != table_.end()) return it->second(payload);
    const bool known = manifest == Codec<Event>::manifest;
    return fail(known ? Errc::unsupported_version : Errc::unknown_manifest,
                "no upcaster for '" + std::string(manifest) + "' version " +
                    std::to_string(version) + " (this build reads '" +
                    std::string(Codec<Event>::manifest) + "' version " +
                    std::to_string(Codec<Event>::version) + ")");
  }

  [[nodiscard]] std::size_t size() const noexcept { return table_.size(); }

 private:
  std::map<std::pair<std::string, std::uint32_t>,
           std::function<Result<Event>(std::span<const std::byte>)>>
      table_;
};

}  // namespace weft::persistence
