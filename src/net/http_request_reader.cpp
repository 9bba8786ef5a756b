#include "sluice/net/http_request_reader.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

namespace sluice::net {

namespace http = boost::beast::http;

HttpRequestReader::Status HttpRequestReader::next() {
  if (error_status_) return Status::error;
  if (!parser_) {
    // Drop what earlier requests used, so the buffer does not grow with a long keep-alive.
    if (offset_ > 0) {
      buffer_.erase(0, offset_);
      offset_ = 0;
    }
    if (buffer_.empty()) return Status::need_more;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(max_header_bytes_));
    parser_->body_limit(max_body_bytes_);
    parser_->eager(true);
    request_start_ = offset_;
  }
  while (offset_ < buffer_.size()) {
    boost::beast::error_code ec;
    const std::size_t used =
        parser_->put(boost::asio::buffer(buffer_.data() + offset_, buffer_.size() - offset_), ec);
    offset_ += used;
    if (ec == http::error::need_more) break;
    if (ec) {
      error_status_ = ec == http::error::header_limit ? 431 : ec == http::error::body_limit ? 413 : 400;
      error_message_ = error_status_ == 431   ? "request head too large"
                       : error_status_ == 413 ? "request body too large"
                                              : "malformed HTTP request: " + ec.message();
      return Status::error;
    }
    if (parser_->is_done()) {
      request_ = parser_->release();
      parser_.reset();
      return Status::request;
    }
    if (used == 0) break;
  }
  // Beast checks its header limit per call; bound the whole head ourselves too.
  if (!parser_->is_header_done() && buffer_.size() - request_start_ > max_header_bytes_) {
    error_status_ = 431;
    error_message_ = "request head too large";
    return Status::error;
  }
  return Status::need_more;
}

}  // namespace sluice::net
