// Incremental HTTP/1.1 request parser (RFC 9112): feed bytes as they arrive, get requests or an
// error with the status to answer. It copies what it consumes, so callers may reuse their buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "weft/io/http.hpp"

namespace weft::io {

struct HttpParserLimits {
  /// Request line plus header fields, CRLFs included; chunked trailers count against it too.
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_body_bytes = 8 * 1024 * 1024;
};

/// Why a request was refused: the status to answer (400, 413, 431, 501, 505, 417) and a message
/// naming what and where ("bad header line 3: no colon").
struct HttpParseError {
  int status = 400;
  std::string message;
};

class HttpRequestParser {
 public:
  enum class State : std::uint8_t {
    incomplete,       // every byte consumed; feed more
    expect_continue,  // head done, the client waits for 100 Continue before sending the body
    complete,         // a request is ready: take() it
    failed,           // error() says why; the connection cannot be resynchronised
  };
  struct Step {
    State state;
    std::size_t consumed;  // bytes of the input used; the rest belongs to the next call
  };

  explicit HttpRequestParser(HttpParserLimits limits = {}) : limits_(limits) {}

  /// Consumes bytes until a request completes, a head asks for 100 Continue, an error occurs or
  /// the input is used up. After `failed` every call fails again.
  Step parse(std::string_view bytes);
  /// The completed request; the parser starts on the next one.
  [[nodiscard]] HttpRequest take();
  [[nodiscard]] const HttpParseError& error() const noexcept { return error_; }

  /// No byte of a request received yet (between requests).
  [[nodiscard]] bool idle() const noexcept { return phase_ == Phase::head && head_.empty(); }
  /// Head received, body in progress.
  [[nodiscard]] bool in_body() const noexcept;

 private:
  enum class Phase : std::uint8_t {
    head,
    body,
    chunk_size,
    chunk_data,
    chunk_crlf,
    trailers,
    done,
    failed
  };

  std::size_t parse_head(std::string_view bytes);
  std::size_t parse_chunk_size(std::string_view bytes);
  std::size_t parse_trailers(std::string_view bytes);
  /// Parses head_ into request_; sets phase_ to what follows the head.
  void finish_head();
  bool set_body_framing();
  void fail(int status, std::string message);

  HttpParserLimits limits_;
  Phase phase_ = Phase::head;
  HttpParseError error_;
  HttpRequest request_;
  std::string head_;         // the head so far (later: the current chunk-size or trailer line)
  std::size_t scanned_ = 0;  // bytes of head_ already checked for line ends
  std::size_t line_start_ = 0;
  std::size_t line_number_ = 1;
  std::size_t trailer_bytes_ = 0;
  std::uint64_t remaining_ = 0;  // body or chunk bytes still to come
  bool expect_continue_ = false;
};

}  // namespace weft::io
