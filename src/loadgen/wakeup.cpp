#include "wakeup.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>

#include "tcp.hpp"

namespace sluice::bench {

Wakeup::Wakeup() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) throw std::runtime_error("eventfd: " + errno_text(errno));
}

Wakeup::~Wakeup() { ::close(fd_); }

void Wakeup::signal() noexcept {
  const std::uint64_t one = 1;
  // Fails only when the counter would overflow: then a wake-up is pending anyway.
  [[maybe_unused]] const ssize_t n = ::write(fd_, &one, sizeof one);
}

void Wakeup::drain() noexcept {
  std::uint64_t count = 0;
  [[maybe_unused]] const ssize_t n = ::read(fd_, &count, sizeof count);
}

}  // namespace sluice::bench
