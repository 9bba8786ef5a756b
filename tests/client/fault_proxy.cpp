#include "client/fault_proxy.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <future>
#include <set>
#include <vector>

namespace sluice::test {

namespace {
using tcp = asio::ip::tcp;
}

struct FaultProxy::Impl {
  struct Link;
  enum Direction { up = 0, down = 1 };  // up: client to server

  struct Link : std::enable_shared_from_this<Link> {
    Link(asio::io_context& io) : client(io), server(io), timers{asio::steady_timer(io), asio::steady_timer(io)} {}
    tcp::socket client;
    tcp::socket server;
    std::array<std::array<char, 16 * 1024>, 2> buffers{};
    std::array<asio::steady_timer, 2> timers;
    bool dead = false;
    bool first_up = true;
    tcp::socket& from(int d) { return d == up ? client : server; }
    tcp::socket& to(int d) { return d == up ? server : client; }
  };
  struct Parked {
    std::shared_ptr<Link> link;
    int direction;
    std::size_t size;
  };

  FaultProxy& owner;
  net::EventLoop loop{0};
  tcp::acceptor acceptor{loop.io()};
  std::uint16_t target;
  std::set<std::shared_ptr<Link>> links;
  std::vector<Parked> parked;
  bool stalled = false;
  bool refusing = false;
  std::chrono::milliseconds delay{0};
  std::size_t cut_mid_frame = 0;  // 0: off

  Impl(FaultProxy& o, std::uint16_t t) : owner(o), target(t) {}

  void accept_next() {
    acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec) return;
      ++owner.accepted_;
      if (refusing) {
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        auto link = std::make_shared<Link>(loop.io());
        link->client = std::move(socket);
        links.insert(link);
        ++owner.active_;
        const tcp::endpoint server(asio::ip::make_address_v4("127.0.0.1"), target);
        link->server.async_connect(server, [this, link](const boost::system::error_code& connect_ec) {
          if (link->dead) return;
          if (connect_ec) return kill(link);
          pump(link, up);
          pump(link, down);
        });
      }
      owner.signal.notify();
      accept_next();
    });
  }

  void pump(const std::shared_ptr<Link>& link, int d) {
    link->from(d).async_read_some(asio::buffer(link->buffers[d]),
                                  [this, link, d](const boost::system::error_code& ec, std::size_t n) {
                                    if (link->dead) return;
                                    if (ec) return kill(link);
                                    if (d == up && link->first_up) {
                                      link->first_up = false;
                                      std::lock_guard lock(owner.mutex_);
                                      owner.first_chunks_.emplace_back(link->buffers[d].data(), n);
                                    }
                                    deliver(link, d, n);
                                  });
  }

  void deliver(const std::shared_ptr<Link>& link, int d, std::size_t n) {
    if (link->dead) return;
    if (stalled) {
      parked.push_back({link, d, n});
      return;
    }
    bool cut_after = false;
    if (d == down && cut_mid_frame != 0) {
      n = std::min(n, cut_mid_frame);
      cut_mid_frame = 0;
      cut_after = true;
    }
    auto write = [this, link, d, n, cut_after] {
      if (link->dead) return;
      asio::async_write(link->to(d), asio::buffer(link->buffers[d].data(), n),
                        [this, link, d, cut_after](const boost::system::error_code& ec, std::size_t) {
                          if (link->dead) return;
                          if (ec || cut_after) return kill(link);
                          pump(link, d);
                        });
    };
    if (delay.count() == 0) return write();
    link->timers[d].expires_after(delay);
    link->timers[d].async_wait([write](const boost::system::error_code& ec) {
      if (!ec) write();
    });
  }

  void kill(const std::shared_ptr<Link>& link) {
    if (link->dead) return;
    link->dead = true;
    boost::system::error_code ignored;
    link->client.close(ignored);
    link->server.close(ignored);
    link->timers[0].cancel();
    link->timers[1].cancel();
    links.erase(link);
    --owner.active_;
    owner.signal.notify();
  }
};

FaultProxy::FaultProxy(std::uint16_t target_port) : impl_(std::make_unique<Impl>(*this, target_port)) {
  const tcp::endpoint local(asio::ip::make_address_v4("127.0.0.1"), 0);
  impl_->acceptor.open(local.protocol());
  impl_->acceptor.bind(local);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->accept_next();
  impl_->loop.start();
}

FaultProxy::~FaultProxy() {
  sync([this] {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    auto links = impl_->links;
    for (const auto& link : links) impl_->kill(link);
    impl_->parked.clear();
  });
  impl_->loop.stop();
}

void FaultProxy::sync(std::function<void()> f) {
  std::promise<void> done;
  auto future = done.get_future();
  impl_->loop.post([&] {
    f();
    done.set_value();
  });
  future.wait();
}

std::vector<std::string> FaultProxy::first_chunks() const {
  std::lock_guard lock(mutex_);
  return first_chunks_;
}

std::map<std::string, std::string> FaultProxy::last_request_headers() const {
  std::map<std::string, std::string> headers;
  const auto chunks = first_chunks();
  if (chunks.empty()) return headers;
  const std::string& head = chunks.back();
  std::size_t line = head.find("\r\n");
  while (line != std::string::npos) {
    const std::size_t start = line + 2;
    const std::size_t end = head.find("\r\n", start);
    if (end == std::string::npos || end == start) break;
    const std::string field = head.substr(start, end - start);
    const std::size_t colon = field.find(':');
    if (colon != std::string::npos) {
      headers[field.substr(0, colon)] = field.substr(field.find_first_not_of(' ', colon + 1));
    }
    line = end;
  }
  return headers;
}

void FaultProxy::set_target(std::uint16_t port) {
  sync([this, port] { impl_->target = port; });
}

void FaultProxy::cut_all() {
  sync([this] {
    auto links = impl_->links;
    for (const auto& link : links) impl_->kill(link);
  });
}

void FaultProxy::stall(bool on) {
  sync([this, on] {
    impl_->stalled = on;
    if (on) return;
    auto parked = std::move(impl_->parked);
    impl_->parked.clear();
    for (const auto& p : parked) impl_->deliver(p.link, p.direction, p.size);
  });
}

void FaultProxy::set_delay(std::chrono::milliseconds delay) {
  sync([this, delay] { impl_->delay = delay; });
}

void FaultProxy::refuse(bool on) {
  sync([this, on] { impl_->refusing = on; });
}

void FaultProxy::cut_mid_frame(std::size_t bytes) {
  sync([this, bytes] { impl_->cut_mid_frame = bytes; });
}

}  // namespace sluice::test
