#include "sluice/net/http_request_reader.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include "sluice/util/ascii.hpp"

namespace sluice::net {

namespace http = boost::beast::http;

std::string_view ParsedRequest::field(std::string_view name) const noexcept {
  for (const auto& f : fields()) {
    if (ascii_iequals(f.name, name)) return f.value;
  }
  return {};
}

http::request_header<> ParsedRequest::beast_header() const {
  http::request_header<> head;
  if (method_ == http::verb::unknown) {
    head.method_string(method_string_);
  } else {
    head.method(method_);
  }
  head.target(target_);
  head.version(version_);
  for (const auto& f : fields()) head.insert(f.name, f.value);
  return head;
}

void ParsedRequest::clear() noexcept {
  method_ = http::verb::unknown;
  method_string_.clear();
  target_.clear();
  version_ = 11;
  keep_alive_ = true;
  field_count_ = 0;
  body_.clear();
}

HttpField& ParsedRequest::add_field() {
  if (field_count_ == fields_.size()) fields_.emplace_back();
  return fields_[field_count_++];
}

// Beast's parser, writing what it parses into the reader's ParsedRequest
// (assign() into strings that keep their capacity: no allocation per request).
class HttpRequestReader::Parser final : public http::basic_parser<true> {
 public:
  explicit Parser(ParsedRequest& request) : request_(&request) {}

  // Ready for the next request: a fresh Beast state (it has no reset()).
  void restart(std::size_t max_header_bytes, std::size_t max_body_bytes) {
    Parser fresh(*request_);
    *this = std::move(fresh);
    header_limit(static_cast<std::uint32_t>(max_header_bytes));
    body_limit(max_body_bytes);
    eager(true);
    request_->clear();
  }

  /// Why the request was refused, when the refusal is ours rather than Beast's.
  std::string_view problem() const noexcept { return problem_; }

 private:
  Parser& operator=(Parser&&) = default;

  void on_request_impl(http::verb method, boost::beast::string_view method_str, boost::beast::string_view target,
                       int version, boost::beast::error_code&) override {
    request_->method_ = method;
    request_->method_string_.assign(method_str.data(), method_str.size());
    request_->target_.assign(target.data(), target.size());
    request_->version_ = static_cast<unsigned>(version);
  }
  void on_response_impl(int, boost::beast::string_view, int, boost::beast::error_code&) override {}
  void on_field_impl(http::field field, boost::beast::string_view name, boost::beast::string_view value,
                     boost::beast::error_code&) override {
    if (field == http::field::host) ++hosts_;
    HttpField& f = request_->add_field();
    f.name.assign(name.data(), name.size());
    f.value.assign(value.data(), value.size());
  }
  void on_header_impl(boost::beast::error_code& ec) override {
    request_->keep_alive_ = keep_alive();
    // RFC 9112 §3.2: an HTTP/1.1 request without Host, or with more than one, gets 400.
    if (hosts_ > 1 || (hosts_ == 0 && request_->version_ >= 11)) {
      problem_ = hosts_ > 1 ? "more than one Host header" : "an HTTP/1.1 request needs a Host header";
      ec = http::error::bad_field;
    }
  }
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length, boost::beast::error_code&) override {
    // Beast has checked the length against body_limit already.
    if (content_length) request_->body_.reserve(static_cast<std::size_t>(*content_length));
  }
  std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code&) override {
    request_->body_.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view, boost::beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body, boost::beast::error_code&) override {
    request_->body_.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(boost::beast::error_code&) override {}

  ParsedRequest* request_;
  int hosts_ = 0;
  std::string_view problem_;
};

HttpRequestReader::HttpRequestReader(std::size_t max_header_bytes, std::size_t max_body_bytes)
    : max_header_bytes_(max_header_bytes), max_body_bytes_(max_body_bytes) {}

HttpRequestReader::~HttpRequestReader() = default;

HttpRequestReader::Status HttpRequestReader::next() {
  if (error_status_) return Status::error;
  if (!parsing_) {
    // Drop what earlier requests used, so the buffer does not grow with a long keep-alive.
    if (offset_ > 0) {
      buffer_.erase(0, offset_);
      offset_ = 0;
    }
    if (buffer_.empty()) return Status::need_more;
    if (!parser_) parser_ = std::make_unique<Parser>(request_);
    parser_->restart(max_header_bytes_, max_body_bytes_);
    parsing_ = true;
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
                       : !parser_->problem().empty() ? "malformed HTTP request: " + std::string(parser_->problem())
                                              : "malformed HTTP request: " + ec.message();
      return Status::error;
    }
    if (parser_->is_done()) {
      parsing_ = false;
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
