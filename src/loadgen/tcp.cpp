#include "tcp.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace sluice::bench {

std::uint64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::string errno_text(int error) { return std::strerror(error); }

std::uint32_t resolve_ipv4(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0 || found == nullptr) {
    throw std::runtime_error("cannot resolve " + host + " to an IPv4 address: " + gai_strerror(rc));
  }
  const std::uint32_t address = reinterpret_cast<const sockaddr_in*>(found->ai_addr)->sin_addr.s_addr;
  freeaddrinfo(found);
  return address;
}

int start_connect(std::uint32_t address, std::uint16_t port, std::string& error) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = "socket: " + errno_text(errno);
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = address;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS) {
    error = "connect: " + errno_text(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

int socket_error(int fd) noexcept {
  int error = 0;
  socklen_t length = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
  return error;
}

void close_with_reset(int fd) noexcept {
  const linger hard{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  ::close(fd);
}

Epoll::Epoll() : fd_(epoll_create1(EPOLL_CLOEXEC)) {
  if (fd_ < 0) throw std::runtime_error("epoll_create1: " + errno_text(errno));
}

Epoll::~Epoll() { ::close(fd_); }

bool Epoll::add(int fd, std::uint32_t events, void* data) noexcept {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = data;
  return epoll_ctl(fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void Epoll::modify(int fd, std::uint32_t events, void* data) noexcept {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = data;
  epoll_ctl(fd_, EPOLL_CTL_MOD, fd, &ev);
}

void Epoll::remove(int fd) noexcept { epoll_ctl(fd_, EPOLL_CTL_DEL, fd, nullptr); }

}  // namespace sluice::bench
