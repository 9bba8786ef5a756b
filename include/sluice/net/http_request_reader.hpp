// Reads HTTP/1.1 requests (head and body) from a byte stream, sans-I/O, one
// after another (keep-alive, pipelining). Beast's parser does the parsing;
// this class buffers, enforces the limits and hands out whole requests.
//
// Not thread-safe: one per connection.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sluice::net {

class HttpRequestReader {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  enum class Status { need_more, request, error };

  HttpRequestReader(std::size_t max_header_bytes, std::size_t max_body_bytes)
      : max_header_bytes_(max_header_bytes), max_body_bytes_(max_body_bytes) {}

  /// Adds received bytes.
  void append(std::span<const char> bytes) { buffer_.append(bytes.data(), bytes.size()); }

  /// Parses the next request from what was appended. `request` then owns it;
  /// on `error`, error_status() (400, 413, 431) and error_message() say why
  /// and the stream cannot go on.
  Status next();
  Request& request() noexcept { return request_; }
  unsigned error_status() const noexcept { return error_status_; }
  const std::string& error_message() const noexcept { return error_message_; }

  /// Bytes received after the last request returned (for an upgrade: frames).
  std::string_view leftover() const noexcept { return std::string_view(buffer_).substr(offset_); }
  bool has_buffered() const noexcept { return offset_ < buffer_.size(); }

 private:
  std::size_t max_header_bytes_;
  std::size_t max_body_bytes_;
  std::string buffer_;
  std::size_t offset_ = 0;          // start of the bytes not yet parsed
  std::size_t request_start_ = 0;   // where the request being parsed began
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  Request request_;
  unsigned error_status_ = 0;
  std::string error_message_;
};

}  // namespace sluice::net
