// Errors as values: every expected failure in weft is a Result<T>.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace weft {

/// What went wrong, coarse enough to branch on. The message says the details.
enum class Errc : std::uint16_t {
  invalid_argument = 1,
  malformed,            // bytes or text that do not parse
  truncated,            // input ended before a complete value
  unsupported_version,  // a schema version this build cannot read
  unknown_manifest,     // a type name this build does not know
  timeout,
  actor_stopped,  // the target actor is not (or no longer) alive
  mailbox_full,   // a bounded mailbox refused the message
  actor_failed,   // a handler threw or returned a failure
  shutting_down,
  io,
  corrupted,
  conflict,  // optimistic concurrency: a sequence number or writer epoch did not match
  internal,
  not_found,  // a named thing (a journal, a persistence id) does not exist
};

[[nodiscard]] std::string_view to_string(Errc code) noexcept;

/// An error a person can act on: a code to branch on and a message that says what and where.
class Error {
 public:
  Error(Errc code, std::string message) : code_(code), message_(std::move(message)) {}

  [[nodiscard]] Errc code() const noexcept { return code_; }
  [[nodiscard]] const std::string& message() const noexcept { return message_; }
  /// "<code>: <message>", for logs and exceptions.
  [[nodiscard]] std::string describe() const;

  /// Returns a copy whose message is prefixed by `context: `, to say where it happened.
  [[nodiscard]] Error with_context(std::string_view context) const;

  friend bool operator==(const Error& a, const Error& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  Errc code_;
  std::string message_;
};

template <class T>
using Result = std::expected<T, Error>;

/// Shorthand for returning a failure: `return fail(Errc::malformed, "...")`.
[[nodiscard]] inline std::unexpected<Error> fail(Errc code, std::string message) {
  return std::unexpected<Error>(Error(code, std::move(message)));
}

}  // namespace weft
