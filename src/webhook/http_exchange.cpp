// Exchange: one webhook POST from post() to its callback (see http_client_detail.hpp).
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>

#include "http_client_detail.hpp"

namespace sluice::webhook::detail {
namespace {

constexpr std::size_t kBodyExcerpt = 256;
constexpr std::uint32_t kHeaderLimit = 16 * 1024;

// RFC 9110 token characters, for header names.
bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool equals_nocase(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? x - 'A' + 'a' : x) == (y >= 'A' && y <= 'Z' ? y - 'A' + 'a' : y);
         });
}

// "" when the extra headers may be sent; never echoes a value (it may be a signature).
std::string check_headers(const std::vector<std::pair<std::string, std::string>>& headers) {
  for (const auto& [name, value] : headers) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_tchar)) return "a header name is not a token";
    for (const char* reserved : {"host", "content-length", "transfer-encoding", "connection", "content-type"}) {
      if (equals_nocase(name, reserved)) return "the client sets the " + name + " header itself";
    }
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return "the value of header " + name + " contains CR, LF or NUL";
    }
  }
  return "";
}

std::string millis(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

}  // namespace

Exchange::Exchange(std::shared_ptr<ClientCore> core, std::uint64_t id, HttpRequest request,
                   HttpClient::Callback callback)
    : core_(std::move(core)),
      id_(id),
      request_(std::move(request)),
      callback_(std::move(callback)),
      origin_(request_.url.origin()),
      total_timer_(core_->io()),
      connect_timer_(core_->io()) {}

HttpResult Exchange::failure(HttpResult::Kind kind, std::string message) const {
  HttpResult r;
  r.kind = kind;
  r.error = std::move(message);
  if (conn_ && conn_->peer != tcp::endpoint()) r.peer = conn_->peer;
  r.reused_connection = reused_;
  return r;
}

void Exchange::start() {
  if (std::string bad = check_headers(request_.headers); !bad.empty()) {
    return finish(failure(HttpResult::Kind::invalid_request, std::move(bad)));
  }
  const auto& options = core_->options();
  message_.method(http::verb::post);
  message_.target(request_.url.target);
  message_.version(11);
  message_.set(http::field::host, request_.url.host_header());
  message_.set(http::field::user_agent, options.user_agent);
  message_.set(http::field::content_type, request_.content_type);
  for (const auto& [name, value] : request_.headers) message_.set(name, value);
  message_.keep_alive(true);
  message_.body() = std::move(request_.body);
  message_.prepare_payload();

  const auto total = request_.total_timeout.count() > 0 ? request_.total_timeout : options.total_timeout;
  total_timer_.expires_after(total);
  total_timer_.async_wait([self = shared_from_this(), total](const boost::system::error_code& ec) {
    if (ec || self->finished_) return;
    self->finish(self->failure(HttpResult::Kind::timeout, "no complete response from " + self->origin_ +
                                                              " within " + millis(total)));
  });
  core_->acquire(shared_from_this());
}

void Exchange::finish(HttpResult result) {
  if (finished_) return;
  finished_ = true;
  total_timer_.cancel();
  connect_timer_.cancel();
  if (resolver_) resolver_->cancel();
  core_->forget_waiting(*this);
  // Still busy or connecting: it cannot carry another request. conn_ itself
  // stays: pending operations on its stream and buffer complete (aborted)
  // into handlers that hold this exchange, so the connection must outlive them.
  if (conn_) core_->discard(conn_);
  core_->forget(id_);
  asio::post(core_->io(), [callback = std::move(callback_), r = std::move(result)]() mutable { callback(std::move(r)); });
}

void Exchange::use_new(std::shared_ptr<Connection> conn) {
  conn_ = std::move(conn);
  reused_ = false;
  candidates_.clear();
  next_candidate_ = 0;
  resolve();
}

void Exchange::use_idle(std::shared_ptr<Connection> conn) {
  conn_ = std::move(conn);
  ++conn_->generation;  // the idle watchers now ignore it
  conn_->idle_timer().cancel();
  boost::system::error_code ignored;
  conn_->socket().cancel(ignored);  // ends the idle readability wait
  reused_ = true;
  send();
}

void Exchange::resolve() {
  const auto& options = core_->options();
  const auto connect = request_.connect_timeout.count() > 0 ? request_.connect_timeout : options.connect_timeout;
  connect_timer_.expires_after(connect);
  connect_timer_.async_wait([self = shared_from_this(), connect](const boost::system::error_code& ec) {
    if (ec || self->finished_) return;
    self->finish(self->failure(HttpResult::Kind::timeout, "could not connect to " + self->origin_ + " within " +
                                                              millis(connect)));
  });
  const auto& url = request_.url;
  auto self = shared_from_this();
  if (url.literal) {  // no DNS; deferred so that no result ever arrives inside acquire()
    asio::post(core_->io(), [self, ep = tcp::endpoint(*url.literal, url.port)] { self->on_resolved({}, {ep}); });
    return;
  }
  if (options.resolve) {
    options.resolve(url.host, url.port,
                    [self](boost::system::error_code ec, std::vector<tcp::endpoint> endpoints) {
                      asio::post(self->core_->io(), [self, ec, eps = std::move(endpoints)]() mutable {
                        self->on_resolved(ec, std::move(eps));
                      });
                    });
    return;
  }
  resolver_.emplace(core_->io());
  resolver_->async_resolve(url.host, std::to_string(url.port), tcp::resolver::numeric_service,
                           [self](const boost::system::error_code& ec, const tcp::resolver::results_type& results) {
                             std::vector<tcp::endpoint> endpoints;
                             for (const auto& entry : results) endpoints.push_back(entry.endpoint());
                             self->on_resolved(ec, std::move(endpoints));
                           });
}

void Exchange::on_resolved(const boost::system::error_code& ec, std::vector<tcp::endpoint> endpoints) {
  if (finished_) return;
  const auto& url = request_.url;
  if (ec) return finish(failure(HttpResult::Kind::connection_error, "cannot resolve " + url.host + ": " + ec.message()));
  if (endpoints.empty()) return finish(failure(HttpResult::Kind::connection_error, url.host + " has no address"));
  const AddressPolicy& policy = core_->options().address_policy;
  for (const auto& ep : endpoints) {
    if (policy.permits(ep.address())) candidates_.push_back(ep);
  }
  if (candidates_.empty()) {
    return finish(failure(HttpResult::Kind::forbidden_address,
                          url.host + " resolves only to refused addresses: " + policy.refusal(endpoints.front().address())));
  }
  connect_next();
}

void Exchange::connect_next() {
  if (next_candidate_ >= candidates_.size()) {
    return finish(failure(HttpResult::Kind::connection_error, "cannot connect to " + origin_ + ": " + last_connect_error_));
  }
  const tcp::endpoint ep = candidates_[next_candidate_++];
  const auto& options = core_->options();
  // The guard once more at the only place that connects: nothing else reaches async_connect.
  if (!options.address_policy.permits(ep.address())) {
    return finish(failure(HttpResult::Kind::forbidden_address, options.address_policy.refusal(ep.address())));
  }
  if (options.on_connect_attempt) options.on_connect_attempt(ep);
  boost::system::error_code ignored;
  conn_->socket().close(ignored);  // after a failed attempt; async_connect opens it again
  conn_->tcp().async_connect(ep, [self = shared_from_this(), ep](const boost::system::error_code& ec) {
    if (self->finished_) return;
    if (ec) {
      self->last_connect_error_ = ep.address().to_string() + ": " + ec.message();
      return self->connect_next();
    }
    self->conn_->peer = ep;
    self->on_connected();
  });
}

void Exchange::on_connected() {
  boost::system::error_code ignored;
  conn_->socket().set_option(tcp::no_delay(true), ignored);
  if (!request_.url.secure) {
    connect_timer_.cancel();
    return send();
  }
  conn_->start_tls(core_->tls());
  auto& tls = conn_->tls();
  const auto& url = request_.url;
  if (!url.literal) SSL_set_tlsext_host_name(tls.native_handle(), url.host.c_str());  // SNI: names only (RFC 6066)
  // Checks the certificate names the host (DNS name, or IP address for a literal).
  tls.set_verify_callback(asio::ssl::host_name_verification(url.host));
  tls.async_handshake(asio::ssl::stream_base::client, [self = shared_from_this()](const boost::system::error_code& ec) {
    if (self->finished_) return;
    if (ec) {
      return self->finish(self->failure(HttpResult::Kind::connection_error,
                                        "TLS handshake with " + self->origin_ + " failed: " + ec.message()));
    }
    self->connect_timer_.cancel();
    self->send();
  });
}

void Exchange::send() {
  parser_.emplace();
  parser_->body_limit(core_->options().max_response_body);
  parser_->header_limit(kHeaderLimit);
  auto on_written = [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
    self->on_written(ec);
  };
  if (conn_->is_tls()) {
    http::async_write(conn_->tls(), message_, std::move(on_written));
  } else {
    http::async_write(conn_->tcp(), message_, std::move(on_written));
  }
}

void Exchange::on_written(const boost::system::error_code& ec) {
  if (finished_) return;
  if (ec) {
    if (retry_on_fresh_connection()) return;
    return finish(failure(HttpResult::Kind::connection_error, "sending to " + origin_ + " failed: " + ec.message()));
  }
  auto on_read = [self = shared_from_this()](const boost::system::error_code& read_ec, std::size_t) {
    self->on_read(read_ec);
  };
  if (conn_->is_tls()) {
    http::async_read(conn_->tls(), conn_->buffer, *parser_, std::move(on_read));
  } else {
    http::async_read(conn_->tcp(), conn_->buffer, *parser_, std::move(on_read));
  }
}

void Exchange::on_read(const boost::system::error_code& ec) {
  if (finished_) return;
  const bool too_long = ec == http::error::body_limit && parser_->is_header_done();
  if (ec && !too_long) {
    if (!parser_->got_some() && retry_on_fresh_connection()) return;
    const bool closed = ec == http::error::end_of_stream || ec == asio::error::eof ||
                        ec == asio::error::connection_reset || ec == http::error::partial_message;
    return finish(failure(HttpResult::Kind::connection_error,
                          closed ? origin_ + " closed the connection before a complete response"
                                 : "reading the response from " + origin_ + " failed: " + ec.message()));
  }
  const auto& response = parser_->get();
  HttpResult r;
  r.kind = HttpResult::Kind::response;
  r.status = response.result_int();
  if (auto it = response.find(http::field::retry_after); it != response.end()) r.retry_after = std::string(it->value());
  r.body_excerpt = response.body().substr(0, kBodyExcerpt);
  r.peer = conn_->peer;
  r.reused_connection = reused_;
  ++conn_->requests;
  // Reusable only after a whole, keep-alive response with nothing unasked behind it.
  const bool reusable = !too_long && response.keep_alive() && conn_->buffer.size() == 0;
  auto conn = std::move(conn_);
  conn_.reset();
  core_->release(conn, reusable);
  finish(std::move(r));
}

bool Exchange::retry_on_fresh_connection() {
  if (!reused_ || retried_) return false;
  retried_ = true;
  core_->discard(conn_);
  retired_ = std::move(conn_);  // kept alive with this exchange, like any connection it used
  conn_.reset();
  core_->drop_idle(origin_);  // its siblings were likely closed at the same time
  core_->acquire(shared_from_this());
  return true;
}

}  // namespace sluice::webhook::detail
