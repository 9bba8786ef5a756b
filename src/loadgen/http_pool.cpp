#include "http_pool.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <cerrno>
#include <stdexcept>

namespace sluice::bench {

namespace {
constexpr std::uint32_t kHeaderLimit = 16 * 1024;
}  // namespace

HttpPool::HttpPool(Target target, HttpEvents& events)
    : target_(std::move(target)), events_(events), read_buffer_(kPoolReadBufferSize) {
  address_ = resolve_ipv4(target_.host);
}

HttpPool::~HttpPool() = default;  // each connection's Stream closes its socket

void HttpPool::open(std::size_t count) {
  connections_.reserve(connections_.size() + count);
  for (std::size_t i = 0; i < count; ++i) {
    connections_.push_back(std::unique_ptr<HttpConnection>(new HttpConnection(connections_.size())));
    connect(*connections_.back());
  }
}

void HttpPool::reconnect(HttpConnection& c) {
  if (c.state_ == HttpConnection::State::closed) connect(c);
}

void HttpPool::connect(HttpConnection& c) {
  std::string error;
  c.state_ = HttpConnection::State::connecting;
  c.out_.clear();
  c.out_start_ = 0;
  c.in_.clear();
  c.parser_.reset();
  c.want_write_ = false;
  const int fd = start_connect(address_, target_.port, error);
  if (fd < 0) return fail(c, error);
  c.stream_.attach(fd);
  // Completion (even an immediate one) is reported as writable.
  if (!epoll_.add(fd, EPOLLOUT, &c)) return fail(c, "epoll_ctl: " + errno_text(errno));
}

void HttpPool::poll(int timeout_ms) {
  epoll_event events[kPoolMaxEvents];
  const int n = epoll_wait(epoll_.fd(), events, kPoolMaxEvents, timeout_ms);
  for (int i = 0; i < n; ++i) on_ready(*static_cast<HttpConnection*>(events[i].data.ptr), events[i].events);
}

void HttpPool::on_ready(HttpConnection& c, std::uint32_t events) {
  if (c.state_ == HttpConnection::State::closed) return;
  if (c.state_ == HttpConnection::State::connecting) {
    if (c.stream_.secure()) return continue_tls(c);
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    if (const int error = socket_error(c.stream_.fd()); error != 0) return fail(c, "connect: " + errno_text(error));
    if (!target_.tls) return on_connected(c);
    std::string error;
    if (!c.stream_.start_tls(*target_.tls, target_.host, error)) return fail(c, error);
    return continue_tls(c);
  }
  // TLS: a read that had to write first (OpenSSL's want_write) is retried once writable.
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP) || (c.stream_.secure() && (events & EPOLLOUT))) on_readable(c);
  if (c.state_ == HttpConnection::State::open && (events & EPOLLOUT)) flush(c);
}

void HttpPool::continue_tls(HttpConnection& c) {
  switch (c.stream_.handshake()) {
    case IoStatus::done:
      return on_connected(c);
    case IoStatus::want_read:
      return epoll_.modify(c.stream_.fd(), EPOLLIN, &c);
    case IoStatus::want_write:
      return epoll_.modify(c.stream_.fd(), EPOLLOUT, &c);
    default:
      return fail(c, "TLS handshake: " + c.stream_.error_text());
  }
}

void HttpPool::on_connected(HttpConnection& c) {
  c.state_ = HttpConnection::State::open;
  ++open_;
  epoll_.modify(c.stream_.fd(), EPOLLIN, &c);
  events_.on_open(c);
  flush(c);
}

void HttpPool::on_readable(HttpConnection& c) {
  for (;;) {
    const IoResult r = c.stream_.read(read_buffer_.data(), read_buffer_.size());
    if (r.status != IoStatus::done) {
      if (r.status == IoStatus::want_read) break;
      if (r.status == IoStatus::want_write) return set_want_write(c, true);  // flushed once writable
      if (r.status == IoStatus::eof) return fail(c, "server closed the connection");
      return fail(c, "recv: " + c.stream_.error_text());
    }
    const std::size_t n = r.bytes;
    const std::uint64_t received_ns = now_ns();
    const std::string_view bytes(read_buffer_.data(), n);
    // Beast wants a whole header in one buffer: a response split across reads
    // is gathered in in_; otherwise it is parsed straight from the read buffer.
    if (c.in_.empty()) {
      const std::size_t used = parse(c, bytes, received_ns);
      if (used == std::string_view::npos) return;
      c.in_.assign(bytes.substr(used));
    } else {
      c.in_.append(bytes);
      const std::size_t used = parse(c, c.in_, received_ns);
      if (used == std::string_view::npos) return;
      c.in_.erase(0, used);
    }
    if (c.state_ != HttpConnection::State::open) return;
    if (n < read_buffer_.size() && !c.stream_.secure()) break;  // TLS: a record may end short
  }
  flush(c);  // the requests the responses made the scenario queue, in one write
}

std::size_t HttpPool::parse(HttpConnection& c, std::string_view bytes, std::uint64_t received_ns) {
  namespace http = boost::beast::http;
  std::size_t used = 0;
  while (used < bytes.size()) {
    if (!c.parser_) {
      c.parser_.emplace();
      c.parser_->eager(true);
      c.parser_->header_limit(kHeaderLimit);
      c.parser_->body_limit(kMaxBody);
    }
    boost::beast::error_code ec;
    const std::size_t n = c.parser_->put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == http::error::need_more) break;
    if (ec) {
      fail(c, "bad HTTP response: " + ec.message());
      return std::string_view::npos;
    }
    if (!c.parser_->is_done()) {
      if (n == 0) break;
      continue;
    }
    const bool keep_alive = c.parser_->keep_alive();
    const auto& response = c.parser_->get();
    events_.on_response(c, response.result_int(), response.body(), received_ns);
    c.parser_.reset();
    if (c.state_ != HttpConnection::State::open) return std::string_view::npos;
    if (!keep_alive) {
      fail(c, "the server closed the connection after a response (Connection: close)");
      return std::string_view::npos;
    }
  }
  return used;
}

void HttpPool::flush(HttpConnection& c) {
  if (c.state_ != HttpConnection::State::open) return;
  while (c.out_start_ < c.out_.size()) {
    const IoResult r = c.stream_.write(c.out_.data() + c.out_start_, c.out_.size() - c.out_start_);
    if (r.status != IoStatus::done) {
      if (r.status == IoStatus::want_write) return set_want_write(c, true);
      if (r.status == IoStatus::want_read) return;  // TLS: retried after the next read
      return fail(c, "send: " + c.stream_.error_text());
    }
    c.out_start_ += r.bytes;
  }
  c.out_.clear();
  c.out_start_ = 0;
  set_want_write(c, false);
}

void HttpPool::set_want_write(HttpConnection& c, bool want) {
  if (c.want_write_ == want) return;
  c.want_write_ = want;
  epoll_.modify(c.stream_.fd(), EPOLLIN | (want ? EPOLLOUT : 0u), &c);
}

void HttpPool::release(HttpConnection& c) {
  if (c.state_ == HttpConnection::State::open) --open_;
  c.state_ = HttpConnection::State::closed;
  if (c.stream_.fd() >= 0) epoll_.remove(c.stream_.fd());
  c.stream_.close(false);
  c.parser_.reset();
  c.in_.clear();
  c.out_.clear();
  c.out_start_ = 0;
}

void HttpPool::close(HttpConnection& c) { release(c); }

void HttpPool::fail(HttpConnection& c, const std::string& why) {
  if (c.state_ == HttpConnection::State::closed) return;
  release(c);
  events_.on_closed(c, why);
}

}  // namespace sluice::bench
