#include "io/http_parser.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace weft::io {
namespace {

/// Everything a parse produced, as text, so that outcomes of different splits compare equal.
std::string summarize(const HttpRequest& r) {
  std::string s = r.method + " " + r.path + " 1." + std::to_string(r.version_minor) +
                  (r.keep_alive ? " keep" : " close");
  for (const auto& [k, v] : r.query) s += " q[" + k + "=" + v + "]";
  for (const auto& [k, v] : r.headers) s += " h[" + k + ":" + v + "]";
  s += " body[" + r.body + "]";
  return s;
}

struct Outcome {
  std::vector<std::string> requests;
  std::optional<HttpParseError> error;
  int continues = 0;

  [[nodiscard]] std::string text() const {
    std::string s;
    for (const auto& r : requests) s += r + "\n";
    if (error) s += "error " + std::to_string(error->status) + ": " + error->message + "\n";
    s += "continues " + std::to_string(continues);
    return s;
  }
};

/// Feeds `input` cut at `cuts` (ascending offsets), as a socket would deliver it.
Outcome parse_pieces(std::string_view input, const std::vector<std::size_t>& cuts,
                     HttpParserLimits limits = {}) {
  HttpRequestParser parser(limits);
  Outcome out;
  std::size_t start = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(input.size());
  for (std::size_t end : ends) {
    std::string piece(input.substr(start, end - start));  // a fresh buffer: no aliasing
    start = end;
    std::string_view rest(piece);
    while (!rest.empty() && !out.error) {
      const auto step = parser.parse(rest);
      rest.remove_prefix(step.consumed);
      switch (step.state) {
        case HttpRequestParser::State::incomplete:
          EXPECT_TRUE(rest.empty());
          break;
        case HttpRequestParser::State::expect_continue:
          ++out.continues;
          break;
        case HttpRequestParser::State::complete:
          out.requests.push_back(summarize(parser.take()));
          break;
        case HttpRequestParser::State::failed:
          out.error = parser.error();
          break;
      }
    }
    // A request whose body is empty completes without another byte.
    if (!out.error) {
      auto step = parser.parse({});
      if (step.state == HttpRequestParser::State::complete) {
        out.requests.push_back(summarize(parser.take()));
      }
    }
  }
  return out;
}

Outcome parse_whole(std::string_view input, HttpParserLimits limits = {}) {
  return parse_pieces(input, {}, limits);
}

struct GoodCase {
  const char* name;
  std::string input;
  std::vector<std::string> requests;
  int continues = 0;
};

const std::vector<GoodCase>& good_cases() {
  static const std::vector<GoodCase> cases = {
      {"simple get", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", {"GET / 1.1 keep h[Host:a] body[]"}},
      {"decoded path and query",
       "GET /a%20b/c?x=1&y=hello+world&z=%2F&flag&&e= HTTP/1.1\r\nHost: a\r\n\r\n",
       {"GET /a b/c 1.1 keep q[x=1] q[y=hello world] q[z=/] q[flag=] q[e=] h[Host:a] body[]"}},
      {"content-length body",
       "POST /r HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
       {"POST /r 1.1 keep h[Host:a] h[Content-Length:5] body[hello]"}},
      {"chunked body with extension and trailer",
       "POST /r HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n",
       {"POST /r 1.1 keep h[Host:a] h[Transfer-Encoding:chunked] body[hello world]"}},
      {"pipelined",
       "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n"
       "okGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
       {"GET /1 1.1 keep h[Host:a] body[]",
        "POST /2 1.1 keep h[Host:a] h[Content-Length:2] body[ok]",
        "GET /3 1.1 close h[Host:a] h[Connection:close] body[]"}},
      {"http/1.0 without host", "GET /x HTTP/1.0\r\n\r\n", {"GET /x 1.0 close body[]"}},
      {"http/1.0 keep-alive",
       "GET /x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
       {"GET /x 1.0 keep h[Connection:Keep-Alive] body[]"}},
      {"empty lines before the request line",
       "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
       {"GET / 1.1 keep h[Host:a] body[]"}},
      {"absolute form",
       "GET http://example.com:80/p?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
       {"GET /p 1.1 keep q[q=1] h[Host:example.com] body[]"}},
      {"whitespace around values",
       "GET / HTTP/1.1\r\nHost:\t a \t\r\nX-Empty:\r\n\r\n",
       {"GET / 1.1 keep h[Host:a] h[X-Empty:] body[]"}},
      {"expect continue",
       "PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
       {"PUT /u 1.1 keep h[Host:a] h[Expect:100-continue] h[Content-Length:3] body[abc]"},
       1},
      {"expect continue without a body asks nothing",
       "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
       {"GET / 1.1 keep h[Host:a] h[Expect:100-continue] body[]"}},
      {"options asterisk",
       "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
       {"OPTIONS * 1.1 keep h[Host:a] body[]"}},
  };
  return cases;
}

struct BadCase {
  const char* name;
  std::string input;
  int status;
  std::string message;  // a substring of the error
};

const std::vector<BadCase>& bad_cases() {
  static const std::vector<BadCase> cases = {
      {"header without colon", "GET / HTTP/1.1\r\nHost: a\r\nbad\r\n\r\n", 400,
       "bad header line 3: no colon"},
      {"content-length not a number", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12x\r\n\r\n",
       400, "Content-Length not a number"},
      {"negative content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400,
       "Content-Length not a number"},
      {"content-length overflow",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400,
       "Content-Length not a number"},
      {"two content-lengths",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400,
       "more than one Content-Length"},
      {"body over the limit", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", 413,
       "exceeds the limit of 100 bytes"},
      {"chunked body over the limit",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" +
           std::string(64, 'x') + "\r\n40\r\n",
       413, "chunked body exceeds the limit of 100 bytes"},
      {"both framings",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       "both Transfer-Encoding and Content-Length"},
      {"unknown transfer coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
       501, "Transfer-Encoding 'gzip' not supported"},
      {"chunked not last",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400,
       "not the final coding"},
      {"bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
       400, "bad chunk size line 'zz'"},
      {"chunk data too long",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", 400,
       "missing CRLF after chunk data"},
      {"LF without CR after chunk data",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\nTr\n", 400,
       "missing CRLF after chunk data"},
      {"http/2", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "HTTP/2.0 not supported"},
      {"garbage version", "GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400, "version is not HTTP/1.x"},
      {"missing host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, "missing Host header"},
      {"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host"},
      {"obsolete folding", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  2\r\n\r\n", 400,
       "bad header line 4: obsolete line folding"},
      {"bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400, "line 1 of the request head: LF without CR"},
      {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400,
       "bad header line 2: field name is not a token"},
      {"control character in value", "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", 400,
       "bad header line 2: control character"},
      {"short request line", "GET /\r\nHost: a\r\n\r\n", 400, "bad request line"},
      {"bad method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "method is not a token"},
      {"relative target", "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400,
       "neither a path nor an absolute URL"},
      {"bad percent in path", "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400,
       "bad percent-encoding in path"},
      {"NUL in path", "GET /a%00 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad percent-encoding in path"},
      {"bad percent in query", "GET /?k=%4 HTTP/1.1\r\nHost: a\r\n\r\n", 400,
       "bad percent-encoding in query parameter 'k'"},
      {"unknown expectation", "POST / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417,
       "unsupported expectation 'magic'"},
      {"head over the limit",
       "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(200, 'v') + "\r\n\r\n", 431,
       "request head exceeds the limit of 128 bytes"},
      {"transfer-encoding in http/1.0",
       "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
       "Transfer-Encoding in an HTTP/1.0 request"},
  };
  return cases;
}

constexpr HttpParserLimits kSmall{128, 100};

TEST(HttpParser, GoodRequests) {
  for (const GoodCase& c : good_cases()) {
    SCOPED_TRACE(c.name);
    const Outcome out = parse_whole(c.input);
    EXPECT_FALSE(out.error) << out.error->message;
    EXPECT_EQ(out.requests, c.requests);
    EXPECT_EQ(out.continues, c.continues);
  }
}

TEST(HttpParser, BadRequests) {
  for (const BadCase& c : bad_cases()) {
    SCOPED_TRACE(c.name);
    const Outcome out = parse_whole(c.input, kSmall);
    ASSERT_TRUE(out.error.has_value());
    EXPECT_EQ(out.error->status, c.status);
    EXPECT_NE(out.error->message.find(c.message), std::string::npos) << out.error->message;
  }
}

TEST(HttpParser, EverySplitGivesTheSameResult) {
  std::vector<std::pair<std::string, HttpParserLimits>> inputs;
  for (const GoodCase& c : good_cases()) inputs.emplace_back(c.input, HttpParserLimits{});
  for (const BadCase& c : bad_cases()) inputs.emplace_back(c.input, kSmall);
  for (const auto& [input, limits] : inputs) {
    SCOPED_TRACE(input);
    const std::string whole = parse_whole(input, limits).text();
    for (std::size_t cut = 1; cut < input.size(); ++cut) {
      ASSERT_EQ(parse_pieces(input, {cut}, limits).text(), whole) << "split at " << cut;
    }
    std::vector<std::size_t> every_byte;
    for (std::size_t i = 1; i < input.size(); ++i) every_byte.push_back(i);
    ASSERT_EQ(parse_pieces(input, every_byte, limits).text(), whole) << "byte by byte";
  }
}

TEST(HttpParser, FailedParserStaysFailed) {
  HttpRequestParser parser;
  EXPECT_EQ(parser.parse("BAD\r\n\r\n").state, HttpRequestParser::State::failed);
  EXPECT_EQ(parser.parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n").state,
            HttpRequestParser::State::failed);
}

TEST(HttpParser, StopsAtRequestBoundary) {
  HttpRequestParser parser;
  const std::string two = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
  const auto step = parser.parse(two);
  EXPECT_EQ(step.state, HttpRequestParser::State::complete);
  EXPECT_EQ(step.consumed, two.size() / 2);
  EXPECT_EQ(parser.take().path, "/1");
  EXPECT_TRUE(parser.idle());
}

TEST(HttpParser, HeadAtExactlyTheLimitIsAccepted) {
  const std::string head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_FALSE(parse_whole(head, {head.size(), 0}).error);
  const auto over = parse_whole(head, {head.size() - 1, 0});
  ASSERT_TRUE(over.error);
  EXPECT_EQ(over.error->status, 431);
}

RC_GTEST_PROP(HttpParser, ArbitraryBytesParseTheSameInAnySplit, (const std::string& noise)) {
  // Prefixes that reach every phase, followed by anything.
  const std::string prefix = *rc::gen::element<std::string>(
      "", "GET / HTTP/1.1\r\n", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string input = prefix + noise;
  const std::size_t cut = *rc::gen::inRange<std::size_t>(0, input.size() + 1);
  const std::vector<std::size_t> cuts =
      cut == 0 || cut == input.size() ? std::vector<std::size_t>{} : std::vector{cut};
  RC_ASSERT(parse_pieces(input, cuts, kSmall).text() == parse_whole(input, kSmall).text());
}

}  // namespace
}  // namespace weft::io
