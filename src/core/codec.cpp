// Out-of-line error paths of the codec Reader: only reached on bad input, so they may
// allocate and format freely.
#include "weft/core/codec.hpp"

#include <fmt/format.h>

#include <iterator>

namespace weft {

Error Reader::error(Errc code, std::size_t at, std::string_view detail) const {
  // Path: "Type.field" for the outermost struct, ".field" for nested ones, "[i]" for elements.
  std::string path;
  for (std::size_t i = 0; i < depth_; ++i) {
    const Frame& f = frames_[i];
    if (f.label != nullptr) {
      if (path.empty() && f.type != nullptr) path += f.type;
      path += '.';
      path += f.label;
    } else if (f.index != no_index) {
      fmt::format_to(std::back_inserter(path), "[{}]", f.index);
    }
  }
  if (path.empty()) return Error(code, fmt::format("at byte {}: {}", at, detail));
  return Error(code, fmt::format("{} at byte {}: {}", path, at, detail));
}

Error Reader::need(std::size_t n) const {
  return error(Errc::truncated, pos_,
               fmt::format("needed {} byte{}, {} left", n, n == 1 ? "" : "s", remaining()));
}

Error Reader::truncated_varint(std::size_t start) const {
  return error(Errc::truncated, start,
               fmt::format("varint incomplete, input ends after {} byte{}", pos_ - start,
                           pos_ - start == 1 ? "" : "s"));
}

Error Reader::bad_varint(std::size_t start, std::string_view why) const {
  return error(Errc::malformed, start, fmt::format("varint {}", why));
}

Error Reader::too_long(std::size_t start, std::uint64_t n, std::size_t min_size) const {
  return error(Errc::truncated, start,
               fmt::format("length {} needs at least {} bytes per element, {} left", n, min_size,
                           remaining()));
}

Error Reader::too_deep() const {
  return error(Errc::malformed, pos_, fmt::format("nesting deeper than {} levels", max_depth));
}

}  // namespace weft
