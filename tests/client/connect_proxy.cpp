#include "client/connect_proxy.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <array>

namespace sluice::test {

namespace {
using tcp = asio::ip::tcp;
}  // namespace

struct ConnectProxy::Impl {
  // One client's tunnel. A member type: Impl's lambdas capture it, and an
  // anonymous-namespace type there trips -Wsubobject-linkage in unity builds.
  struct Tunnel : std::enable_shared_from_this<Tunnel> {
    explicit Tunnel(asio::io_context& io) : client(io), server(io), resolver(io) {}
    tcp::socket client;
    tcp::socket server;
    tcp::resolver resolver;
    asio::streambuf head{16 * 1024};
    std::string reply;
    std::array<std::array<char, 16 * 1024>, 2> buffers{};

    void close() {
      boost::system::error_code ignored;
      client.close(ignored);
      server.close(ignored);
    }
    void pump(tcp::socket& from, tcp::socket& to, std::array<char, 16 * 1024>& buffer) {
      from.async_read_some(asio::buffer(buffer), [self = shared_from_this(), &from, &to, &buffer](
                                                     const boost::system::error_code& ec, std::size_t n) {
        if (ec) {
          boost::system::error_code ignored;
          to.shutdown(tcp::socket::shutdown_send, ignored);
          return;
        }
        asio::async_write(to, asio::buffer(buffer.data(), n),
                          [self, &from, &to, &buffer](const boost::system::error_code& write_ec, std::size_t) {
                            if (write_ec) return self->close();
                            self->pump(from, to, buffer);
                          });
      });
    }
  };

  Impl(ConnectProxy& o, std::string auth) : owner(o), required_auth(std::move(auth)) {}
  ConnectProxy& owner;
  std::string required_auth;
  net::EventLoop loop{0};
  tcp::acceptor acceptor{loop.io()};
  mutable std::mutex mutex;
  std::vector<std::string> requests;

  void accept_next() {
    acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec) return;
      auto t = std::make_shared<Tunnel>(loop.io());
      t->client = std::move(socket);
      asio::async_read_until(t->client, t->head, "\r\n\r\n", [this, t](const boost::system::error_code& read_ec,
                                                                        std::size_t size) {
        if (read_ec) return t->close();
        const std::string head(asio::buffers_begin(t->head.data()),
                               asio::buffers_begin(t->head.data()) + static_cast<std::ptrdiff_t>(size));
        t->head.consume(size);
        {
          std::lock_guard lock(mutex);
          requests.push_back(head);
        }
        owner.signal.notify();
        auto answer = [t](std::string reply, bool then_tunnel) {
          t->reply = std::move(reply);
          asio::async_write(t->client, asio::buffer(t->reply),
                            [t, then_tunnel](const boost::system::error_code& ec2, std::size_t) {
                              if (ec2 || !then_tunnel) return t->close();
                              t->pump(t->client, t->server, t->buffers[0]);
                              t->pump(t->server, t->client, t->buffers[1]);
                            });
        };
        if (!head.starts_with("CONNECT ")) return answer("HTTP/1.1 405 Method Not Allowed\r\n\r\n", false);
        if (!required_auth.empty() &&
            head.find("Proxy-Authorization: " + required_auth + "\r\n") == std::string::npos) {
          return answer("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n", false);
        }
        const auto target = head.substr(8, head.find(' ', 8) - 8);
        const auto colon = target.rfind(':');
        t->resolver.async_resolve(
            target.substr(0, colon), target.substr(colon + 1),
            [t, answer](const boost::system::error_code& ec2, const tcp::resolver::results_type& results) {
              if (ec2) return answer("HTTP/1.1 502 Bad Gateway\r\n\r\n", false);
              asio::async_connect(t->server, results, [answer](const boost::system::error_code& ec3,
                                                               const tcp::endpoint&) {
                if (ec3) return answer("HTTP/1.1 502 Bad Gateway\r\n\r\n", false);
                answer("HTTP/1.1 200 Connection established\r\n\r\n", true);
              });
            });
      });
      accept_next();
    });
  }
};

ConnectProxy::ConnectProxy(std::string required_auth)
    : impl_(std::make_unique<Impl>(*this, std::move(required_auth))) {
  const tcp::endpoint local(asio::ip::make_address_v4("127.0.0.1"), 0);
  impl_->acceptor.open(local.protocol());
  impl_->acceptor.bind(local);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->accept_next();
  impl_->loop.start();
}

ConnectProxy::~ConnectProxy() { impl_->loop.stop(); }

std::vector<std::string> ConnectProxy::requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->requests;
}

}  // namespace sluice::test
