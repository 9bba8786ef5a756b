// Reads HTTP/1.1 requests (head and body) from a byte stream, sans-I/O, one
// after another (keep-alive, pipelining). Beast's basic_parser does the
// parsing; this class buffers, enforces the limits and hands out whole
// requests.
//
// Each request is parsed into one ParsedRequest that the reader keeps and
// reuses: its strings keep their capacity from one request to the next, so a
// keep-alive connection parses without allocating once it has seen a request
// of each size (Beast's request_parser allocates one block per header field).
//
// Not thread-safe: one per connection.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/verb.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::net {

/// One header field as received.
struct HttpField {
  std::string name;
  std::string value;
};

/// A complete request. Owned by its HttpRequestReader and valid until the
/// reader's next next() call; the handler may take the body (std::move).
class ParsedRequest {
 public:
  boost::beast::http::verb method() const noexcept { return method_; }
  std::string_view method_string() const noexcept { return method_string_; }
  /// Path and query as received.
  std::string_view target() const noexcept { return target_; }
  unsigned version() const noexcept { return version_; }  ///< 10 or 11
  /// As Beast decides it: HTTP/1.1 unless "Connection: close", HTTP/1.0 only with "keep-alive".
  bool keep_alive() const noexcept { return keep_alive_; }
  /// The header fields, in order, names as received.
  std::span<const HttpField> fields() const noexcept { return {fields_.data(), field_count_}; }
  /// The first field with this name (case-insensitive), or "" if absent.
  std::string_view field(std::string_view name) const noexcept;
  std::string& body() noexcept { return body_; }
  const std::string& body() const noexcept { return body_; }

  /// The head as a Beast header (allocates: for the WebSocket handshake only).
  boost::beast::http::request_header<> beast_header() const;

 private:
  friend class HttpRequestReader;
  void clear() noexcept;
  HttpField& add_field();

  boost::beast::http::verb method_ = boost::beast::http::verb::unknown;
  std::string method_string_;
  std::string target_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  std::vector<HttpField> fields_;  // [0, field_count_) are this request's; the rest keep their buffers
  std::size_t field_count_ = 0;
  std::string body_;
};

class HttpRequestReader {
 public:
  enum class Status { need_more, request, error };

  HttpRequestReader(std::size_t max_header_bytes, std::size_t max_body_bytes);
  ~HttpRequestReader();

  /// Adds received bytes.
  void append(std::span<const char> bytes) { buffer_.append(bytes.data(), bytes.size()); }

  /// Parses the next request from what was appended. `request` then holds
  /// it; on `error`, error_status() (400, 413, 431) and error_message() say
  /// why and the stream cannot go on.
  Status next();
  ParsedRequest& request() noexcept { return request_; }
  unsigned error_status() const noexcept { return error_status_; }
  const std::string& error_message() const noexcept { return error_message_; }

  /// Bytes received after the last request returned (for an upgrade: frames).
  std::string_view leftover() const noexcept { return std::string_view(buffer_).substr(offset_); }
  bool has_buffered() const noexcept { return offset_ < buffer_.size(); }

 private:
  class Parser;

  std::size_t max_header_bytes_;
  std::size_t max_body_bytes_;
  std::string buffer_;
  std::size_t offset_ = 0;          // start of the bytes not yet parsed
  std::size_t request_start_ = 0;   // where the request being parsed began
  std::unique_ptr<Parser> parser_;  // made once, restarted per request
  bool parsing_ = false;            // a request is being parsed
  ParsedRequest request_;
  unsigned error_status_ = 0;
  std::string error_message_;
};

}  // namespace sluice::net
