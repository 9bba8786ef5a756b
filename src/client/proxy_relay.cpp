#include "client/proxy_relay.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <array>

namespace sluice::client::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// One attempt: the dialed loopback socket (inbound) joined to a CONNECT
// tunnel (outbound). Kept alive by its pending operations.
class Tunnel : public std::enable_shared_from_this<Tunnel> {
 public:
  Tunnel(asio::io_context& io, tcp::acceptor& acceptor, const ProxyEndpoint& proxy, const std::string& target,
         std::function<void(std::string)> on_failure)
      : acceptor_(acceptor),
        proxy_(proxy),
        target_(target),
        inbound_(io),
        outbound_(io),
        resolver_(io),
        head_(16 * 1024),
        on_failure_(std::move(on_failure)) {}

  void start() {
    acceptor_.async_accept(inbound_, [self = shared_from_this()](const boost::system::error_code& ec) {
      if (self->stopped_) return;
      if (ec) return self->fail("local proxy relay: " + ec.message());
      self->accepted_ = true;
      if (self->failed_) return self->stop();  // the proxy already failed: end the attempt now
      self->maybe_pipe();
    });
    resolver_.async_resolve(
        proxy_.host, std::to_string(proxy_.port),
        [self = shared_from_this()](const boost::system::error_code& ec, const tcp::resolver::results_type& results) {
          if (self->stopped_) return;
          if (ec) return self->fail("cannot resolve proxy " + self->proxy_name() + ": " + ec.message());
          asio::async_connect(self->outbound_, results,
                              [self](const boost::system::error_code& connect_ec, const tcp::endpoint&) {
                                if (self->stopped_) return;
                                if (connect_ec) {
                                  return self->fail("cannot connect to proxy " + self->proxy_name() + ": " +
                                                    connect_ec.message());
                                }
                                self->send_connect();
                              });
        });
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    boost::system::error_code ignored;
    resolver_.cancel();
    inbound_.close(ignored);
    outbound_.close(ignored);
  }

  /// Ends the attempt for the core: an accept still pending is cancelled too.
  void end() {
    if (!accepted_ && !stopped_) {
      boost::system::error_code ignored;
      acceptor_.cancel(ignored);
    }
    stop();
  }

 private:
  std::string proxy_name() const { return proxy_.host + ":" + std::to_string(proxy_.port); }

  void fail(std::string message) {
    if (failed_ || stopped_) return;
    failed_ = true;
    if (on_failure_) on_failure_(std::move(message));
    // Close the dialed socket so the connection fails now; if it is not
    // accepted yet, the accept handler closes it as soon as it is.
    if (accepted_) stop();
    else {
      boost::system::error_code ignored;
      outbound_.close(ignored);
    }
  }

  void send_connect() {
    request_ = "CONNECT " + target_ + " HTTP/1.1\r\nHost: " + target_ + "\r\n";
    for (const auto& [name, value] : proxy_.headers) request_ += name + ": " + value + "\r\n";
    request_ += "\r\n";
    asio::async_write(outbound_, asio::buffer(request_),
                      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                        if (self->stopped_) return;
                        if (ec) return self->fail("proxy " + self->proxy_name() + ": " + ec.message());
                        self->read_reply();
                      });
  }

  void read_reply() {
    asio::async_read_until(
        outbound_, head_, "\r\n\r\n",
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t head_size) {
          if (self->stopped_) return;
          if (ec) return self->fail("proxy " + self->proxy_name() + " gave no valid answer to CONNECT: " + ec.message());
          const auto data = self->head_.data();
          const std::string head(asio::buffers_begin(data), asio::buffers_begin(data) + static_cast<std::ptrdiff_t>(head_size));
          self->head_.consume(head_size);
          // "HTTP/1.1 200 Connection established"
          const auto space = head.find(' ');
          const std::string status = space == std::string::npos ? "" : head.substr(space + 1, 3);
          if (status.size() != 3 || status[0] != '2') {
            const auto line_end = head.find("\r\n");
            return self->fail("proxy " + self->proxy_name() + " refused the tunnel to " + self->target_ + ": " +
                              head.substr(0, line_end));
          }
          self->tunnel_ready_ = true;
          self->maybe_pipe();
        });
  }

  void maybe_pipe() {
    if (!accepted_ || !tunnel_ready_ || piping_) return;
    piping_ = true;
    // Bytes after the CONNECT answer already belong to the target.
    if (head_.size() > 0) {
      early_.assign(asio::buffers_begin(head_.data()), asio::buffers_end(head_.data()));
      head_.consume(head_.size());
      asio::async_write(inbound_, asio::buffer(early_),
                        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                          if (self->stopped_) return;
                          if (ec) return self->stop();
                          self->pump(self->outbound_, self->inbound_, self->down_);
                        });
    } else {
      pump(outbound_, inbound_, down_);
    }
    pump(inbound_, outbound_, up_);
  }

  // Copies from `from` to `to` until EOF (then half-closes `to`) or an error (then stops).
  void pump(tcp::socket& from, tcp::socket& to, std::array<char, 16 * 1024>& buffer) {
    from.async_read_some(asio::buffer(buffer), [self = shared_from_this(), &from, &to, &buffer](
                                                   const boost::system::error_code& ec, std::size_t n) {
      if (self->stopped_) return;
      if (ec) {
        if (ec != asio::error::eof) return self->stop();
        boost::system::error_code ignored;
        to.shutdown(tcp::socket::shutdown_send, ignored);
        if (++self->directions_done_ == 2) self->stop();
        return;
      }
      asio::async_write(to, asio::buffer(buffer.data(), n),
                        [self, &from, &to, &buffer](const boost::system::error_code& write_ec, std::size_t) {
                          if (self->stopped_) return;
                          if (write_ec) return self->stop();
                          self->pump(from, to, buffer);
                        });
    });
  }

  tcp::acceptor& acceptor_;
  ProxyEndpoint proxy_;
  std::string target_;
  tcp::socket inbound_;
  tcp::socket outbound_;
  tcp::resolver resolver_;
  asio::streambuf head_;
  std::string request_;
  std::string early_;
  std::array<char, 16 * 1024> up_{};
  std::array<char, 16 * 1024> down_{};
  std::function<void(std::string)> on_failure_;
  bool accepted_ = false;
  bool tunnel_ready_ = false;
  bool piping_ = false;
  bool failed_ = false;
  bool stopped_ = false;
  int directions_done_ = 0;
};

ProxyRelay::ProxyRelay(asio::io_context& io, ProxyEndpoint proxy, std::string target_authority)
    : io_(io), proxy_(std::move(proxy)), target_(std::move(target_authority)), acceptor_(io) {}

ProxyRelay::~ProxyRelay() { end(); }

std::uint16_t ProxyRelay::begin(std::function<void(std::string)> on_failure, std::error_code& error) {
  end();
  boost::system::error_code ec;
  if (!acceptor_.is_open()) {
    const tcp::endpoint local(asio::ip::make_address_v4("127.0.0.1"), 0);
    acceptor_.open(local.protocol(), ec);
    if (!ec) acceptor_.bind(local, ec);
    if (!ec) acceptor_.listen(1, ec);
    if (ec) {
      error = ec;
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      return 0;
    }
  }
  tunnel_ = std::make_shared<Tunnel>(io_, acceptor_, proxy_, target_, std::move(on_failure));
  tunnel_->start();
  return acceptor_.local_endpoint(ec).port();
}

void ProxyRelay::end() {
  if (tunnel_) tunnel_->end();
  tunnel_.reset();
}

}  // namespace sluice::client::detail
