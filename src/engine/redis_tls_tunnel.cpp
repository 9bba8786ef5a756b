// One Unix listener per rediss:// server; each accepted hiredis connection
// becomes a Pipe: resolve, connect, TLS handshake (bounded by a deadline),
// then two pumps copying bytes each way through one fixed buffer apiece.

#include "sluice/engine/redis_tls_tunnel.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <sys/un.h>

#include <filesystem>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "sluice/log/log.hpp"
#include "sluice/util/thread_name.hpp"

namespace sluice::engine {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;

namespace {

constexpr auto kHandshakeDeadline = std::chrono::seconds(10);

// Keyed by what failed: a flood of refused connections never hides a certificate problem.
void warn(const char* what, const std::string& message) { log::limited(spdlog::level::warn, what, {}, message); }

bool is_address(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

struct RedisTlsTunnel::State {
  State(RedisTlsOptions o, std::shared_ptr<ssl::context> c)
      : options(std::move(o)), tls(std::move(c)), acceptor(io), retry(io), work(io.get_executor()) {}

  struct Pipe;

  RedisTlsOptions options;
  std::shared_ptr<ssl::context> tls;
  std::filesystem::path dir;
  std::string path;
  asio::io_context io;
  unix_socket::acceptor acceptor;
  asio::steady_timer retry;  // after a failed accept (e.g. out of descriptors): try again later, not at once
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::set<std::shared_ptr<Pipe>> pipes;  // the thread's
  std::thread thread;
  bool stopped = false;

  std::string where() const { return options.host + ":" + std::to_string(options.port); }
  void accept();
};

// One hiredis connection and its TLS connection to Redis. Lives in
// State::pipes, and in its handlers, until either side closes.
struct RedisTlsTunnel::State::Pipe : std::enable_shared_from_this<Pipe> {
  Pipe(State& s, unix_socket::socket l)
      : state(s),
        local(std::move(l)),
        remote(state.io, *state.tls),
        resolver(state.io),
        deadline(state.io),
        up(state.options.buffer_bytes),
        down(state.options.buffer_bytes) {}

  State& state;
  unix_socket::socket local;
  ssl::stream<tcp::socket> remote;
  tcp::resolver resolver;
  asio::steady_timer deadline;
  std::vector<char> up, down;  // hiredis -> Redis, Redis -> hiredis
  bool closed = false;

  void open() {
    auto self = shared_from_this();
    deadline.expires_after(kHandshakeDeadline);
    deadline.async_wait([self](boost::system::error_code ec) {
      if (!ec) self->close("no TLS connection within 10 s", {});
    });
    resolver.async_resolve(state.options.host, std::to_string(state.options.port),
                           [self](boost::system::error_code ec, const tcp::resolver::results_type& found) {
                             if (ec) return self->close("cannot resolve", ec);
                             asio::async_connect(self->remote.next_layer(), found,
                                                 [self](boost::system::error_code e, const tcp::endpoint&) {
                                                   if (e) return self->close("cannot connect", e);
                                                   self->handshake();
                                                 });
                           });
  }

  void handshake() {
    const std::string& host = state.options.host;
    // SNI carries names only (RFC 6066); the certificate is checked against either.
    if (!is_address(host)) SSL_set_tlsext_host_name(remote.native_handle(), host.c_str());
    if (state.options.tls.verify_peer) remote.set_verify_callback(ssl::host_name_verification(host));
    auto self = shared_from_this();
    remote.async_handshake(ssl::stream_base::client, [self](boost::system::error_code ec) {
      if (ec) return self->close("TLS handshake failed", ec);
      self->deadline.cancel();
      self->pump_up();
      self->pump_down();
    });
  }

  // A read waits until what the last one brought is written on: one buffer per direction.
  void pump_up() {
    auto self = shared_from_this();
    local.async_read_some(asio::buffer(up), [self](boost::system::error_code ec, std::size_t n) {
      if (ec) return self->close("", ec);  // hiredis closed: the usual end
      asio::async_write(self->remote, asio::buffer(self->up.data(), n), [self](boost::system::error_code e, std::size_t) {
        if (e) return self->close("cannot send to Redis", e);
        self->pump_up();
      });
    });
  }

  void pump_down() {
    auto self = shared_from_this();
    remote.async_read_some(asio::buffer(down), [self](boost::system::error_code ec, std::size_t n) {
      if (ec) return self->close("", ec);  // Redis closed (a restart, a kill): hiredis reconnects
      asio::async_write(self->local, asio::buffer(self->down.data(), n), [self](boost::system::error_code e, std::size_t) {
        if (e) return self->close("", e);
        self->pump_down();
      });
    });
  }

  // Closes both sides; `why` (if any) is logged with Asio's reason, which
  // for TLS is OpenSSL's (e.g. "certificate verify failed").
  void close(const char* why, boost::system::error_code ec) {
    if (closed) return;
    closed = true;
    if (*why && !state.stopped) warn(why, "redis " + state.where() + " over TLS: " + why + (ec ? ": " + ec.message() : ""));
    boost::system::error_code ignored;
    deadline.cancel();
    resolver.cancel();
    local.close(ignored);
    remote.next_layer().close(ignored);
    state.pipes.erase(shared_from_this());
  }
};

void RedisTlsTunnel::State::accept() {
  acceptor.async_accept([this](boost::system::error_code ec, unix_socket::socket socket) {
    if (stopped || ec == asio::error::operation_aborted) return;
    if (ec) {
      warn("redis_tls_accept", "redis " + where() + " over TLS: cannot accept hiredis' connection: " + ec.message());
      retry.expires_after(std::chrono::milliseconds(100));
      retry.async_wait([this](boost::system::error_code e) {
        if (!e && !stopped) accept();
      });
      return;
    }
    auto pipe = std::make_shared<Pipe>(*this, std::move(socket));
    pipes.insert(pipe);
    pipe->open();
    accept();
  });
}

std::unique_ptr<RedisTlsTunnel> RedisTlsTunnel::start(RedisTlsOptions options, std::string& error) {
  auto tls = net::make_client_tls_context(options.tls, error);
  if (!tls) return nullptr;
  auto state = std::make_unique<State>(std::move(options), std::move(tls));
  std::error_code fs_error;
  std::string pattern = (std::filesystem::temp_directory_path(fs_error) / "sluice-redis-XXXXXX").string();
  if (fs_error || !::mkdtemp(pattern.data())) {  // mode 0700: only this user reaches the socket
    error = "cannot make a directory for the Redis TLS tunnel in " + pattern;
    return nullptr;
  }
  state->dir = pattern;
  state->path = (state->dir / "redis.sock").string();
  if (state->path.size() >= sizeof(sockaddr_un::sun_path)) {
    std::filesystem::remove_all(state->dir, fs_error);
    error = "the Redis TLS tunnel's socket path is too long (" + state->path + "): set TMPDIR to a shorter directory";
    return nullptr;
  }
  boost::system::error_code ec;
  state->acceptor.open(unix_socket(), ec);
  if (!ec) state->acceptor.bind(unix_socket::endpoint(state->path), ec);
  if (!ec) state->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::filesystem::remove_all(state->dir, fs_error);
    error = "cannot listen on " + state->path + " for the Redis TLS tunnel: " + ec.message();
    return nullptr;
  }
  state->accept();
  State* s = state.get();
  state->thread = std::thread([s] { s->io.run(); });
  util::name_thread(state->thread, "sluice-redistls");
  return std::unique_ptr<RedisTlsTunnel>(new RedisTlsTunnel(std::move(state)));
}

RedisTlsTunnel::RedisTlsTunnel(std::unique_ptr<State> state) : state_(std::move(state)) {}

RedisTlsTunnel::~RedisTlsTunnel() { stop(); }

const std::string& RedisTlsTunnel::path() const noexcept { return state_->path; }

void RedisTlsTunnel::stop() {
  if (!state_->thread.joinable()) return;
  State* s = state_.get();
  asio::post(s->io, [s] {
    s->stopped = true;
    boost::system::error_code ignored;
    s->acceptor.close(ignored);
    s->retry.cancel();
    const auto open = s->pipes;  // close() erases from the set
    for (const auto& pipe : open) pipe->close("", {});
  });
  s->work.reset();
  s->thread.join();
  std::error_code ignored;
  std::filesystem::remove_all(s->dir, ignored);
}

}  // namespace sluice::engine
