// A loopback webhook receiver for the HTTP client tests: Beast on its own
// thread and io_context, on 127.0.0.1, plain or TLS. What it does depends on
// the request path:
//   /ok          200 (keep-alive)          /fail    500
//   /busy        429 + Retry-After: 7      /redirect 302 to /ok (never followed)
//   /hang        reads the request, never answers
//   /close       reads the headers, then closes mid-request
//   /hold        answers 200 only once release_held() is called
//   /big         200 with a 200 KiB body
//   /ok-close    200 keep-alive, then closes the idle connection 50 ms later
//   /reuse-trap  200 on a connection's first request; closes at once on a later one
// It records every request (target, headers, body) and counts connections.
// Thread-safe accessors; the destructor stops the thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <cctype>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace sluice::test {

namespace rx {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
}  // namespace rx

struct ReceivedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

class Receiver {
 public:
  /// `tls`: a server context, or null for plain HTTP.
  explicit Receiver(std::shared_ptr<rx::asio::ssl::context> tls = nullptr)
      : tls_(std::move(tls)), acceptor_(io_, {rx::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Receiver() {
    rx::asio::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      for (auto& close : hung_) close();
      hung_.clear();
      held_.clear();
      io_.stop();
    });
    thread_.join();
  }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  std::uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }
  int open_connections() const { return open_.load(); }
  int max_open_connections() const { return max_open_.load(); }
  /// Requests whose headers were read so far.
  int requests_seen() const { return seen_.load(); }
  std::vector<ReceivedRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  /// Answers every /hold request so far, and every later one at once.
  void release_held() {
    rx::asio::post(io_, [this] {
      released_ = true;
      auto held = std::move(held_);
      held_.clear();
      for (auto& respond : held) respond();
    });
  }

 private:
  template <class Stream>
  struct Session : std::enable_shared_from_this<Session<Stream>> {
    Receiver* owner;
    Stream stream;
    rx::beast::flat_buffer buffer;
    std::optional<rx::http::request_parser<rx::http::string_body>> parser;
    rx::http::response<rx::http::string_body> response;
    rx::asio::steady_timer timer;
    int served = 0;

    Session(Receiver* o, Stream s, rx::asio::io_context& io) : owner(o), stream(std::move(s)), timer(io) {}
    ~Session() { --owner->open_; }

    auto& socket() { return rx::beast::get_lowest_layer(stream).socket(); }
    void close() {
      boost::system::error_code ignored;
      socket().close(ignored);
      timer.cancel();
    }

    void read() {
      parser.emplace();
      parser->body_limit(1 << 20);
      rx::http::async_read_header(stream, buffer, *parser,
                                  [self = this->shared_from_this()](boost::system::error_code ec, std::size_t) {
                                    if (ec) return self->close();
                                    self->on_header();
                                  });
    }

    void on_header() {
      ++owner->seen_;
      const std::string target(parser->get().target());
      if (target == "/close" || (target == "/reuse-trap" && served > 0)) {
        record();
        return close();
      }
      rx::http::async_read(stream, buffer, *parser,
                           [self = this->shared_from_this()](boost::system::error_code ec, std::size_t) {
                             if (ec) return self->close();
                             self->record();
                             self->on_request();
                           });
    }

    void record() {
      ReceivedRequest r;
      const auto& m = parser->get();
      r.method = std::string(m.method_string());
      r.target = std::string(m.target());
      for (const auto& field : m) {
        std::string name(field.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers[name] = std::string(field.value());
      }
      r.body = m.body();
      std::lock_guard lock(owner->mutex_);
      owner->requests_.push_back(std::move(r));
    }

    void on_request() {
      const std::string target(parser->get().target());
      const auto path = target.substr(0, target.find('?'));
      response = {};
      response.version(11);
      response.keep_alive(parser->get().keep_alive());
      response.result(200);
      response.body() = "ok";
      if (path == "/hang") {
        owner->hung_.push_back([self = this->shared_from_this()] { self->close(); });  // kept until the receiver stops
        return;
      }
      if (path == "/hold" && !owner->released_) {
        owner->held_.push_back([self = this->shared_from_this()] { self->respond(); });
        return;
      }
      if (path == "/fail") response.result(500);
      if (path == "/busy") {
        response.result(429);
        response.set(rx::http::field::retry_after, "7");
      }
      if (path == "/redirect") {
        response.result(302);
        response.set(rx::http::field::location, "/ok");
      }
      if (path == "/big") response.body() = std::string(200 * 1024, 'x');
      respond();
    }

    void respond() {
      response.prepare_payload();
      rx::http::async_write(stream, response,
                            [self = this->shared_from_this()](boost::system::error_code ec, std::size_t) {
                              if (ec) return self->close();
                              ++self->served;
                              const std::string target(self->parser->get().target());
                              if (target == "/ok-close") {
                                self->timer.expires_after(std::chrono::milliseconds(50));
                                self->timer.async_wait([self](boost::system::error_code t) {
                                  if (!t) self->close();
                                });
                              }
                              if (!self->response.keep_alive()) return self->close();
                              self->read();
                            });
    }
  };

  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, rx::tcp::socket socket) {
      if (ec) return;
      ++connections_;
      const int open = ++open_;
      int seen = max_open_.load();
      while (open > seen && !max_open_.compare_exchange_weak(seen, open)) {
      }
      if (tls_) {
        using Tls = rx::beast::ssl_stream<rx::beast::tcp_stream>;
        auto s = std::make_shared<Session<Tls>>(this, Tls(rx::beast::tcp_stream(std::move(socket)), *tls_), io_);
        s->stream.async_handshake(rx::asio::ssl::stream_base::server, [s](boost::system::error_code hec) {
          if (hec) return s->close();
          s->read();
        });
      } else {
        auto s = std::make_shared<Session<rx::beast::tcp_stream>>(this, rx::beast::tcp_stream(std::move(socket)), io_);
        s->read();
      }
      accept();
    });
  }

  // Declared before io_: sessions destroyed with io_'s pending handlers still use them.
  std::shared_ptr<rx::asio::ssl::context> tls_;
  std::atomic<int> connections_{0}, open_{0}, max_open_{0}, seen_{0};
  mutable std::mutex mutex_;
  std::vector<ReceivedRequest> requests_;
  std::vector<std::function<void()>> held_;  // receiver thread only
  std::vector<std::function<void()>> hung_;  // receiver thread only
  bool released_ = false;                    // receiver thread only
  rx::asio::io_context io_;
  rx::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace sluice::test
