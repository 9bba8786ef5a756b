// HttpRequestReader: requests one after another on one reader (its buffers are
// reused, so nothing of one request may show in the next), bodies by length
// and chunked, pipelining, split input, keep-alive, limits, and the Beast
// header built for the WebSocket handshake.
#include <gtest/gtest.h>

#include <string>

#include "sluice/net/http_request_reader.hpp"

namespace {

using sluice::net::HttpRequestReader;
using Status = HttpRequestReader::Status;

void feed(HttpRequestReader& r, std::string_view bytes) { r.append({bytes.data(), bytes.size()}); }

TEST(HttpRequestReader, ReusedBuffersCarryNothingIntoTheNextRequest) {
  HttpRequestReader r(8192, 1024);
  feed(r,
       "POST /v1/events?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nX-Extra: yes\r\n"
       "Content-Length: 11\r\n\r\n{\"topic\":1}"
       "GET /h HTTP/1.1\r\nHost: b\r\n\r\n");
  ASSERT_EQ(r.next(), Status::request);
  auto& first = r.request();
  EXPECT_EQ(first.method(), boost::beast::http::verb::post);
  EXPECT_EQ(first.method_string(), "POST");
  EXPECT_EQ(first.target(), "/v1/events?x=1");
  EXPECT_EQ(first.version(), 11u);
  ASSERT_EQ(first.fields().size(), 4u);
  EXPECT_EQ(first.fields()[1].name, "Content-Type");
  EXPECT_EQ(first.field("content-type"), "application/json");
  EXPECT_EQ(first.field("x-extra"), "yes");
  EXPECT_EQ(first.body(), "{\"topic\":1}");
  EXPECT_TRUE(first.keep_alive());

  ASSERT_EQ(r.next(), Status::request);  // pipelined: already buffered
  auto& second = r.request();
  EXPECT_EQ(second.method_string(), "GET");
  EXPECT_EQ(second.target(), "/h");
  ASSERT_EQ(second.fields().size(), 1u);  // not the four of the first request
  EXPECT_EQ(second.field("Host"), "b");
  EXPECT_EQ(second.field("X-Extra"), "");
  EXPECT_EQ(second.body(), "");
  EXPECT_EQ(r.next(), Status::need_more);
  EXPECT_FALSE(r.has_buffered());
}

TEST(HttpRequestReader, SplitInputChunkedBodyAndKeepAlive) {
  HttpRequestReader r(8192, 1024);
  const std::string request =
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n";
  for (std::size_t i = 0; i + 1 < request.size(); ++i) {
    feed(r, request.substr(i, 1));
    ASSERT_EQ(r.next(), Status::need_more) << "complete after " << i + 1 << " bytes";
  }
  feed(r, request.substr(request.size() - 1));
  ASSERT_EQ(r.next(), Status::request);
  EXPECT_EQ(r.request().body(), "abcdefg");
  EXPECT_FALSE(r.request().keep_alive());

  feed(r, "GET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(r.next(), Status::request);
  EXPECT_EQ(r.request().version(), 10u);
  EXPECT_FALSE(r.request().keep_alive());  // HTTP/1.0 without keep-alive
  feed(r, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_EQ(r.next(), Status::request);
  EXPECT_TRUE(r.request().keep_alive());
}

TEST(HttpRequestReader, LimitsAndMalformedInput) {
  {
    HttpRequestReader r(8192, 10);
    feed(r, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n");
    EXPECT_EQ(r.next(), Status::error);
    EXPECT_EQ(r.error_status(), 413u);
    EXPECT_EQ(r.next(), Status::error);  // the stream cannot go on
  }
  {
    HttpRequestReader r(8192, 10);
    feed(r, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n01234567890\r\n0\r\n\r\n");
    EXPECT_EQ(r.next(), Status::error);
    EXPECT_EQ(r.error_status(), 413u);
  }
  {
    HttpRequestReader r(100, 1024);
    feed(r, "GET / HTTP/1.1\r\nX: " + std::string(200, 'y'));
    EXPECT_EQ(r.next(), Status::error);
    EXPECT_EQ(r.error_status(), 431u);
  }
  {
    HttpRequestReader r(8192, 1024);
    feed(r, "NOT HTTP\r\n\r\n");
    EXPECT_EQ(r.next(), Status::error);
    EXPECT_EQ(r.error_status(), 400u);
  }
}

// RFC 9112 §3.2: exactly one Host in HTTP/1.1; HTTP/1.0 may omit it.
TEST(HttpRequestReader, Http11NeedsExactlyOneHost) {
  for (const std::string head : {"GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"}) {
    HttpRequestReader r(8192, 1024);
    feed(r, head);
    EXPECT_EQ(r.next(), Status::error) << head;
    EXPECT_EQ(r.error_status(), 400u);
    EXPECT_NE(r.error_message().find("Host"), std::string::npos) << r.error_message();
  }
  for (const std::string head : {"GET / HTTP/1.0\r\n\r\n", "GET / HTTP/1.1\r\nHOST: a\r\n\r\n"}) {
    HttpRequestReader r(8192, 1024);
    feed(r, head);
    EXPECT_EQ(r.next(), Status::request) << head;
  }
}

TEST(HttpRequestReader, BeastHeaderForTheHandshakeAndLeftoverFrames) {
  HttpRequestReader r(8192, 1024);
  feed(r,
       "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n" +
           std::string("\x81\x00", 2));
  ASSERT_EQ(r.next(), Status::request);
  const auto head = r.request().beast_header();
  EXPECT_EQ(head.method(), boost::beast::http::verb::get);
  EXPECT_EQ(head.target(), "/v1/ws");
  EXPECT_EQ(head.version(), 11u);
  EXPECT_EQ(head[boost::beast::http::field::upgrade], "websocket");
  EXPECT_EQ(head["Sec-WebSocket-Key"], "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(r.leftover(), std::string_view("\x81\x00", 2));
}

}  // namespace
