#include "weft/io/http_router.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "weft/io/http_client.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;

/// Each route answers with its name and its path parameters, so a test sees which one ran.
HttpHandler named(std::string name) {
  return [name](HttpRequest q, HttpResponder r) {
    std::string body = name;
    for (const auto& [k, v] : q.path_params) body += " " + k + "=" + v;
    r.respond(HttpResponse::text(200, body));
  };
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router.add("GET", "/api/v1/devices", named("list"));
    router.add("GET", "/api/v1/devices/{id}", named("device"));
    router.add("DELETE", "/api/v1/devices/{id}", named("forget"));
    router.add("GET", "/api/v1/devices/summary", named("summary"));
    router.add("GET", "/api/v1/devices/{id}/events", named("events"));
    router.add("GET", "/api/v1/{kind}/{id}/events", named("generic"));
    router.add("POST", "/api/v1/readings", named("ingest"));
    router.add("GET", "/", named("root"));
    router.add("GET", "/api/v1/devices/{other}", named("shadowed"));  // ties: first added wins
    auto s = HttpServer::start({}, router.handler());
    ASSERT_TRUE(s) << s.error().describe();
    server = std::move(*s);
    auto c = HttpClient::connect("127.0.0.1", server->port(), 5000ms);
    ASSERT_TRUE(c);
    client.emplace(std::move(*c));
  }

  std::pair<int, std::string> call(std::string_view method, std::string_view target) {
    auto r = client->request(method, target);
    EXPECT_TRUE(r) << r.error().describe();
    return r ? std::pair{r->status, r->body} : std::pair{0, std::string()};
  }

  Router router;
  std::unique_ptr<HttpServer> server;
  std::optional<HttpClient> client;
};

TEST_F(RouterTest, MatchesLiteralsAndParameters) {
  struct Case {
    const char* method;
    const char* target;
    int status;
    std::string body;
  };
  const Case cases[] = {
      {"GET", "/api/v1/devices", 200, "list"},
      {"GET", "/api/v1/devices/m-01", 200, "device id=m-01"},
      {"GET", "/api/v1/devices/summary", 200, "summary"},  // the literal beats {id}
      {"GET", "/api/v1/devices/m-01/events", 200, "events id=m-01"},
      {"GET", "/api/v1/alarms/7/events", 200, "generic kind=alarms id=7"},
      {"DELETE", "/api/v1/devices/m-01", 200, "forget id=m-01"},
      {"GET", "/", 200, "root"},
      {"GET", "/api/v1/devices/a%20b", 200, "device id=a b"},
      {"GET", "/api/v1/devices/", 404, R"({"error": "no route for /api/v1/devices/"})"},
      {"GET", "/api/v1/devices/m-01/events/x", 404,
       R"({"error": "no route for /api/v1/devices/m-01/events/x"})"},
      {"PUT", "/api/v1/devices/m-01", 405,
       R"x({"error": "method PUT not allowed for /api/v1/devices/m-01 (allowed: GET, DELETE)"})x"},
      {"GET", "/api/v1/readings", 405,
       R"x({"error": "method GET not allowed for /api/v1/readings (allowed: POST)"})x"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.method) + " " + c.target);
    const auto [status, body] = call(c.method, c.target);
    EXPECT_EQ(status, c.status);
    EXPECT_EQ(body, c.body);
  }
}

TEST_F(RouterTest, AllowHeaderListsEachMethodOnce) {
  auto r = client->request("PATCH", "/api/v1/devices/x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->headers.get("Allow"), "GET, DELETE");
}

TEST(Router, RejectsBadPatterns) {
  Router router;
  EXPECT_THROW(router.add("GET", "no-slash", named("x")), std::invalid_argument);
  EXPECT_THROW(router.add("GET", "/a/{id", named("x")), std::invalid_argument);
  EXPECT_THROW(router.add("GET", "/a/{}", named("x")), std::invalid_argument);
  EXPECT_THROW(router.add("GET", "/a/x{id}", named("x")), std::invalid_argument);
  EXPECT_NO_THROW(router.add("GET", "/a/{id}/b", named("x")));
}

}  // namespace
}  // namespace weft::io
