// Many WebSocket client connections on one epoll instance and one thread:
// non-blocking TCP, the opening handshake and framing from Sluice's sans-I/O
// protocol core (ClientHandshake, Codec in the client role), TLS when the
// target asks for it (stream.hpp), and nothing else. Built for the load
// client: no deflate, IPv4.
//
// A client may be closed (cleanly or cut) and connected again: the churn and
// storm scenarios reuse one Client per simulated user.
//
// Thread safety: none; everything runs on the thread that calls poll().
// Callbacks run inside poll() and may queue messages, flush, close, cut or
// reconnect clients, but must not destroy the pool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/protocol/codec.hpp"
#include "sluice/protocol/handshake.hpp"
#include "stream.hpp"
#include "tcp.hpp"
#include "wakeup.hpp"

namespace sluice::bench {

class ClientPool;

/// One client connection. Owned by its ClientPool; the reference stays valid
/// for the pool's lifetime.
class Client final : private protocol::CodecHandler {
 public:
  /// connecting: TCP connect, then (wss://) the TLS handshake; closing:
  /// ClientPool::close() sent a close frame; waiting for the server's and its EOF.
  enum class State { idle, connecting, handshaking, open, closing, closed };

  std::size_t index() const noexcept { return index_; }
  State state() const noexcept { return state_; }
  /// Bytes queued but not yet written to the socket.
  std::size_t pending_bytes() const noexcept { return codec_ ? codec_->pending_output().size() : 0; }
  /// Scenario data: a free slot for whatever a scenario tracks per client.
  std::uint64_t user = 0;

  /// Queues one message as a masked client frame. It goes out on flush().
  /// Ignored unless open.
  void queue(protocol::MessageType type, std::span<const std::uint8_t> payload);
  void queue_text(std::string_view text) {
    queue(protocol::MessageType::text, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  }

 private:
  friend class ClientPool;
  Client(ClientPool& pool, std::size_t index) : pool_(pool), index_(index) {}

  void on_message(protocol::MessageType type, std::span<const std::uint8_t> payload) override;
  void on_close(std::uint16_t code, std::string_view reason) override;

  ClientPool& pool_;
  std::size_t index_;
  State state_ = State::idle;
  Stream stream_;
  bool want_write_ = false;  // EPOLLOUT registered: output is waiting for room
  std::unique_ptr<protocol::ClientHandshake> handshake_;
  std::optional<protocol::Codec> codec_;
};

/// What a scenario is told. Called inside ClientPool::poll().
class ClientEvents {
 public:
  virtual ~ClientEvents() = default;
  virtual void on_open(Client& client) = 0;
  /// `received_ns`: now_ns() right after the read that delivered the message.
  virtual void on_message(Client& client, protocol::MessageType type, std::span<const std::uint8_t> payload,
                          std::uint64_t received_ns) = 0;
  /// The connection ended: `why` says how it failed or that the server closed
  /// it, and is empty when a close the client started (ClientPool::close)
  /// completed cleanly. Not called for ClientPool::cut().
  virtual void on_closed(Client& client, const std::string& why) = 0;
};

class ClientPool {
 public:
  /// Resolves the target's host (blocking, once, before any connection) and
  /// throws std::runtime_error when it has no IPv4 address.
  ClientPool(Target target, ClientEvents& events);
  ~ClientPool();
  ClientPool(const ClientPool&) = delete;
  ClientPool& operator=(const ClientPool&) = delete;

  /// Creates `count` clients and connects them, at most `concurrency`
  /// handshakes in progress at a time (a SYN flood into one listen backlog
  /// would only add retransmission delays).
  void open(std::size_t count, std::size_t concurrency);

  /// Another server for some clients (resolved now, like the first):
  /// `choose(index)` names the target of client `index` (0: the one given to
  /// the constructor, 1: the first added, ...). Call before open().
  void add_target(Target target);
  void set_target_choice(std::function<std::size_t(std::size_t index)> choose) { choose_ = std::move(choose); }

  /// Connects a closed client again (a fresh handshake and codec), within
  /// the same limit of handshakes in progress. Ignored unless closed.
  void reconnect(Client& client);

  /// Starts the close handshake: a close frame (1000) now; on_closed(client,
  /// "") once the server answered and closed TCP (it closes first, RFC 6455
  /// §7.1.1, so no TIME_WAIT piles up here). Ignored unless open.
  void close(Client& client);

  /// Drops the connection at once with a TCP reset, whatever its state; no
  /// on_closed. Afterwards the client is closed and may be reconnected.
  void cut(Client& client);

  /// Writes what the client has queued; the rest goes out when the socket has room.
  void flush(Client& client);

  /// Waits for readiness up to `timeout_ms` (0: do not wait) and handles it.
  void poll(int timeout_ms);

  /// Also waits for standard input; stdin_closed() turns true at EOF.
  void watch_stdin();
  /// Also wakes poll() when another thread signals `wakeup` (which must
  /// outlive the pool); the wake-up is consumed here.
  void watch_wakeup(Wakeup& wakeup);
  bool stdin_closed() const noexcept { return stdin_closed_; }

  std::size_t size() const noexcept { return clients_.size(); }
  Client& at(std::size_t i) { return *clients_[i]; }
  std::size_t open_count() const noexcept { return open_; }
  /// Clients that are closed now (failed, cut or closed, and not reconnected).
  std::size_t closed_count() const noexcept { return closed_; }
  /// recv() calls that returned data, since the start (for messages per read).
  std::uint64_t reads() const noexcept { return reads_; }

 private:
  friend class Client;
  void connect(Client& c);
  void connect_more();
  void on_ready(Client& c, std::uint32_t events);
  void on_readable(Client& c);
  void on_tcp_connected(Client& c);
  void continue_tls(Client& c);
  void on_connected(Client& c);
  void on_handshake_bytes(Client& c, std::span<const char> bytes);
  void set_want_write(Client& c, bool want);
  void fail(Client& c, const std::string& why);
  /// Closes the socket (with a reset when `reset`) and updates the counts; true if it was connecting.
  bool release(Client& c, bool reset);

  std::size_t target_index(const Client& c) const;  // into targets_ and addresses_

  std::vector<Target> targets_;  // the constructor's first
  ClientEvents& events_;
  Epoll epoll_;
  std::vector<std::uint32_t> addresses_;  // of targets_, network byte order
  std::function<std::size_t(std::size_t)> choose_;  // null: every client on targets_[0]
  std::vector<std::unique_ptr<Client>> clients_;
  std::deque<Client*> to_connect_;  // waiting for a free handshake slot
  std::size_t connecting_ = 0;  // started, not yet open or failed
  std::size_t concurrency_ = 1;
  bool in_connect_more_ = false;
  std::size_t open_ = 0;
  std::size_t closed_ = 0;
  bool stdin_closed_ = false;
  Wakeup* wakeup_ = nullptr;
  std::uint64_t received_ns_ = 0;
  std::uint64_t reads_ = 0;
  std::vector<std::uint8_t> read_buffer_;
};

}  // namespace sluice::bench
