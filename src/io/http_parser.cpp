#include "io/http_parser.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <optional>

namespace weft::io {
namespace {

/// RFC 9110 tchar: the characters of methods, header names and transfer codings.
bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

bool is_ctl(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Percent-decoding; `plus_is_space` for query components (HTML form encoding). Refuses
/// truncated escapes and NUL, which no path or parameter of ours can mean.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      if (c == '\0') return std::nullopt;
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

bool HttpRequestParser::in_body() const noexcept {
  switch (phase_) {
    case Phase::body:
    case Phase::chunk_size:
    case Phase::chunk_data:
    case Phase::chunk_crlf:
    case Phase::trailers:
      return true;
    default:
      return false;
  }
}

void HttpRequestParser::fail(int status, std::string message) {
  phase_ = Phase::failed;
  error_ = HttpParseError{status, std::move(message)};
}

HttpRequest HttpRequestParser::take() {
  HttpRequest out = std::move(request_);
  request_ = HttpRequest{};
  head_.clear();
  scanned_ = line_start_ = 0;
  line_number_ = 1;
  trailer_bytes_ = 0;
  remaining_ = 0;
  expect_continue_ = false;
  phase_ = Phase::head;
  return out;
}

HttpRequestParser::Step HttpRequestParser::parse(std::string_view in) {
  std::size_t used = 0;
  for (;;) {
    const std::string_view rest = in.substr(used);
    switch (phase_) {
      case Phase::failed:
        return {State::failed, used};
      case Phase::done:
        return {State::complete, used};
      case Phase::head:
        if (rest.empty()) return {State::incomplete, used};
        used += parse_head(rest);
        if (phase_ == Phase::failed) return {State::failed, used};
        if (expect_continue_ && phase_ != Phase::head && phase_ != Phase::done) {
          expect_continue_ = false;
          return {State::expect_continue, used};
        }
        break;
      case Phase::body:
      case Phase::chunk_data: {
        const std::size_t n = static_cast<std::size_t>(
            std::min<std::uint64_t>(remaining_, static_cast<std::uint64_t>(rest.size())));
        request_.body.append(rest.data(), n);
        used += n;
        remaining_ -= n;
        if (remaining_ > 0) return {State::incomplete, used};
        phase_ = phase_ == Phase::body ? Phase::done : Phase::chunk_crlf;
        break;
      }
      case Phase::chunk_size:
      case Phase::chunk_crlf:
        if (rest.empty()) return {State::incomplete, used};
        used += parse_chunk_size(rest);
        break;
      case Phase::trailers:
        if (rest.empty()) return {State::incomplete, used};
        used += parse_trailers(rest);
        break;
    }
  }
}

std::size_t HttpRequestParser::parse_head(std::string_view in) {
  const std::size_t room = limits_.max_header_bytes - head_.size();
  const std::size_t take = std::min(in.size(), room);
  head_.append(in.data(), take);
  std::size_t i = scanned_;
  while (i < head_.size()) {
    if (head_[i] != '\n') {
      ++i;
      continue;
    }
    if (i == 0 || head_[i - 1] != '\r') {
      fail(400, fmt::format("bad line ending in line {} of the request head: LF without CR",
                            line_number_));
      return take;
    }
    if (i - line_start_ == 1) {  // an empty line
      if (line_start_ == 0) {
        // Empty lines before the request line are ignored (RFC 9112 §2.2).
        head_.erase(0, i + 1);
        i = 0;
        continue;
      }
      const std::size_t end = i + 1;
      const std::size_t unused = head_.size() - end;
      head_.resize(end);
      finish_head();
      return take - unused;
    }
    line_start_ = i + 1;
    ++line_number_;
    ++i;
  }
  scanned_ = head_.size();
  if (head_.size() >= limits_.max_header_bytes) {
    fail(431, fmt::format("request head exceeds the limit of {} bytes", limits_.max_header_bytes));
  }
  return take;
}

void HttpRequestParser::finish_head() {
  // head_ is a sequence of CRLF-terminated lines ending with an empty one; no bare LF in it.
  std::string_view head(head_);
  head.remove_suffix(2);
  std::size_t line_no = 0;
  auto next_line = [&]() -> std::optional<std::string_view> {
    if (head.empty()) return std::nullopt;
    const std::size_t end = head.find("\r\n");
    const std::string_view line = head.substr(0, end);
    head.remove_prefix(end + 2);
    ++line_no;
    return line;
  };

  const std::string_view request_line = *next_line();
  const std::size_t sp1 = request_line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || request_line.find(' ', sp2 + 1) != std::string_view::npos) {
    return fail(400, "bad request line: expected 'METHOD TARGET HTTP/1.1'");
  }
  const std::string_view method = request_line.substr(0, sp1);
  const std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = request_line.substr(sp2 + 1);
  if (!is_token(method)) return fail(400, "bad request line: method is not a token");
  if (target.empty()) return fail(400, "bad request line: empty target");
  for (char c : target) {
    if (is_ctl(c) || static_cast<unsigned char>(c) >= 0x80) {
      return fail(400, "bad request line: control or non-ASCII character in target");
    }
  }
  if (version == "HTTP/1.1") {
    request_.version_minor = 1;
  } else if (version == "HTTP/1.0") {
    request_.version_minor = 0;
  } else if (version.size() == 8 && version.starts_with("HTTP/") && version[6] == '.' &&
             hex_value(version[5]) >= 0 && hex_value(version[5]) <= 9 &&
             hex_value(version[7]) >= 0 && hex_value(version[7]) <= 9) {
    return fail(505, fmt::format("{} not supported (HTTP/1.1 and HTTP/1.0 are)", version));
  } else {
    return fail(400, "bad request line: version is not HTTP/1.x");
  }
  request_.method.assign(method);
  request_.target.assign(target);

  // origin-form "/path?query"; absolute-form "http://host/path?query" (RFC 9112 §3.2.2) is
  // reduced to its path; asterisk-form only with OPTIONS.
  std::string_view path_and_query = target;
  if (target == "*") {
    if (method != "OPTIONS") return fail(400, "bad request line: '*' target needs OPTIONS");
  } else if (target.front() != '/') {
    const std::size_t scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos) {
      return fail(400, "bad request line: target is neither a path nor an absolute URL");
    }
    const std::size_t path_start = target.find('/', scheme_end + 3);
    path_and_query = path_start == std::string_view::npos ? "/" : target.substr(path_start);
  }
  const std::size_t qmark = path_and_query.find('?');
  auto path = percent_decode(path_and_query.substr(0, qmark), false);
  if (!path) return fail(400, "bad percent-encoding in path");
  request_.path = std::move(*path);
  if (qmark != std::string_view::npos) {
    std::string_view query = path_and_query.substr(qmark + 1);
    const std::size_t hash = query.find('#');
    if (hash != std::string_view::npos) query = query.substr(0, hash);
    while (!query.empty()) {
      const std::size_t amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
      if (pair.empty()) continue;
      const std::size_t eq = pair.find('=');
      auto name = percent_decode(pair.substr(0, eq), true);
      auto value = percent_decode(
          eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
      if (!name || !value) {
        return fail(400, fmt::format("bad percent-encoding in query parameter '{}'",
                                     pair.substr(0, std::min<std::size_t>(eq, 64))));
      }
      request_.query.emplace_back(std::move(*name), std::move(*value));
    }
  }

  while (auto line = next_line()) {
    if (line->front() == ' ' || line->front() == '\t') {
      return fail(400, fmt::format("bad header line {}: obsolete line folding", line_no));
    }
    const std::size_t colon = line->find(':');
    if (colon == std::string_view::npos) {
      return fail(400, fmt::format("bad header line {}: no colon", line_no));
    }
    const std::string_view name = line->substr(0, colon);
    if (!is_token(name)) {
      return fail(400, fmt::format("bad header line {}: field name is not a token", line_no));
    }
    const std::string_view value = trim_ows(line->substr(colon + 1));
    for (char c : value) {
      if (is_ctl(c) && c != '\t') {
        return fail(400, fmt::format("bad header line {}: control character in value", line_no));
      }
    }
    request_.headers.add(std::string(name), std::string(value));
  }

  const HttpHeaders& h = request_.headers;
  if (request_.version_minor == 1) {
    const std::size_t hosts = h.count("Host");
    if (hosts == 0) return fail(400, "missing Host header (required by HTTP/1.1)");
    if (hosts > 1) return fail(400, "more than one Host header");
    request_.keep_alive = !h.has_token("Connection", "close");
  } else {
    request_.keep_alive = h.has_token("Connection", "keep-alive");
  }
  if (auto expect = h.get("Expect")) {
    if (!iequals(*expect, "100-continue")) {
      return fail(417, fmt::format("unsupported expectation '{}'", expect->substr(0, 64)));
    }
    expect_continue_ = request_.version_minor == 1;
  }
  if (!set_body_framing()) return;
  if (phase_ == Phase::done) expect_continue_ = false;
}

bool HttpRequestParser::set_body_framing() {
  const HttpHeaders& h = request_.headers;
  if (h.contains("Transfer-Encoding")) {
    if (request_.version_minor == 0) {
      fail(400, "Transfer-Encoding in an HTTP/1.0 request");
      return false;
    }
    if (h.contains("Content-Length")) {
      fail(400, "both Transfer-Encoding and Content-Length");
      return false;
    }
    // Only "chunked" alone: any other coding would have to be undone, and we undo none.
    std::string codings;
    for (const auto& [name, value] : h) {
      if (!iequals(name, "Transfer-Encoding")) continue;
      if (!codings.empty()) codings += ',';
      codings += value;
    }
    std::string_view rest(codings);
    bool chunked_last = false;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      const std::string_view coding = trim_ows(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      if (coding.empty()) continue;
      if (!iequals(coding, "chunked") || chunked_last) {
        if (chunked_last) {
          fail(400, "Transfer-Encoding: chunked is not the final coding");
        } else {
          fail(501, fmt::format("Transfer-Encoding '{}' not supported (only chunked)",
                                coding.substr(0, 64)));
        }
        return false;
      }
      chunked_last = true;
    }
    if (!chunked_last) {
      fail(400, "empty Transfer-Encoding");
      return false;
    }
    head_.clear();
    phase_ = Phase::chunk_size;
    return true;
  }
  const std::size_t lengths = h.count("Content-Length");
  if (lengths > 1) {
    fail(400, "more than one Content-Length header");
    return false;
  }
  std::uint64_t length = 0;
  if (lengths == 1) {
    const std::string_view text = *h.get("Content-Length");
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), length);
    if (text.empty() || text.front() == '-' || text.front() == '+' ||
        end != text.data() + text.size() || ec != std::errc{}) {
      fail(400, fmt::format("Content-Length not a number: '{}'", text.substr(0, 64)));
      return false;
    }
  }
  if (length > limits_.max_body_bytes) {
    fail(413, fmt::format("body of {} bytes exceeds the limit of {} bytes", length,
                          limits_.max_body_bytes));
    return false;
  }
  // Reserved up to 1 MiB only: a client announcing 8 MiB and sending nothing holds no more.
  request_.body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(length, 1 << 20)));
  remaining_ = length;
  head_.clear();
  phase_ = length == 0 ? Phase::done : Phase::body;
  return true;
}

std::size_t HttpRequestParser::parse_chunk_size(std::string_view in) {
  if (phase_ == Phase::chunk_crlf) {
    // Exactly CRLF after chunk data, checked byte by byte so that any split fails alike.
    const char expected = head_.empty() ? '\r' : '\n';
    if (in.front() != expected) {
      fail(400, "missing CRLF after chunk data");
    } else if (expected == '\n') {
      head_.clear();
      phase_ = Phase::chunk_size;
    } else {
      head_ = "\r";
    }
    return 1;
  }
  // "<hex>[;ext]CRLF". The length is checked before the line end so that splits agree.
  constexpr std::size_t kMaxLine = 4096;
  const std::size_t lf = in.find('\n');
  const std::size_t take = lf == std::string_view::npos ? in.size() : lf + 1;
  head_.append(in.data(), take);
  if (head_.size() > kMaxLine) {
    fail(400, "chunk size line too long");
    return take;
  }
  if (lf == std::string_view::npos) return take;
  if (head_.size() < 2 || head_[head_.size() - 2] != '\r') {
    fail(400, "bad line ending in chunked body: LF without CR");
    return take;
  }
  std::string_view line(head_);
  line.remove_suffix(2);
  std::uint64_t size = 0;
  std::size_t digits = 0;
  while (digits < line.size() && hex_value(line[digits]) >= 0) {
    if (digits == 15) {
      fail(400, "chunk size too large");
      return take;
    }
    size = size * 16 + static_cast<std::uint64_t>(hex_value(line[digits]));
    ++digits;
  }
  const std::string_view after = trim_ows(line.substr(digits));
  if (digits == 0 || (!after.empty() && after.front() != ';')) {
    fail(400, fmt::format("bad chunk size line '{}'", line.substr(0, 64)));
    return take;
  }
  if (size > limits_.max_body_bytes - request_.body.size()) {
    fail(413, fmt::format("chunked body exceeds the limit of {} bytes", limits_.max_body_bytes));
    return take;
  }
  head_.clear();
  remaining_ = size;
  phase_ = size == 0 ? Phase::trailers : Phase::chunk_data;
  return take;
}

std::size_t HttpRequestParser::parse_trailers(std::string_view in) {
  // Trailer fields are read and dropped: nothing in weft needs them, and merging them into the
  // headers after the fact would let a client change framing-relevant fields.
  const std::size_t lf = in.find('\n');
  const std::size_t take = lf == std::string_view::npos ? in.size() : lf + 1;
  head_.append(in.data(), take);
  trailer_bytes_ += take;
  if (trailer_bytes_ > limits_.max_header_bytes) {
    fail(431,
         fmt::format("chunked trailers exceed the limit of {} bytes", limits_.max_header_bytes));
    return take;
  }
  if (lf == std::string_view::npos) return take;
  if (head_.size() < 2 || head_[head_.size() - 2] != '\r') {
    fail(400, "bad line ending in chunked trailers: LF without CR");
    return take;
  }
  if (head_.size() == 2) {
    phase_ = Phase::done;
  } else if (head_.find(':') == std::string::npos) {
    fail(400, "bad trailer line: no colon");
  }
  head_.clear();
  return take;
}

}  // namespace weft::io
