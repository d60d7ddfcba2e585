#include "weft/io/http_router.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include <stdexcept>

namespace weft::io {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  for (;;) {
    const std::size_t slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

}  // namespace

void Router::add(std::string method, std::string_view pattern, HttpHandler handler) {
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument(fmt::format("route pattern '{}' must start with '/'", pattern));
  }
  Route route{std::move(method), {}, std::move(handler)};
  for (std::string_view part : split_path(pattern)) {
    const bool open = part.starts_with('{');
    const bool close = part.ends_with('}');
    if (open != close || (open && part.size() < 3) ||
        part.find_first_of("{}", open ? 1 : 0) < part.size() - (close ? 1 : 0)) {
      throw std::invalid_argument(
          fmt::format("route pattern '{}': bad segment '{}'", pattern, part));
    }
    route.segments.push_back(open ? Segment{std::string(part.substr(1, part.size() - 2)), true}
                                  : Segment{std::string(part), false});
  }
  routes_.push_back(std::move(route));
}

bool Router::match(const Route& route, const std::vector<std::string_view>& parts,
                   std::vector<std::pair<std::string, std::string>>* params) {
  if (route.segments.size() != parts.size()) return false;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Segment& s = route.segments[i];
    if (s.param ? parts[i].empty() : s.text != parts[i]) return false;
  }
  if (params != nullptr) {
    params->clear();
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (route.segments[i].param) params->emplace_back(route.segments[i].text, parts[i]);
    }
  }
  return true;
}

bool Router::more_specific(const Route& a, const Route& b) {
  for (std::size_t i = 0; i < a.segments.size() && i < b.segments.size(); ++i) {
    if (a.segments[i].param != b.segments[i].param) return !a.segments[i].param;
  }
  return false;
}

void Router::operator()(HttpRequest request, HttpResponder responder) const {
  const std::vector<std::string_view> parts = split_path(request.path);
  const Route* best = nullptr;
  const Route* best_get = nullptr;  // HEAD falls back to GET
  std::vector<std::string_view> allowed;
  for (const Route& route : routes_) {
    if (!match(route, parts, nullptr)) continue;
    if (std::find(allowed.begin(), allowed.end(), route.method) == allowed.end()) {
      allowed.push_back(route.method);
    }
    if (route.method == request.method) {
      if (best == nullptr || more_specific(route, *best)) best = &route;
    } else if (request.method == "HEAD" && route.method == "GET") {
      if (best_get == nullptr || more_specific(route, *best_get)) best_get = &route;
    }
  }
  if (best == nullptr) best = best_get;
  if (best == nullptr) {
    if (allowed.empty()) {
      responder.respond(HttpResponse::error(404, fmt::format("no route for {}", request.path)));
    } else {
      const std::string allow = fmt::format("{}", fmt::join(allowed, ", "));
      HttpResponse r =
          HttpResponse::error(405, fmt::format("method {} not allowed for {} (allowed: {})",
                                               request.method, request.path, allow));
      r.headers.add("Allow", allow);
      responder.respond(std::move(r));
    }
    return;
  }
  match(*best, parts, &request.path_params);
  best->handler(std::move(request), std::move(responder));
}

HttpHandler Router::handler() const {
  return [this](HttpRequest request, HttpResponder responder) {
    (*this)(std::move(request), std::move(responder));
  };
}

}  // namespace weft::io
