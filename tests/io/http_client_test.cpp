// The client against canned server bytes: framings our server never sends (chunked,
// close-delimited, interim 1xx) and failures (timeouts, refused connections).
#include "weft/io/http_client.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <thread>

namespace weft::io {
namespace {

using namespace std::chrono_literals;

/// Accepts one connection, reads one request head, writes `reply`, then closes (or holds the
/// connection open until destroyed when `hold`).
class CannedServer {
 public:
  explicit CannedServer(std::string reply, bool hold = false) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listen_fd_, 4);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, reply = std::move(reply), hold] {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      std::string got;
      char buf[4096];
      while (got.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
      }
      ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
      if (hold) {
        while (::recv(fd, buf, sizeof buf, 0) > 0) {
        }
      }
      ::close(fd);
    });
  }
  ~CannedServer() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }
  [[nodiscard]] std::uint16_t port() const { return port_; }

 private:
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

HttpClient connect_to(const CannedServer& s, std::chrono::milliseconds timeout = 5000ms) {
  auto c = HttpClient::connect("127.0.0.1", s.port(), timeout);
  EXPECT_TRUE(c) << c.error().describe();
  return std::move(*c);
}

TEST(HttpClient, ChunkedResponseAfterInterimContinue) {
  CannedServer s(
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
      "4\r\nweft\r\n6;ext=1\r\n rules\r\n0\r\nTrailer: x\r\n\r\n");
  auto client = connect_to(s);
  auto r = client.post("/x", "body");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "weft rules");
  EXPECT_EQ(r->headers.get("x-a"), "1");
}

TEST(HttpClient, CloseDelimitedResponse) {
  CannedServer s("HTTP/1.0 200 OK\r\n\r\nuntil the end");
  auto client = connect_to(s);
  auto r = client.get("/");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->body, "until the end");
}

TEST(HttpClient, EventsOverChunkedBody) {
  auto chunk = [](std::string_view data) {
    return fmt::format("{:x}\r\n{}\r\n", data.size(), data);
  };
  CannedServer s(
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
      chunk("event: a\ndata: 1\nid: 7") + chunk("\n\n") + chunk(": comment\ndata: x") +
      chunk("\n") + chunk("\ndata: y\n\n") + "0\r\n\r\n");
  auto client = connect_to(s);
  ASSERT_TRUE(client.open_events("/s"));
  auto e = client.read_event(5000ms);
  ASSERT_TRUE(e) << e.error().describe();
  EXPECT_EQ(e->event, "a");
  EXPECT_EQ(e->data, "1");
  EXPECT_EQ(e->id, "7");
  e = client.read_event(5000ms);
  ASSERT_TRUE(e) << e.error().describe();
  EXPECT_EQ(e->event, "");
  EXPECT_EQ(e->data, "x");
  e = client.read_event(5000ms);
  ASSERT_TRUE(e) << e.error().describe();
  EXPECT_EQ(e->data, "y");
  e = client.read_event(5000ms);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), Errc::io);
}

TEST(HttpClient, RefusedEventStreamQuotesTheAnswer) {
  CannedServer s("HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\n\r\n{\"error\": 1}");
  auto client = connect_to(s);
  auto r = client.open_events("/nope");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("404 Not Found {\"error\": 1}"), std::string::npos)
      << r.error().message();
}

TEST(HttpClient, TimeoutNamesTheServer) {
  CannedServer s("", true);  // reads the request, never answers
  auto client = connect_to(s, 100ms);
  auto r = client.get("/");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::timeout);
  EXPECT_NE(r.error().message().find("127.0.0.1:" + std::to_string(s.port())), std::string::npos);
  client.close();
}

TEST(HttpClient, MalformedStatusLine) {
  CannedServer s("HTTP/1.1 abc nope\r\n\r\n");
  auto client = connect_to(s);
  auto r = client.get("/");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::malformed);
}

TEST(HttpClient, RefusedConnection) {
  std::uint16_t port = 0;
  {
    CannedServer s("");  // a port that was just free; nobody listens after this scope
    port = s.port();
    auto c = HttpClient::connect("127.0.0.1", port);  // let the canned server finish
  }
  auto c = HttpClient::connect("127.0.0.1", port, 1000ms);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("cannot connect"), std::string::npos) << c.error().message();
}

}  // namespace
}  // namespace weft::io
