// Tests of the opening handshake: RFC 6455 §4 request validation and response,
// feeding in arbitrary splits, size limits, subprotocol selection, RFC 7692
// permessage-deflate negotiation on both sides, and client/server round trips.
#include "sluice/protocol/handshake.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/string_body.hpp>

#include "protocol/extension_header.hpp"
#include "sluice/protocol/error.hpp"

namespace sluice::protocol {
namespace {

namespace http = boost::beast::http;

constexpr std::string_view kRfcKey = "dGhlIHNhbXBsZSBub25jZQ==";
// RFC 6455 §1.3: the example key and its Sec-WebSocket-Accept.
constexpr std::string_view kRfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

std::span<const char> as_span(std::string_view s) { return {s.data(), s.size()}; }

// The RFC 6455 §1.3 example request, with `extra` header lines before the blank line.
std::string request_with(std::string_view extra = "") {
  return "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
         "Connection: Upgrade\r\nSec-WebSocket-Key: " +
         std::string(kRfcKey) + "\r\nSec-WebSocket-Version: 13\r\n" + std::string(extra) + "\r\n";
}

// A request built from explicit lines (for the validation table).
std::string request_lines(std::string_view request_line, std::string_view headers) {
  return std::string(request_line) + "\r\n" + std::string(headers) + "\r\n";
}

constexpr std::string_view kGoodHeaders =
    "Host: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

struct ServerResult {
  HandshakeStatus status;
  UpgradeDecision decision;
  std::string leftover;
};

// Feeds `bytes` in pieces of `chunk` bytes (0: all at once); bytes fed after
// the decision join the leftover.
ServerResult run_server(std::string_view bytes, const ServerHandshakeOptions& options,
                        std::size_t chunk = 0) {
  ServerHandshake handshake(options);
  HandshakeStatus status = HandshakeStatus::need_more;
  if (chunk == 0) chunk = bytes.size() == 0 ? 1 : bytes.size();
  for (std::size_t i = 0; i < bytes.size(); i += chunk) {
    status = handshake.feed(as_span(bytes.substr(i, chunk)));
  }
  return {status, handshake.decision(), std::string(handshake.leftover())};
}

ServerResult run_server(std::string_view bytes) {
  return run_server(bytes, ServerHandshakeOptions{});
}

// Parses a complete HTTP response (head and Content-Length body).
http::response<http::string_body> parse_response(std::string_view bytes) {
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  boost::beast::error_code ec;
  const std::size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  EXPECT_EQ(used, bytes.size());
  return parser.release();
}

http::request<http::empty_body> parse_request(std::string_view bytes) {
  http::request_parser<http::empty_body> parser;
  boost::beast::error_code ec;
  const std::size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  EXPECT_EQ(used, bytes.size());
  return parser.release();
}

std::string header(const http::fields& fields, http::field name) {
  return std::string(fields[name]);
}

auto as_tuple(const DeflateParams& p) {
  return std::tuple(p.server_no_context_takeover, p.client_no_context_takeover,
                    p.server_max_window_bits, p.client_max_window_bits);
}

// --- keys ---

TEST(HandshakeKey, AcceptKeyRfcVector) { EXPECT_EQ(compute_accept_key(kRfcKey), kRfcAccept); }

TEST(HandshakeKey, GeneratedKeysAreFreshBase64Of16Bytes) {
  const std::string a = generate_websocket_key();
  const std::string b = generate_websocket_key();
  EXPECT_NE(a, b);
  for (const std::string& key : {a, b}) {
    ASSERT_EQ(key.size(), 24u);
    EXPECT_EQ(key.substr(22), "==");
    // The server's own validation is the reference for "16 bytes of base64".
    const std::string request =
        "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: " +
        key + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    EXPECT_EQ(run_server(request).status, HandshakeStatus::accepted);
  }
}

// --- server: accepting ---

TEST(HandshakeServer, AcceptsRfcExampleWithExactResponse) {
  const ServerResult result = run_server(request_with());
  ASSERT_EQ(result.status, HandshakeStatus::accepted);
  EXPECT_FALSE(result.decision.error);
  EXPECT_EQ(result.decision.response,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  EXPECT_EQ(result.decision.subprotocol, "");
  EXPECT_FALSE(result.decision.deflate.has_value());
  EXPECT_EQ(result.leftover, "");
}

TEST(HandshakeServer, NeedMoreUntilTheBlankLine) {
  const std::string request = request_with();
  ServerHandshakeOptions options;
  ServerHandshake handshake(options);
  EXPECT_EQ(handshake.feed(as_span(std::string_view(request).substr(0, request.size() - 1))),
            HandshakeStatus::need_more);
  EXPECT_EQ(handshake.leftover(), "");
  EXPECT_EQ(handshake.feed(as_span(std::string_view(request).substr(request.size() - 1))),
            HandshakeStatus::accepted);
  EXPECT_EQ(handshake.request().target(), "/chat");
}

TEST(HandshakeServer, EverySplitGivesTheSameDecision) {
  ServerHandshakeOptions options;
  options.subprotocols = {"chat"};
  options.deflate.enabled = true;
  const std::string request = request_with(
      "Sec-WebSocket-Protocol: chat\r\n"
      "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
  const ServerResult whole = run_server(request, options);
  ASSERT_EQ(whole.status, HandshakeStatus::accepted);
  ASSERT_TRUE(whole.decision.deflate.has_value());

  const ServerResult bytewise = run_server(request, options, 1);
  EXPECT_EQ(bytewise.status, HandshakeStatus::accepted);
  EXPECT_EQ(bytewise.decision.response, whole.decision.response);

  for (std::size_t split = 1; split < request.size(); ++split) {
    ServerHandshake handshake(options);
    const std::string_view bytes = request;
    EXPECT_EQ(handshake.feed(as_span(bytes.substr(0, split))), HandshakeStatus::need_more) << split;
    ASSERT_EQ(handshake.feed(as_span(bytes.substr(split))), HandshakeStatus::accepted) << split;
    EXPECT_EQ(handshake.decision().response, whole.decision.response) << split;
    EXPECT_EQ(handshake.decision().subprotocol, "chat") << split;
    ASSERT_TRUE(handshake.decision().deflate.has_value()) << split;
    EXPECT_EQ(as_tuple(*handshake.decision().deflate), as_tuple(*whole.decision.deflate)) << split;
    EXPECT_EQ(handshake.leftover(), "") << split;
  }
}

TEST(HandshakeServer, LeftoverBytesAfterTheHeadAreReturnedExactly) {
  const std::string frames("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58\x00\x0d\x0a", 14);
  const std::string bytes = request_with() + frames;
  for (std::size_t chunk : {std::size_t{0}, std::size_t{1}, std::size_t{7}}) {
    const ServerResult result = run_server(bytes, ServerHandshakeOptions{}, chunk);
    ASSERT_EQ(result.status, HandshakeStatus::accepted) << chunk;
    EXPECT_EQ(result.leftover, frames) << chunk;
  }
}

TEST(HandshakeServer, BytesFedAfterAcceptanceJoinTheLeftover) {
  ServerHandshakeOptions options;
  ServerHandshake handshake(options);
  ASSERT_EQ(handshake.feed(as_span(request_with() + "ab")), HandshakeStatus::accepted);
  EXPECT_EQ(handshake.feed(as_span("cd")), HandshakeStatus::accepted);
  EXPECT_EQ(handshake.leftover(), "abcd");
}

TEST(HandshakeServer, TokenListsAreMatchedCaseInsensitively) {
  EXPECT_EQ(run_server(request_lines("GET / HTTP/1.1",
                                     "Host: h\r\nUpgrade: h2c, WebSocket\r\n"
                                     "Connection: keep-alive, Upgrade\r\n"
                                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                     "Sec-WebSocket-Version: 13\r\n"))
                .status,
            HandshakeStatus::accepted);
  EXPECT_EQ(run_server(request_lines("GET / HTTP/1.1",
                                     "Host: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
                                     "Connection: UPGRADE\r\n"
                                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                     "Sec-WebSocket-Version: 13\r\n"))
                .status,
            HandshakeStatus::accepted);
}

TEST(HandshakeServer, EmptyContentLengthIsNotABody) {
  EXPECT_EQ(run_server(request_with("Content-Length: 0\r\n")).status, HandshakeStatus::accepted);
}

// --- server: rejecting ---

struct RejectionCase {
  const char* name;
  std::string request;
  Error error;
  unsigned status;
};

class HandshakeServerRejects : public testing::TestWithParam<RejectionCase> {};

TEST_P(HandshakeServerRejects, WithExactErrorAndStatus) {
  const RejectionCase& c = GetParam();
  ServerHandshakeOptions options;
  options.max_header_bytes = 1024;
  options.origin_check = [](std::string_view origin) { return origin != "https://evil.example"; };
  const ServerResult result = run_server(c.request, options);
  ASSERT_EQ(result.status, HandshakeStatus::rejected);
  EXPECT_EQ(result.decision.error, make_error_code(c.error)) << result.decision.error.message();
  EXPECT_EQ(http_status_for(c.error), c.status);

  const auto response = parse_response(result.decision.response);
  EXPECT_EQ(response.result_int(), c.status);
  EXPECT_EQ(response.version(), 11u);
  EXPECT_EQ(header(response, http::field::content_type), "text/plain");
  EXPECT_EQ(header(response, http::field::connection), "close");
  EXPECT_EQ(response.body(), make_error_code(c.error).message() + "\n");
  EXPECT_EQ(header(response, http::field::content_length), std::to_string(response.body().size()));
  EXPECT_EQ(response.count(http::field::allow), c.status == 405 ? 1u : 0u);
  if (c.status == 405) {
    EXPECT_EQ(header(response, http::field::allow), "GET");
  }
  EXPECT_EQ(response.count(http::field::sec_websocket_version), c.status == 426 ? 1u : 0u);
  if (c.status == 426) {
    EXPECT_EQ(header(response, http::field::sec_websocket_version), "13");
  }
  EXPECT_TRUE(result.decision.subprotocol.empty());
  EXPECT_FALSE(result.decision.deflate.has_value());
}

constexpr std::string_view kHeadersNoKey =
    "Host: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";

INSTANTIATE_TEST_SUITE_P(
    HandshakeTable, HandshakeServerRejects,
    testing::Values(
        RejectionCase{"Post", request_lines("POST / HTTP/1.1", kGoodHeaders), Error::bad_method,
                      405},
        RejectionCase{"LowercaseGet", request_lines("get / HTTP/1.1", kGoodHeaders),
                      Error::bad_method, 405},
        RejectionCase{"PostAndHttp10", request_lines("POST / HTTP/1.0", kGoodHeaders),
                      Error::bad_method, 405},
        RejectionCase{"Http10", request_lines("GET / HTTP/1.0", kGoodHeaders),
                      Error::bad_http_version, 400},
        RejectionCase{"NoHost",
                      request_lines("GET / HTTP/1.1",
                                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                    "Sec-WebSocket-Version: 13\r\n"),
                      Error::missing_host, 400},
        RejectionCase{"NoHostNoUpgrade", request_lines("GET / HTTP/1.1", "Connection: Upgrade\r\n"),
                      Error::missing_host, 400},
        RejectionCase{"NoUpgrade",
                      request_lines("GET / HTTP/1.1",
                                    "Host: h\r\nConnection: Upgrade\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                    "Sec-WebSocket-Version: 13\r\n"),
                      Error::missing_upgrade, 400},
        RejectionCase{"UpgradeH2c",
                      request_lines("GET / HTTP/1.1",
                                    "Host: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                    "Sec-WebSocket-Version: 13\r\n"),
                      Error::missing_upgrade, 400},
        RejectionCase{"ConnectionKeepAlive",
                      request_lines("GET / HTTP/1.1",
                                    "Host: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                    "Sec-WebSocket-Version: 13\r\n"),
                      Error::missing_connection_upgrade, 400},
        RejectionCase{"NoConnection",
                      request_lines("GET / HTTP/1.1",
                                    "Host: h\r\nUpgrade: websocket\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                    "Sec-WebSocket-Version: 13\r\n"),
                      Error::missing_connection_upgrade, 400},
        RejectionCase{"Version8",
                      request_lines("GET / HTTP/1.1",
                                    "Host: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                    "Sec-WebSocket-Version: 8\r\n"),
                      Error::bad_websocket_version, 426},
        RejectionCase{"NoVersion",
                      request_lines("GET / HTTP/1.1",
                                    "Host: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
                      Error::bad_websocket_version, 426},
        RejectionCase{"VersionList",
                      request_lines("GET / HTTP/1.1",
                                    "Host: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                    "Sec-WebSocket-Version: 13, 8\r\n"),
                      Error::bad_websocket_version, 426},
        RejectionCase{"NoKey", request_lines("GET / HTTP/1.1", kHeadersNoKey),
                      Error::bad_websocket_key, 400},
        RejectionCase{
            "ShortKey",
            request_lines("GET / HTTP/1.1",
                          std::string(kHeadersNoKey) + "Sec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n"),
            Error::bad_websocket_key, 400},
        RejectionCase{
            "KeyBadChar",
            request_lines("GET / HTTP/1.1", std::string(kHeadersNoKey) +
                                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ*==\r\n"),
            Error::bad_websocket_key, 400},
        RejectionCase{
            "KeyOf17Bytes",
            request_lines("GET / HTTP/1.1", std::string(kHeadersNoKey) +
                                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZSE=\r\n"),
            Error::bad_websocket_key, 400},
        RejectionCase{
            "TwoKeys",
            request_lines("GET / HTTP/1.1", std::string(kGoodHeaders) +
                                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
            Error::bad_websocket_key, 400},
        RejectionCase{"OriginRejected", request_with("Origin: https://evil.example\r\n"),
                      Error::origin_rejected, 403},
        RejectionCase{"MalformedExtensions",
                      request_with("Sec-WebSocket-Extensions: permessage-deflate;\r\n"),
                      Error::bad_extension_offer, 400},
        RejectionCase{"NotHttp", "HELLO\r\n\r\n", Error::bad_http_request, 400},
        RejectionCase{"BadHeaderLine", request_lines("GET / HTTP/1.1", "Host h\r\n"),
                      Error::bad_http_request, 400},
        RejectionCase{"Http20", request_lines("GET / HTTP/2.0", kGoodHeaders),
                      Error::bad_http_request, 400},
        RejectionCase{"ContentLengthBody", request_with("Content-Length: 5\r\n") + "hello",
                      Error::bad_http_request, 400},
        RejectionCase{"ChunkedBody", request_with("Transfer-Encoding: chunked\r\n") + "0\r\n\r\n",
                      Error::bad_http_request, 400},
        RejectionCase{"HeaderTooLarge",
                      request_with("X-Padding: " + std::string(2000, 'x') + "\r\n"),
                      Error::header_too_large, 431}),
    [](const testing::TestParamInfo<RejectionCase>& test) { return std::string(test.param.name); });

TEST(HandshakeServer, HeaderLimitCountsTheWholeHeadAcrossFeeds) {
  ServerHandshakeOptions options;
  const std::string base = request_with("X-Pad: \r\n");
  options.max_header_bytes = base.size() + 10;
  // Exactly at the limit is accepted, one byte over is 431, whatever the split.
  const std::string at_limit = request_with("X-Pad: " + std::string(10, 'x') + "\r\n");
  const std::string over_limit = request_with("X-Pad: " + std::string(11, 'x') + "\r\n");
  ASSERT_EQ(at_limit.size(), options.max_header_bytes);
  for (std::size_t chunk : {std::size_t{0}, std::size_t{1}, std::size_t{5}}) {
    EXPECT_EQ(run_server(at_limit, options, chunk).status, HandshakeStatus::accepted) << chunk;
    const ServerResult over = run_server(over_limit, options, chunk);
    ASSERT_EQ(over.status, HandshakeStatus::rejected) << chunk;
    EXPECT_EQ(over.decision.error, make_error_code(Error::header_too_large)) << chunk;
    EXPECT_EQ(parse_response(over.decision.response).result_int(), 431u) << chunk;
  }
}

TEST(HandshakeServer, EndlessHeadIsCutOffAtTheLimit) {
  ServerHandshakeOptions options;
  options.max_header_bytes = 512;
  ServerHandshake handshake(options);
  ASSERT_EQ(handshake.feed(as_span("GET / HTTP/1.1\r\n")), HandshakeStatus::need_more);
  HandshakeStatus status = HandshakeStatus::need_more;
  int lines = 0;
  while (status == HandshakeStatus::need_more && lines < 100) {
    status = handshake.feed(as_span("X-A: b\r\n"));
    ++lines;
  }
  EXPECT_EQ(status, HandshakeStatus::rejected);
  EXPECT_EQ(handshake.decision().error, make_error_code(Error::header_too_large));
  EXPECT_EQ(lines, (512 - 16) / 8 + 1);
}

TEST(HandshakeServer, KeepsReturningRejected) {
  ServerHandshakeOptions options;
  ServerHandshake handshake(options);
  ASSERT_EQ(handshake.feed(as_span("BAD\x01 / HTTP/1.1\r\n")), HandshakeStatus::rejected);
  EXPECT_EQ(handshake.feed(as_span(request_with())), HandshakeStatus::rejected);
  EXPECT_EQ(handshake.decision().error, make_error_code(Error::bad_http_request));
  EXPECT_EQ(handshake.leftover(), "");
}

TEST(HandshakeServer, OriginCheckSeesTheOriginOrEmpty) {
  std::vector<std::string> seen;
  ServerHandshakeOptions options;
  options.origin_check = [&](std::string_view origin) {
    seen.emplace_back(origin);
    return true;
  };
  EXPECT_EQ(run_server(request_with("Origin: https://example.com\r\n"), options).status,
            HandshakeStatus::accepted);
  EXPECT_EQ(run_server(request_with(), options).status, HandshakeStatus::accepted);
  EXPECT_EQ(seen, (std::vector<std::string>{"https://example.com", ""}));
}

TEST(HandshakeServer, OriginCheckIsNotCalledForAnInvalidRequest) {
  bool called = false;
  ServerHandshakeOptions options;
  options.origin_check = [&](std::string_view) { return called = true; };
  EXPECT_EQ(run_server(request_lines("GET / HTTP/1.1", kHeadersNoKey), options).status,
            HandshakeStatus::rejected);
  EXPECT_FALSE(called);
}

TEST(HandshakeServer, IsWebSocketUpgrade) {
  http::request_header<> request;
  EXPECT_FALSE(is_websocket_upgrade(request));
  request.set(http::field::upgrade, "h2c");
  EXPECT_FALSE(is_websocket_upgrade(request));
  request.set(http::field::upgrade, "h2c, WebSocket");
  EXPECT_TRUE(is_websocket_upgrade(request));
}

TEST(HandshakeServer, AcceptUpgradeOnABuiltRequest) {
  http::request_header<> request;
  request.method(http::verb::get);
  request.target("/");
  request.version(11);
  request.set(http::field::host, "h");
  request.set(http::field::upgrade, "websocket");
  request.set(http::field::connection, "upgrade");
  request.set(http::field::sec_websocket_key, kRfcKey);
  request.set(http::field::sec_websocket_version, "13");
  const UpgradeDecision accepted = accept_upgrade(request, ServerHandshakeOptions{});
  EXPECT_FALSE(accepted.error);
  EXPECT_NE(accepted.response.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            std::string::npos);
  request.version(10);
  EXPECT_EQ(accept_upgrade(request, ServerHandshakeOptions{}).error,
            make_error_code(Error::bad_http_version));
}

// --- subprotocols ---

UpgradeDecision decide(std::string_view extra, const ServerHandshakeOptions& options) {
  const ServerResult result = run_server(request_with(extra), options);
  EXPECT_EQ(result.status, HandshakeStatus::accepted) << result.decision.error.message();
  return result.decision;
}

TEST(HandshakeSubprotocol, ServerPreferenceWins) {
  ServerHandshakeOptions options;
  options.subprotocols = {"superchat", "chat"};
  const UpgradeDecision d = decide("Sec-WebSocket-Protocol: chat, superchat\r\n", options);
  EXPECT_EQ(d.subprotocol, "superchat");
  EXPECT_EQ(header(parse_response(d.response), http::field::sec_websocket_protocol), "superchat");
}

TEST(HandshakeSubprotocol, SeveralHeadersAreOneList) {
  ServerHandshakeOptions options;
  options.subprotocols = {"mqtt", "chat"};
  const UpgradeDecision d =
      decide("Sec-WebSocket-Protocol: a, b\r\nSec-WebSocket-Protocol: ,chat , c\r\n", options);
  EXPECT_EQ(d.subprotocol, "chat");
}

TEST(HandshakeSubprotocol, NoneInCommonSelectsNone) {
  ServerHandshakeOptions options;
  options.subprotocols = {"mqtt", "Chat"};
  const UpgradeDecision d = decide("Sec-WebSocket-Protocol: chat\r\n", options);
  EXPECT_EQ(d.subprotocol, "");
  EXPECT_EQ(parse_response(d.response).count(http::field::sec_websocket_protocol), 0u);
  EXPECT_EQ(decide("", options).subprotocol, "");
}

// --- permessage-deflate, server side ---

struct DeflateCase {
  const char* name;
  std::string offer;                    // Sec-WebSocket-Extensions header lines
  DeflateOptions options;               // enabled unless the case says otherwise
  std::optional<std::string> response;  // expected response header; nullopt: none
  DeflateParams params;                 // expected when response is set
};

DeflateOptions enabled(int server_bits = 15, int client_bits = 15, bool server_nct = false,
                       bool client_nct = false) {
  DeflateOptions o;
  o.enabled = true;
  o.server_max_window_bits = server_bits;
  o.client_max_window_bits = client_bits;
  o.server_no_context_takeover = server_nct;
  o.client_no_context_takeover = client_nct;
  return o;
}

DeflateParams params(int server_bits = 15, int client_bits = 15, bool server_nct = false,
                     bool client_nct = false) {
  return DeflateParams{server_nct, client_nct, server_bits, client_bits};
}

std::string ext(std::string_view value) {
  return "Sec-WebSocket-Extensions: " + std::string(value) + "\r\n";
}

class HandshakeDeflate : public testing::TestWithParam<DeflateCase> {};

TEST_P(HandshakeDeflate, Negotiation) {
  const DeflateCase& c = GetParam();
  ServerHandshakeOptions options;
  options.deflate = c.options;
  const UpgradeDecision d = decide(c.offer, options);
  const auto response = parse_response(d.response);
  if (!c.response) {
    EXPECT_FALSE(d.deflate.has_value());
    EXPECT_EQ(response.count(http::field::sec_websocket_extensions), 0u);
    return;
  }
  ASSERT_TRUE(d.deflate.has_value());
  EXPECT_EQ(header(response, http::field::sec_websocket_extensions), *c.response);
  EXPECT_EQ(as_tuple(*d.deflate), as_tuple(c.params));
}

INSTANTIATE_TEST_SUITE_P(
    HandshakeTable, HandshakeDeflate,
    testing::Values(
        DeflateCase{"NoOffer", "", enabled(), std::nullopt, {}},
        DeflateCase{"Disabled", ext("permessage-deflate"), DeflateOptions{}, std::nullopt, {}},
        DeflateCase{"Plain", ext("permessage-deflate"), enabled(), "permessage-deflate", params()},
        DeflateCase{"NameIsCaseInsensitive", ext("PerMessage-Deflate"), enabled(),
                    "permessage-deflate", params()},
        DeflateCase{"ServerNoContextTakeover",
                    ext("permessage-deflate; server_no_context_takeover"), enabled(),
                    "permessage-deflate; server_no_context_takeover", params(15, 15, true, false)},
        DeflateCase{"ClientNoContextTakeover",
                    ext("permessage-deflate; client_no_context_takeover"), enabled(),
                    "permessage-deflate; client_no_context_takeover", params(15, 15, false, true)},
        DeflateCase{"ServerMaxWindowBits", ext("permessage-deflate; server_max_window_bits=10"),
                    enabled(), "permessage-deflate; server_max_window_bits=10", params(10, 15)},
        DeflateCase{"ServerMaxWindowBits15", ext("permessage-deflate; server_max_window_bits=15"),
                    enabled(), "permessage-deflate; server_max_window_bits=15", params(15, 15)},
        DeflateCase{"ServerMaxWindowBitsQuoted",
                    ext("permessage-deflate; server_max_window_bits=\"10\""), enabled(),
                    "permessage-deflate; server_max_window_bits=10", params(10, 15)},
        DeflateCase{"ClientMaxWindowBitsNoValue", ext("permessage-deflate; client_max_window_bits"),
                    enabled(), "permessage-deflate; client_max_window_bits=15", params(15, 15)},
        DeflateCase{"ClientMaxWindowBits9", ext("permessage-deflate; client_max_window_bits=9"),
                    enabled(), "permessage-deflate; client_max_window_bits=9", params(15, 9)},
        // The client's window only affects our inflater, which always uses 15 bits.
        DeflateCase{"ClientMaxWindowBits8", ext("permessage-deflate; client_max_window_bits=8"),
                    enabled(), "permessage-deflate; client_max_window_bits=8", params(15, 8)},
        DeflateCase{"AllParams",
                    ext("permessage-deflate; server_no_context_takeover; "
                        "client_no_context_takeover; server_max_window_bits=12; "
                        "client_max_window_bits=11"),
                    enabled(),
                    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                    "server_max_window_bits=12; client_max_window_bits=11",
                    params(12, 11, true, true)},
        DeflateCase{"ServerWindow8Declined",
                    ext("permessage-deflate; server_max_window_bits=8"),
                    enabled(),
                    std::nullopt,
                    {}},
        DeflateCase{"ServerWindowWithoutValueDeclined",
                    ext("permessage-deflate; server_max_window_bits"),
                    enabled(),
                    std::nullopt,
                    {}},
        DeflateCase{"ServerWindow16Declined",
                    ext("permessage-deflate; server_max_window_bits=16"),
                    enabled(),
                    std::nullopt,
                    {}},
        DeflateCase{"ServerWindow7Declined",
                    ext("permessage-deflate; server_max_window_bits=7"),
                    enabled(),
                    std::nullopt,
                    {}},
        DeflateCase{"LeadingZeroDeclined",
                    ext("permessage-deflate; server_max_window_bits=010"),
                    enabled(),
                    std::nullopt,
                    {}},
        DeflateCase{"ClientWindowWordDeclined",
                    ext("permessage-deflate; client_max_window_bits=x"),
                    enabled(),
                    std::nullopt,
                    {}},
        DeflateCase{"FlagWithValueDeclined",
                    ext("permessage-deflate; server_no_context_takeover=1"),
                    enabled(),
                    std::nullopt,
                    {}},
        DeflateCase{
            "DuplicateParamDeclined",
            ext("permessage-deflate; client_no_context_takeover; client_no_context_takeover"),
            enabled(),
            std::nullopt,
            {}},
        DeflateCase{"DuplicateWindowDeclined",
                    ext("permessage-deflate; client_max_window_bits=9; client_max_window_bits"),
                    enabled(),
                    std::nullopt,
                    {}},
        DeflateCase{"UnknownParamDeclined",
                    ext("permessage-deflate; mem_level=9"),
                    enabled(),
                    std::nullopt,
                    {}},
        DeflateCase{"FirstDeclinedSecondAccepted",
                    ext("permessage-deflate; server_max_window_bits=8, "
                        "permessage-deflate; client_max_window_bits"),
                    enabled(), "permessage-deflate; client_max_window_bits=15", params()},
        DeflateCase{"UnknownParamThenPlain",
                    ext("permessage-deflate; foo") + ext("permessage-deflate"), enabled(),
                    "permessage-deflate", params()},
        DeflateCase{"FirstAcceptableWins",
                    ext("permessage-deflate; server_max_window_bits=10, permessage-deflate"),
                    enabled(), "permessage-deflate; server_max_window_bits=10", params(10, 15)},
        DeflateCase{"OtherExtensionsIgnored",
                    ext("x-webkit-deflate-frame; no_context_takeover, permessage-deflate"),
                    enabled(), "permessage-deflate", params()},
        DeflateCase{"OnlyOtherExtensions", ext("x-foo, x-bar; a=1"), enabled(), std::nullopt, {}},
        DeflateCase{"OurServerWindowIsSentUnasked", ext("permessage-deflate"), enabled(10),
                    "permessage-deflate; server_max_window_bits=10", params(10, 15)},
        DeflateCase{"SmallerOfOfferAndOurServerWindow",
                    ext("permessage-deflate; server_max_window_bits=12"), enabled(10),
                    "permessage-deflate; server_max_window_bits=10", params(10, 15)},
        DeflateCase{"SmallerOfOfferAndOurServerWindow2",
                    ext("permessage-deflate; server_max_window_bits=9"), enabled(10),
                    "permessage-deflate; server_max_window_bits=9", params(9, 15)},
        DeflateCase{"OurClientWindowNeedsTheClientsConsent", ext("permessage-deflate"),
                    enabled(15, 10), "permessage-deflate", params(15, 15)},
        DeflateCase{"OurClientWindowWhenOffered", ext("permessage-deflate; client_max_window_bits"),
                    enabled(15, 10), "permessage-deflate; client_max_window_bits=10",
                    params(15, 10)},
        DeflateCase{"SmallerOfOfferAndOurClientWindow",
                    ext("permessage-deflate; client_max_window_bits=12"), enabled(15, 10),
                    "permessage-deflate; client_max_window_bits=10", params(15, 10)},
        DeflateCase{"OurNoContextTakeoverFlags", ext("permessage-deflate"),
                    enabled(15, 15, true, true),
                    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                    params(15, 15, true, true)},
        DeflateCase{"WhitespaceAroundSeparators",
                    ext("permessage-deflate ;\tserver_max_window_bits = 11 ,"), enabled(),
                    "permessage-deflate; server_max_window_bits=11", params(11, 15)}),
    [](const testing::TestParamInfo<DeflateCase>& test) { return std::string(test.param.name); });

TEST(HandshakeDeflateOffer, MalformedHeaderIs400) {
  ServerHandshakeOptions options;
  options.deflate = enabled();
  for (std::string_view bad :
       {"permessage-deflate;", "permessage-deflate; =1",
        "permessage-deflate; a=", "permessage-deflate; a=\"unterminated",
        "permessage-deflate; a=\"b c\"", "permessage-deflate x", ";", "permessage-deflate; a=b=c",
        "\"permessage-deflate\"", "permessage-deflate; a=\"\""}) {
    const ServerResult result = run_server(request_with(ext(bad)), options);
    ASSERT_EQ(result.status, HandshakeStatus::rejected) << bad;
    EXPECT_EQ(result.decision.error, make_error_code(Error::bad_extension_offer)) << bad;
    EXPECT_EQ(parse_response(result.decision.response).result_int(), 400u) << bad;
  }
}

TEST(HandshakeDeflateOffer, ExtensionListParser) {
  std::vector<detail::Extension> out;
  ASSERT_TRUE(detail::parse_extensions(" , a ; b ; c=\"d\\e\" ,, f;g=1 ,", out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].name, "a");
  ASSERT_EQ(out[0].params.size(), 2u);
  EXPECT_EQ(out[0].params[0].name, "b");
  EXPECT_FALSE(out[0].params[0].value.has_value());
  EXPECT_EQ(out[0].params[1].name, "c");
  EXPECT_EQ(out[0].params[1].value, "de");
  EXPECT_EQ(out[1].name, "f");
  ASSERT_EQ(out[1].params.size(), 1u);
  EXPECT_EQ(out[1].params[0].value, "1");
  out.clear();
  EXPECT_TRUE(detail::parse_extensions("", out));
  EXPECT_TRUE(out.empty());
}

// --- client: the request ---

TEST(HandshakeClient, RequestContents) {
  ClientHandshakeOptions options;
  options.host = "example.com:8080";
  options.target = "/chat?room=1";
  options.origin = "https://example.com";
  options.subprotocols = {"chat", "superchat"};
  options.headers = {{"Authorization", "Bearer t"}, {"X-Trace", "1"}};
  options.deflate.enabled = true;
  const ClientHandshake client(options);

  const std::string& bytes = client.request();
  EXPECT_EQ(bytes.rfind("GET /chat?room=1 HTTP/1.1\r\n", 0), 0u);
  const auto request = parse_request(bytes);
  EXPECT_EQ(request.method(), http::verb::get);
  EXPECT_EQ(request.version(), 11u);
  EXPECT_EQ(header(request, http::field::host), "example.com:8080");
  EXPECT_EQ(header(request, http::field::upgrade), "websocket");
  EXPECT_EQ(header(request, http::field::connection), "Upgrade");
  EXPECT_EQ(header(request, http::field::sec_websocket_key), client.key());
  EXPECT_EQ(client.key().size(), 24u);
  EXPECT_EQ(header(request, http::field::sec_websocket_version), "13");
  EXPECT_EQ(header(request, http::field::origin), "https://example.com");
  EXPECT_EQ(header(request, http::field::sec_websocket_protocol), "chat, superchat");
  EXPECT_EQ(header(request, http::field::sec_websocket_extensions),
            "permessage-deflate; client_max_window_bits");
  EXPECT_EQ(header(request, http::field::authorization), "Bearer t");
  EXPECT_EQ(request["X-Trace"], "1");
  EXPECT_EQ(client.request(), bytes);  // stable
}

TEST(HandshakeClient, MinimalRequestHasNoOptionalHeaders) {
  ClientHandshakeOptions options;
  options.host = "h";
  const ClientHandshake client(options);
  EXPECT_EQ(client.request(),
            "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: " +
                client.key() + "\r\nSec-WebSocket-Version: 13\r\n\r\n");
  EXPECT_NE(ClientHandshake(options).key(), client.key());
}

// A value with CR/LF would inject headers (or a second request): the
// handshake refuses it before any byte exists to be sent.
TEST(HandshakeClient, OptionsThatWouldBreakTheHeadAreRefused) {
  auto with = [](auto change) {
    ClientHandshakeOptions options;
    options.host = "h";
    change(options);
    return options;
  };
  const ClientHandshakeOptions bad[] = {
      with([](auto& o) { o.host = "h\r\nX-Injected: 1"; }),
      with([](auto& o) { o.target = "/a\nX: 1"; }),
      with([](auto& o) { o.target = "/a HTTP/1.0"; }),
      with([](auto& o) { o.origin = std::string("o\0", 2); }),
      with([](auto& o) { o.subprotocols = {"chat\r\n"}; }),
      with([](auto& o) { o.subprotocols = {"a,b"}; }),
      with([](auto& o) { o.headers = {{"X-Ok", "v\r\nX-Injected: 1"}}; }),
      with([](auto& o) { o.headers = {{"Bad Name", "v"}}; }),
      with([](auto& o) { o.headers = {{"", "v"}}; }),
      with([](auto& o) { o.headers = {{"X-\xc3\xa9", "v"}}; }),  // not ASCII: not a token
      with([](auto& o) { o.host = "h\tx"; }),
      with([](auto& o) { o.host = "h x"; }),
      with([](auto& o) { o.target = std::string("/a\x7f"); }),
  };
  for (const auto& options : bad) {
    EXPECT_EQ(check_request_options(options), make_error_code(Error::bad_request_option));
    ClientHandshake client(options);
    EXPECT_EQ(client.error(), make_error_code(Error::bad_request_option));
    EXPECT_TRUE(client.request().empty());
    const std::string response = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
    EXPECT_EQ(client.feed(response), HandshakeStatus::rejected);
  }
  const auto fine = with([](auto& o) { o.headers = {{"X-Trace_1", "a b: c"}}; o.subprotocols = {"v1.chat"}; });
  EXPECT_FALSE(check_request_options(fine));
  EXPECT_FALSE(ClientHandshake(fine).request().empty());
}

TEST(HandshakeClient, DeflateOfferCarriesEveryOption) {
  ClientHandshakeOptions options;
  options.host = "h";
  options.deflate = enabled(9, 10, true, true);
  const auto request = parse_request(ClientHandshake(options).request());
  EXPECT_EQ(header(request, http::field::sec_websocket_extensions),
            "permessage-deflate; client_max_window_bits=10; server_max_window_bits=9; "
            "server_no_context_takeover; client_no_context_takeover");
}

// --- client: the response ---

std::string response_for(const ClientHandshake& client, std::string_view extra = "") {
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " +
         compute_accept_key(client.key()) + "\r\n" + std::string(extra) + "\r\n";
}

ClientHandshakeOptions client_options(DeflateOptions deflate = {},
                                      std::vector<std::string> subprotocols = {}) {
  ClientHandshakeOptions options;
  options.host = "h";
  options.deflate = deflate;
  options.subprotocols = std::move(subprotocols);
  return options;
}

TEST(HandshakeClient, AcceptsA101BytewiseWithLeftover) {
  ClientHandshake client(client_options());
  const std::string bytes = response_for(client) + std::string("\x81\x02hi", 4);
  const std::size_t head = bytes.size() - 4;
  HandshakeStatus status = HandshakeStatus::need_more;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    EXPECT_EQ(status, i < head ? HandshakeStatus::need_more : HandshakeStatus::accepted) << i;
    status = client.feed(as_span(std::string_view(bytes).substr(i, 1)));
  }
  EXPECT_EQ(status, HandshakeStatus::accepted);
  EXPECT_FALSE(client.error());
  EXPECT_EQ(client.leftover(), std::string_view("\x81\x02hi", 4));
  EXPECT_EQ(client.subprotocol(), "");
  EXPECT_FALSE(client.deflate().has_value());
  EXPECT_EQ(client.response().result_int(), 101u);
}

TEST(HandshakeClient, Non101IsRejectedWithTheResponseAvailable) {
  ClientHandshake client(client_options());
  ASSERT_EQ(
      client.feed(as_span("HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\nX-Why: no\r\n\r\nno\n")),
      HandshakeStatus::rejected);
  EXPECT_EQ(client.error(), make_error_code(Error::handshake_rejected));
  EXPECT_EQ(client.response().result_int(), 403u);
  EXPECT_EQ(client.response()["X-Why"], "no");
  EXPECT_EQ(client.feed(as_span("more")), HandshakeStatus::rejected);
}

struct ClientCase {
  const char* name;
  DeflateOptions deflate;
  std::vector<std::string> subprotocols;
  std::string extra;  // header lines added to a valid 101
  Error error;
};

class HandshakeClientRejects : public testing::TestWithParam<ClientCase> {};

TEST_P(HandshakeClientRejects, WithExactError) {
  const ClientCase& c = GetParam();
  ClientHandshake client(client_options(c.deflate, c.subprotocols));
  EXPECT_EQ(client.feed(as_span(response_for(client, c.extra))), HandshakeStatus::rejected);
  EXPECT_EQ(client.error(), make_error_code(c.error)) << client.error().message();
  EXPECT_FALSE(client.deflate().has_value());
  EXPECT_EQ(client.subprotocol(), "");
}

INSTANTIATE_TEST_SUITE_P(
    HandshakeTable, HandshakeClientRejects,
    testing::Values(
        ClientCase{
            "DeflateNotOffered", {}, {}, ext("permessage-deflate"), Error::unexpected_extension},
        ClientCase{"OtherExtension", enabled(), {}, ext("x-foo"), Error::unexpected_extension},
        ClientCase{"DeflateTwice",
                   enabled(),
                   {},
                   ext("permessage-deflate, permessage-deflate"),
                   Error::unexpected_extension},
        ClientCase{"DeflateInTwoHeaders",
                   enabled(),
                   {},
                   ext("permessage-deflate") + ext("permessage-deflate"),
                   Error::unexpected_extension},
        ClientCase{"MalformedExtensions",
                   enabled(),
                   {},
                   ext("permessage-deflate;"),
                   Error::unexpected_extension},
        ClientCase{"UnknownParam",
                   enabled(),
                   {},
                   ext("permessage-deflate; foo"),
                   Error::unexpected_extension},
        ClientCase{
            "DuplicateParam",
            enabled(),
            {},
            ext("permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
            Error::unexpected_extension},
        ClientCase{"InvalidServerWindow",
                   enabled(),
                   {},
                   ext("permessage-deflate; server_max_window_bits=16"),
                   Error::unexpected_extension},
        ClientCase{"ServerWindowLargerThanAsked",
                   enabled(10),
                   {},
                   ext("permessage-deflate; server_max_window_bits=11"),
                   Error::unexpected_extension},
        ClientCase{"ServerWindowMissingWhenAsked",
                   enabled(10),
                   {},
                   ext("permessage-deflate"),
                   Error::unexpected_extension},
        ClientCase{"ClientWindow8",
                   enabled(),
                   {},
                   ext("permessage-deflate; client_max_window_bits=8"),
                   Error::unexpected_extension},
        ClientCase{"ClientWindowWithoutValue",
                   enabled(),
                   {},
                   ext("permessage-deflate; client_max_window_bits"),
                   Error::unexpected_extension},
        ClientCase{"ClientWindowLargerThanOffered",
                   enabled(15, 10),
                   {},
                   ext("permessage-deflate; client_max_window_bits=11"),
                   Error::unexpected_extension},
        ClientCase{"SubprotocolNotOffered",
                   {},
                   {"chat"},
                   "Sec-WebSocket-Protocol: mqtt\r\n",
                   Error::unexpected_subprotocol},
        ClientCase{"SubprotocolWhenNoneOffered",
                   {},
                   {},
                   "Sec-WebSocket-Protocol: chat\r\n",
                   Error::unexpected_subprotocol},
        ClientCase{"SubprotocolList",
                   {},
                   {"chat", "mqtt"},
                   "Sec-WebSocket-Protocol: chat, mqtt\r\n",
                   Error::unexpected_subprotocol},
        ClientCase{"SubprotocolTwice",
                   {},
                   {"chat", "mqtt"},
                   "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n",
                   Error::unexpected_subprotocol},
        ClientCase{"SubprotocolCase",
                   {},
                   {"chat"},
                   "Sec-WebSocket-Protocol: Chat\r\n",
                   Error::unexpected_subprotocol},
        ClientCase{"SubprotocolAfterGoodDeflate",
                   enabled(),
                   {"chat"},
                   ext("permessage-deflate") + "Sec-WebSocket-Protocol: x\r\n",
                   Error::unexpected_subprotocol}),
    [](const testing::TestParamInfo<ClientCase>& test) { return std::string(test.param.name); });

TEST(HandshakeClient, BadHeadErrors) {
  struct Case {
    std::string response;  // "{A}" stands for this client's correct Sec-WebSocket-Accept line
    Error error;
  };
  const std::vector<Case> cases = {
      {"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n{A}\r\n",
       Error::bad_http_response},
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n{A}\r\n",
       Error::bad_http_response},
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n{A}\r\n",
       Error::bad_http_response},
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
       Error::bad_accept_key},
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
       Error::bad_accept_key},
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "{A}{A}\r\n",
       Error::bad_accept_key},
      {"SSH-2.0-OpenSSH_9.0\r\n\r\n", Error::bad_http_response},
      {"HTTP/1.1 10x Switching\r\n\r\n", Error::bad_http_response},
  };
  for (const Case& c : cases) {
    ClientHandshake client(client_options());
    const std::string accept = "Sec-WebSocket-Accept: " + compute_accept_key(client.key()) + "\r\n";
    std::string bytes = c.response;
    for (std::size_t at = bytes.find("{A}"); at != std::string::npos; at = bytes.find("{A}")) {
      bytes.replace(at, 3, accept);
    }
    EXPECT_EQ(client.feed(as_span(bytes)), HandshakeStatus::rejected) << bytes;
    EXPECT_EQ(client.error(), make_error_code(c.error)) << bytes;
  }
}

TEST(HandshakeClient, ResponseHeadTooLarge) {
  ClientHandshakeOptions options = client_options();
  options.max_header_bytes = 128;
  ClientHandshake client(options);
  EXPECT_EQ(client.feed(as_span(response_for(client, "X-Pad: " + std::string(100, 'x') + "\r\n"))),
            HandshakeStatus::rejected);
  EXPECT_EQ(client.error(), make_error_code(Error::header_too_large));
}

TEST(HandshakeClient, AgreedDeflateAndSubprotocolFromTheResponse) {
  ClientHandshake client(client_options(enabled(10, 12), {"chat", "mqtt"}));
  ASSERT_EQ(client.feed(as_span(response_for(
                client, "Sec-WebSocket-Protocol: mqtt\r\n" +
                            ext("permessage-deflate; server_no_context_takeover; "
                                "server_max_window_bits=9; client_max_window_bits=11")))),
            HandshakeStatus::accepted)
      << client.error().message();
  EXPECT_EQ(client.subprotocol(), "mqtt");
  ASSERT_TRUE(client.deflate().has_value());
  EXPECT_EQ(as_tuple(*client.deflate()), as_tuple(params(9, 11, true, false)));
}

TEST(HandshakeClient, ServerMayDeclineOrNarrowDeflate) {
  {
    ClientHandshake client(client_options(enabled()));
    ASSERT_EQ(client.feed(as_span(response_for(client))), HandshakeStatus::accepted);
    EXPECT_FALSE(client.deflate().has_value());
  }
  {
    // Unasked server_no_context_takeover and an 8-bit server window only affect
    // how we inflate, which copes with both.
    ClientHandshake client(client_options(enabled(15, 15, false, true)));
    ASSERT_EQ(client.feed(as_span(
                  response_for(client, ext("permessage-deflate; server_no_context_takeover; "
                                           "server_max_window_bits=8")))),
              HandshakeStatus::accepted);
    ASSERT_TRUE(client.deflate().has_value());
    // We offered client_no_context_takeover, so we keep to it even if not echoed.
    EXPECT_EQ(as_tuple(*client.deflate()), as_tuple(params(8, 15, true, true)));
  }
}

// --- client <-> server round trips ---

struct RoundTripCase {
  const char* name;
  DeflateOptions client_deflate;
  DeflateOptions server_deflate;
  std::vector<std::string> client_protocols;
  std::vector<std::string> server_protocols;
  std::optional<DeflateParams> expected;
  std::string expected_protocol;
};

class HandshakeRoundTrip : public testing::TestWithParam<RoundTripCase> {};

TEST_P(HandshakeRoundTrip, BothSidesAgree) {
  const RoundTripCase& c = GetParam();
  ClientHandshake client(client_options(c.client_deflate, c.client_protocols));
  ServerHandshakeOptions server_options;
  server_options.deflate = c.server_deflate;
  server_options.subprotocols = c.server_protocols;
  ServerHandshake server(server_options);

  ASSERT_EQ(server.feed(as_span(client.request())), HandshakeStatus::accepted)
      << server.decision().error.message();
  const std::string frames("\x82\x03\x00\x01\x02", 5);
  ASSERT_EQ(client.feed(as_span(server.decision().response + frames)), HandshakeStatus::accepted)
      << client.error().message();
  EXPECT_EQ(client.leftover(), frames);

  EXPECT_EQ(client.subprotocol(), c.expected_protocol);
  EXPECT_EQ(server.decision().subprotocol, c.expected_protocol);
  ASSERT_EQ(client.deflate().has_value(), c.expected.has_value());
  ASSERT_EQ(server.decision().deflate.has_value(), c.expected.has_value());
  if (c.expected) {
    EXPECT_EQ(as_tuple(*client.deflate()), as_tuple(*c.expected));
    EXPECT_EQ(as_tuple(*server.decision().deflate), as_tuple(*c.expected));
  }
}

INSTANTIATE_TEST_SUITE_P(
    HandshakeTable, HandshakeRoundTrip,
    testing::Values(
        RoundTripCase{"Plain", {}, {}, {}, {}, std::nullopt, ""},
        RoundTripCase{"ServerWithoutDeflate", enabled(), {}, {}, {}, std::nullopt, ""},
        RoundTripCase{"ClientWithoutDeflate", {}, enabled(), {}, {}, std::nullopt, ""},
        RoundTripCase{"DefaultDeflate", enabled(), enabled(), {}, {}, params(), ""},
        RoundTripCase{"ClientAsksForLimits",
                      enabled(10, 11, true, true),
                      enabled(),
                      {},
                      {},
                      params(10, 11, true, true),
                      ""},
        RoundTripCase{"ServerImposesLimits",
                      enabled(),
                      enabled(9, 9, true, false),
                      {},
                      {},
                      params(9, 9, true, false),
                      ""},
        RoundTripCase{
            "BothLimitSmallerWins", enabled(12, 10), enabled(10, 12), {}, {}, params(10, 10), ""},
        RoundTripCase{"ServerClientFlagOnly",
                      enabled(),
                      enabled(15, 15, false, true),
                      {},
                      {},
                      params(15, 15, false, true),
                      ""},
        RoundTripCase{
            "Subprotocol", {}, {}, {"chat", "mqtt"}, {"mqtt", "chat"}, std::nullopt, "mqtt"},
        RoundTripCase{"SubprotocolNoneInCommon", {}, {}, {"chat"}, {"mqtt"}, std::nullopt, ""},
        RoundTripCase{"Everything",
                      enabled(11, 13, false, true),
                      enabled(12, 9, true, false),
                      {"v2.sluice", "v1.sluice"},
                      {"v1.sluice", "v2.sluice"},
                      params(11, 9, true, true),
                      "v1.sluice"}),
    [](const testing::TestParamInfo<RoundTripCase>& test) { return std::string(test.param.name); });

}  // namespace
}  // namespace sluice::protocol
