// One readiness registration per event loop for plain-TCP connections
// (uWebSockets' design): an epoll set of our own, registered once with the
// loop's io_context, instead of an Asio descriptor and a pending Asio
// operation per socket. Why: an idle connection then costs no operation
// object and no reactor state (about 400 bytes), and a read needs no
// epoll_ctl (Asio re-arms the descriptor on every async_wait).
//
// Sockets are registered edge-triggered for input and output at once, so a
// registration is never modified: a Pollable must read until the socket
// reports EAGAIN (or a short read), and act on output readiness only when it
// was waiting for it.
//
// Thread safety: one Readiness per io_context (an Asio service); every member
// is called on the thread running that io_context. Lifetime: a registered
// Pollable is owned by its registration until remove(); after remove() it is
// kept alive until the current dispatch (or the current handler) has
// returned, so an event already fetched for it finds it alive and finished.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cstdint>
#include <memory>
#include <system_error>
#include <vector>

namespace sluice::net {

/// Something with a socket in a Readiness set.
class Pollable {
 public:
  /// `events`: EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR as reported.
  virtual void on_ready(std::uint32_t events) = 0;

 protected:
  virtual ~Pollable() = default;
};

class Readiness : public boost::asio::io_context::service {
 public:
  static boost::asio::io_context::id id;

  explicit Readiness(boost::asio::io_context& io);
  ~Readiness() override;

  /// The loop's set, created on first use.
  static Readiness& of(boost::asio::io_context& io) { return boost::asio::use_service<Readiness>(io); }

  /// Watches `fd` (non-blocking, stream) for input and output, edge-triggered,
  /// and keeps `owner` alive until remove(fd).
  std::error_code add(int fd, std::shared_ptr<Pollable> owner);
  /// Stops watching `fd` (call before closing it). The owner is released
  /// after the current dispatch or handler. Harmless for an unknown fd.
  void remove(int fd);
  /// remove() for a socket the caller closes right after, with no other
  /// descriptor open on it: close() takes it out of the epoll set, so no
  /// epoll_ctl. (A stray event from a copy, e.g. one a fork kept, carries an
  /// old generation and is ignored.)
  void remove_closing(int fd);

  /// Registered sockets (for tests).
  std::size_t size() const noexcept { return registered_; }

 private:
  struct Slot {
    std::shared_ptr<Pollable> owner;
    std::uint32_t generation = 0;  // tells a stale event from a reused fd number
  };

  void shutdown() override;
  void arm();
  void dispatch();
  void retire(std::shared_ptr<Pollable> owner);
  Slot* slot_of(int fd) noexcept;

  boost::asio::io_context& io_;
  int epoll_fd_ = -1;
  boost::asio::posix::stream_descriptor descriptor_;  // epoll_fd_ as seen by Asio's reactor
  bool armed_ = false;
  bool dispatching_ = false;
  bool release_posted_ = false;
  std::size_t registered_ = 0;
  std::uint32_t next_generation_ = 1;
  std::vector<Slot> slots_;  // by fd number
  std::vector<std::shared_ptr<Pollable>> retired_;
};

}  // namespace sluice::net
