// HTTP/1.1 message types shared by the server, the router and the client. Limits, errors and
// the server-sent events behaviour: docs/http.md.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft::io {

/// Header fields in arrival order. Names compare case-insensitively (RFC 9110 §5.1); a request
/// holds a handful of fields, so a vector with linear lookup beats a map.
class HttpHeaders {
 public:
  using Field = std::pair<std::string, std::string>;

  void add(std::string name, std::string value);
  /// Replaces every field named `name` by one with `value`.
  void set(std::string_view name, std::string value);
  void remove(std::string_view name);
  /// The first field named `name`.
  [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const;
  [[nodiscard]] bool contains(std::string_view name) const { return get(name).has_value(); }
  /// How many fields are named `name` (a request with two Content-Length fields is refused).
  [[nodiscard]] std::size_t count(std::string_view name) const;
  /// True when the comma-separated list in any `name` field holds `token` (case-insensitive),
  /// as in `Connection: keep-alive, Upgrade`.
  [[nodiscard]] bool has_token(std::string_view name, std::string_view token) const;

  [[nodiscard]] std::size_t size() const noexcept { return fields_.size(); }
  [[nodiscard]] bool empty() const noexcept { return fields_.empty(); }
  [[nodiscard]] auto begin() const noexcept { return fields_.begin(); }
  [[nodiscard]] auto end() const noexcept { return fields_.end(); }

 private:
  std::vector<Field> fields_;
};

/// ASCII case-insensitive equality, for header names and tokens.
[[nodiscard]] bool iequals(std::string_view a, std::string_view b) noexcept;

/// A parsed request. `path` and query parameters are percent-decoded; `target` is as sent.
struct HttpRequest {
  std::string method;
  std::string target;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  /// Filled by the Router from `{name}` segments of the matched pattern.
  std::vector<std::pair<std::string, std::string>> path_params;
  HttpHeaders headers;
  std::string body;
  /// 0 for HTTP/1.0, 1 for HTTP/1.1.
  int version_minor = 1;
  /// Whether the connection stays open after the response (version default and Connection).
  bool keep_alive = true;

  /// The first query parameter named `name`.
  [[nodiscard]] std::optional<std::string_view> query_param(std::string_view name) const;
  [[nodiscard]] std::optional<std::string_view> path_param(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  HttpHeaders headers;
  std::string body;

  /// `body` with Content-Type application/json.
  [[nodiscard]] static HttpResponse json(int status, std::string body);
  /// `body` with the given Content-Type (text/plain by default).
  [[nodiscard]] static HttpResponse text(int status, std::string body,
                                         std::string content_type = "text/plain; charset=utf-8");
  /// `{"error": "<message>"}` with Content-Type application/json: every error answer of weft's
  /// HTTP layer looks like this.
  [[nodiscard]] static HttpResponse error(int status, std::string_view message);
};

/// The standard reason phrase ("Not Found"), or "Unknown" for codes without one.
[[nodiscard]] std::string_view reason_phrase(int status) noexcept;

/// `s` as the contents of a JSON string (quotes not included): escapes `"`, `\` and control
/// characters; other bytes pass through unchanged.
[[nodiscard]] std::string json_escape(std::string_view s);

}  // namespace weft::io
