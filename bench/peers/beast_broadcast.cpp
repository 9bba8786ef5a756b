// A broadcast (or echo) WebSocket server on Boost.Beast, the peer Sluice is
// compared with in docs/benchmarks.md. Written after the structure of Beast's
// own examples (websocket_server_async, and the chat server's shared state
// and per-session write queue): one io_context on one thread, one
// websocket::stream<tcp_stream> per session with the suggested server
// timeouts, a flat_buffer for reads, and a queue of shared immutable
// messages with exactly one write in flight.
//
//   beast_broadcast [--mode broadcast|echo] [--address 127.0.0.1] [--port 9002] [--deflate on|off]
//                   [--tls-cert cert.pem --tls-key key.pem]
//
// broadcast: every message a client sends goes to every other client.
// echo:      every message goes back to its sender.
// --deflate on: accept permessage-deflate with Beast's default settings
// (server_enable; each session compresses every message it sends itself).
// --tls-cert/--tls-key: wss://, each session a websocket::stream over
// beast::ssl_stream (Asio's OpenSSL stream), as Beast's
// websocket_server_async_ssl example.
// Prints "listening on ws://ADDRESS:PORT" (wss://) once it accepts connections.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <type_traits>
#include <utility>

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// A subscriber more than this far behind is closed, as Sluice's default
// send-queue limit would (Beast's example queue is unbounded).
constexpr std::size_t kMaxQueuedBytes = 1024 * 1024;

// What broadcasting needs of a session, whatever its stream.
struct Peer {
  virtual ~Peer() = default;
  virtual void send(const std::shared_ptr<const std::string>& bytes, bool text) = 0;
};

// Every open session, for broadcasting. One thread: no lock.
struct SharedState {
  bool echo = false;
  bool deflate = false;
  std::shared_ptr<net::ssl::context> tls;  // null: plain ws://
  std::unordered_set<Peer*> sessions;
};

struct Outgoing {
  std::shared_ptr<const std::string> bytes;
  bool text;
};

using PlainStream = websocket::stream<beast::tcp_stream>;
using TlsStream = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

template <class Stream>
class Session : public Peer, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(tcp::socket&& socket, SharedState& state) : ws_(make_stream(std::move(socket), state)), state_(state) {}
  ~Session() override { state_.sessions.erase(this); }

  void run() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(30));
      ws_.next_layer().async_handshake(net::ssl::stream_base::server,
                                       beast::bind_front_handler(&Session::on_tls, this->shared_from_this()));
    } else {
      start_websocket();
    }
  }

  // Queues a message; starts a write unless one is already running.
  void send(const std::shared_ptr<const std::string>& bytes, bool text) override {
    if (closing_) return;
    queued_bytes_ += bytes->size();
    if (queued_bytes_ > kMaxQueuedBytes) {
      closing_ = true;
      queue_.clear();
      beast::get_lowest_layer(ws_).close();  // slow consumer: the pending operations end it
      return;
    }
    queue_.push_back({bytes, text});
    if (queue_.size() > 1) return;  // the running write picks it up
    write_front();
  }

 private:
  static Stream make_stream(tcp::socket&& socket, SharedState& state) {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      return Stream(std::move(socket), *state.tls);
    } else {
      (void)state;
      return Stream(std::move(socket));
    }
  }

  void on_tls(beast::error_code ec) {
    if (ec) return;
    beast::get_lowest_layer(ws_).expires_never();  // the websocket stream's own timeouts from here
    start_websocket();
  }

  void start_websocket() {
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    if (state_.deflate) {
      websocket::permessage_deflate pmd;
      pmd.server_enable = true;
      ws_.set_option(pmd);
    }
    ws_.async_accept(beast::bind_front_handler(&Session::on_accept, this->shared_from_this()));
  }

  void on_accept(beast::error_code ec) {
    if (ec) return;
    state_.sessions.insert(this);
    do_read();
  }

  void do_read() { ws_.async_read(buffer_, beast::bind_front_handler(&Session::on_read, this->shared_from_this())); }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return;  // closed, reset or timed out: the session ends with its last handler
    if (state_.echo) {
      ws_.text(ws_.got_text());
      return ws_.async_write(buffer_.data(), beast::bind_front_handler(&Session::on_echoed, this->shared_from_this()));
    }
    auto message = std::make_shared<const std::string>(beast::buffers_to_string(buffer_.data()));
    const bool text = ws_.got_text();
    buffer_.consume(buffer_.size());
    for (Peer* other : state_.sessions) {
      if (other != this) other->send(message, text);
    }
    do_read();
  }

  void on_echoed(beast::error_code ec, std::size_t) {
    if (ec) return;
    buffer_.consume(buffer_.size());
    do_read();
  }

  void write_front() {
    ws_.text(queue_.front().text);
    ws_.async_write(net::buffer(*queue_.front().bytes),
                    beast::bind_front_handler(&Session::on_write, this->shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec || closing_) return;
    queued_bytes_ -= queue_.front().bytes->size();
    queue_.pop_front();
    if (!queue_.empty()) write_front();
  }

  Stream ws_;
  SharedState& state_;
  beast::flat_buffer buffer_;
  std::deque<Outgoing> queue_;
  std::size_t queued_bytes_ = 0;
  bool closing_ = false;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& io, SharedState& state) : io_(io), acceptor_(io), state_(state) {}

  bool listen(const tcp::endpoint& endpoint) {
    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) std::fprintf(stderr, "beast_broadcast: listen: %s\n", ec.message().c_str());
    return !ec;
  }

  void accept() {
    acceptor_.async_accept(io_, beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  }

 private:
  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      if (state_.tls) {
        std::make_shared<Session<TlsStream>>(std::move(socket), state_)->run();
      } else {
        std::make_shared<Session<PlainStream>>(std::move(socket), state_)->run();
      }
    }
    accept();  // EMFILE and the like: keep accepting (the benchmark stays under the limit)
  }

  net::io_context& io_;
  tcp::acceptor acceptor_;
  SharedState& state_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string address = "127.0.0.1", mode = "broadcast", deflate = "off", cert, key;
  unsigned short port = 9002;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--mode") mode = argv[i + 1];
    else if (flag == "--address") address = argv[i + 1];
    else if (flag == "--port") port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
    else if (flag == "--deflate") deflate = argv[i + 1];
    else if (flag == "--tls-cert") cert = argv[i + 1];
    else if (flag == "--tls-key") key = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: beast_broadcast [--mode broadcast|echo] [--address A] [--port P] [--deflate on|off] [--tls-cert F --tls-key F]\n");
      return 2;
    }
  }
  if (mode != "broadcast" && mode != "echo") {
    std::fprintf(stderr, "beast_broadcast: --mode is broadcast or echo\n");
    return 2;
  }
  if (deflate != "on" && deflate != "off") {
    std::fprintf(stderr, "beast_broadcast: --deflate is on or off\n");
    return 2;
  }
  net::io_context io{1};
  SharedState state;
  state.echo = mode == "echo";
  state.deflate = deflate == "on";
  if (cert.empty() != key.empty()) {
    std::fprintf(stderr, "beast_broadcast: --tls-cert and --tls-key go together\n");
    return 2;
  }
  if (!cert.empty()) {
    state.tls = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
    beast::error_code ec;
    state.tls->use_certificate_chain_file(cert, ec);
    if (!ec) state.tls->use_private_key_file(key, net::ssl::context::pem, ec);
    if (ec) {
      std::fprintf(stderr, "beast_broadcast: TLS files: %s\n", ec.message().c_str());
      return 1;
    }
  }
  auto listener = std::make_shared<Listener>(io, state);
  if (!listener->listen({net::ip::make_address(address), port})) return 1;
  listener->accept();
  std::printf("listening on %s://%s:%u (%s%s)\n", state.tls ? "wss" : "ws", address.c_str(), static_cast<unsigned>(port), mode.c_str(),
              state.deflate ? ", permessage-deflate" : "");
  std::fflush(stdout);
  net::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const beast::error_code&, int) { io.stop(); });
  io.run();
  return 0;
}
