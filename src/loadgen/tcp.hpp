// Non-blocking IPv4 TCP client sockets for the load client (ClientPool,
// HttpPool), and its clock. Linux only. Every function is thread-safe (no
// shared state); a descriptor belongs to whoever opened it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sluice::bench {

class TlsClient;

/// Where the load goes.
struct Target {
  std::string host = "127.0.0.1";  ///< an IPv4 address or a name that resolves to one
  std::uint16_t port = 0;
  std::string path = "/";          ///< the request target
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra request headers
  std::shared_ptr<const TlsClient> tls;  ///< wss://, https://: TLS with these settings; null: plain TCP
  bool deflate = false;                  ///< WebSocket: offer permessage-deflate (and inflate what arrives)
};

/// Monotonic clock in nanoseconds (the clock of every timestamp here).
std::uint64_t now_ns() noexcept;

/// The first IPv4 address of `host` (a name or a dotted quad), in network byte
/// order. Blocks on DNS; throws std::runtime_error when there is none.
std::uint32_t resolve_ipv4(const std::string& host);

/// A non-blocking, close-on-exec socket with TCP_NODELAY whose connect() to
/// address:port has started. Completion (even an immediate one, or a
/// failure) is reported as writability; read it with socket_error(). Returns
/// -1 and sets `error` when the socket cannot be made or connect() failed at once.
int start_connect(std::uint32_t address, std::uint16_t port, std::string& error);

/// The pending error of a socket (SO_ERROR): 0 once a connect succeeded.
int socket_error(int fd) noexcept;

/// Closes with a TCP reset (SO_LINGER 0): the peer sees the connection
/// cut, as when a network path or a client process dies; no TIME_WAIT here.
void close_with_reset(int fd) noexcept;

/// The read buffer of a pool (ClientPool, HttpPool): one per pool, reused for every socket.
inline constexpr std::size_t kPoolReadBufferSize = 256 * 1024;
/// The most ready sockets one epoll_wait of a pool hands back.
inline constexpr int kPoolMaxEvents = 1024;

/// A level-triggered epoll set whose entries carry a pointer. Owns its
/// descriptor; used by one thread.
class Epoll {
 public:
  Epoll();  ///< throws std::runtime_error when the set cannot be made
  ~Epoll();
  Epoll(const Epoll&) = delete;
  Epoll& operator=(const Epoll&) = delete;

  /// Watches `fd` for `events` (EPOLLIN, EPOLLOUT); false with errno set when refused.
  bool add(int fd, std::uint32_t events, void* data) noexcept;
  void modify(int fd, std::uint32_t events, void* data) noexcept;
  void remove(int fd) noexcept;
  int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

/// strerror() as a string.
std::string errno_text(int error);

}  // namespace sluice::bench
