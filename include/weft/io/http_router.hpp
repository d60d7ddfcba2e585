// Routes requests by method and path pattern ("/api/v1/devices/{id}/events"), answering 404 and
// 405 (with Allow) as JSON for what matches no route.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "weft/io/http.hpp"
#include "weft/io/http_server.hpp"

namespace weft::io {

class Router {
 public:
  /// `pattern` is a path whose segments are literals or `{name}` (one whole segment, stored in
  /// HttpRequest::path_params). Where several patterns match, the one with a literal in the
  /// earliest differing segment wins; a HEAD request falls back to the GET route.
  /// Throws std::invalid_argument for a pattern that does not start with '/' or has an
  /// unterminated or empty `{}` — a programming error.
  void add(std::string method, std::string_view pattern, HttpHandler handler);

  /// Dispatches; usable directly as the server's handler via `handler()`.
  void operator()(HttpRequest request, HttpResponder responder) const;
  /// A handler that dispatches to this router, which must outlive the server.
  [[nodiscard]] HttpHandler handler() const;

 private:
  struct Segment {
    std::string text;
    bool param = false;
  };
  struct Route {
    std::string method;
    std::vector<Segment> segments;
    HttpHandler handler;
  };
  /// Whether `route` matches `parts`; fills `params` when it does.
  static bool match(const Route& route, const std::vector<std::string_view>& parts,
                    std::vector<std::pair<std::string, std::string>>* params);
  /// True when `a` is more specific than `b` (a literal where `b` has a parameter, first).
  static bool more_specific(const Route& a, const Route& b);

  std::vector<Route> routes_;
};

}  // namespace weft::io
