#include "weft/core/result.hpp"

#include <fmt/format.h>

namespace weft {

std::string_view to_string(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::malformed:
      return "malformed";
    case Errc::truncated:
      return "truncated";
    case Errc::unsupported_version:
      return "unsupported_version";
    case Errc::unknown_manifest:
      return "unknown_manifest";
    case Errc::timeout:
      return "timeout";
    case Errc::actor_stopped:
      return "actor_stopped";
    case Errc::mailbox_full:
      return "mailbox_full";
    case Errc::actor_failed:
      return "actor_failed";
    case Errc::shutting_down:
      return "shutting_down";
    case Errc::io:
      return "io";
    case Errc::corrupted:
      return "corrupted";
    case Errc::conflict:
      return "conflict";
    case Errc::internal:
      return "internal";
    case Errc::not_found:
      return "not found";
  }
  return "unknown";
}

std::string Error::describe() const {
  return fmt::format("{}: {}", to_string(code_), message_);
}

Error Error::with_context(std::string_view context) const {
  return Error(code_, fmt::format("{}: {}", context, message_));
}

}  // namespace weft
