#include "sluice/net/readiness.hpp"

#include <boost/asio/post.hpp>

#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace sluice::net {

boost::asio::io_context::id Readiness::id;

namespace {
constexpr int kEventsPerWait = 256;
}

Readiness::Readiness(boost::asio::io_context& io)
    : boost::asio::io_context::service(io), io_(io), descriptor_(io) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return;  // add() reports it
  boost::system::error_code ec;
  descriptor_.assign(::dup(epoll_fd_), ec);  // Asio closes its copy; ours stays valid until ~Readiness
}

Readiness::~Readiness() {
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

void Readiness::shutdown() {
  // The io_context is going away: drop every registration (their owners close
  // their sockets in their destructors) and the wait on the set.
  boost::system::error_code ignored;
  descriptor_.close(ignored);
  std::vector<Slot> slots = std::move(slots_);
  slots_.clear();
  retired_.clear();
  registered_ = 0;
}

namespace {
// Room for every descriptor the process may open, reserved once: untouched
// pages cost no memory, and the slots never move or double (a doubled array
// would cost idle connections up to twice the 24 bytes of their slot).
std::size_t descriptor_limit() noexcept {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 1 << 20;
  return std::clamp<std::size_t>(limit.rlim_cur, 1024, 1 << 20);
}
}  // namespace

std::error_code Readiness::add(int fd, std::shared_ptr<Pollable> owner) {
  if (epoll_fd_ < 0 || !descriptor_.is_open()) return {EMFILE, std::system_category()};
  if (fd < 0) return {EBADF, std::system_category()};
  if (slots_.capacity() == 0) slots_.reserve(descriptor_limit());
  if (static_cast<std::size_t>(fd) >= slots_.size()) slots_.resize(static_cast<std::size_t>(fd) + 1024);
  Slot& slot = slots_[static_cast<std::size_t>(fd)];
  if (slot.owner) return {EEXIST, std::system_category()};
  slot.generation = next_generation_++;
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.u64 = (static_cast<std::uint64_t>(slot.generation) << 32) | static_cast<std::uint32_t>(fd);
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) return {errno, std::system_category()};
  slot.owner = std::move(owner);
  ++registered_;
  if (!armed_) arm();
  return {};
}

Readiness::Slot* Readiness::slot_of(int fd) noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= slots_.size()) return nullptr;
  Slot& slot = slots_[static_cast<std::size_t>(fd)];
  return slot.owner ? &slot : nullptr;
}

void Readiness::remove(int fd) {
  if (!slot_of(fd)) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  remove_closing(fd);
}

void Readiness::remove_closing(int fd) {
  Slot* slot = slot_of(fd);
  if (!slot) return;
  slot->generation = 0;
  --registered_;
  retire(std::move(slot->owner));
}

void Readiness::retire(std::shared_ptr<Pollable> owner) {
  // The caller is usually the owner itself, deep in its own member function:
  // release it only once that has returned.
  retired_.push_back(std::move(owner));
  if (dispatching_ || release_posted_) return;
  release_posted_ = true;
  boost::asio::post(io_, [this] {
    release_posted_ = false;
    retired_.clear();
  });
}

void Readiness::arm() {
  armed_ = true;
  descriptor_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                         [this](const boost::system::error_code& ec) {
                           armed_ = false;
                           if (ec) return;  // closed: the io_context is shutting down
                           dispatch();
                           if (!armed_ && descriptor_.is_open()) arm();
                         });
}

void Readiness::dispatch() {
  std::array<epoll_event, kEventsPerWait> events;
  const int n = ::epoll_wait(epoll_fd_, events.data(), kEventsPerWait, 0);
  dispatching_ = true;
  for (int i = 0; i < n; ++i) {
    const auto fd = static_cast<std::uint32_t>(events[i].data.u64);
    const auto generation = static_cast<std::uint32_t>(events[i].data.u64 >> 32);
    if (fd >= slots_.size()) continue;
    Slot& slot = slots_[fd];
    // Removed (or removed and the number reused) since epoll reported it.
    if (slot.generation != generation || !slot.owner) continue;
    Pollable* owner = slot.owner.get();  // kept alive by the slot or retired_ during the call
    owner->on_ready(events[i].events);
  }
  dispatching_ = false;
  retired_.clear();
  // A full batch may have left events behind: Asio's re-arm (EPOLL_CTL_MOD on
  // the set) reports the set readable again at once if so.
}

}  // namespace sluice::net
