#include "sluice/net/deadlines.hpp"

namespace sluice::net {

boost::asio::io_context::id Deadlines::id;

Deadlines::Entry::~Entry() { Deadlines::cancel(*this); }

Deadlines::Deadlines(boost::asio::io_context& io) : boost::asio::io_context::service(io), timer_(io) {}

Deadlines::~Deadlines() = default;

void Deadlines::shutdown() {
  // The io_context is going away: entries still armed (owners destroyed
  // later, with the handlers that hold them) must not touch the lanes.
  for (auto& lane : lanes_) {
    for (Entry* e = lane->head; e != nullptr;) {
      Entry* next = e->next_;
      e->prev_ = e->next_ = nullptr;
      e->lane_ = nullptr;
      e = next;
    }
    lane->head = lane->tail = nullptr;
  }
  armed_ = 0;
  timer_.cancel();
}

Deadlines::Lane& Deadlines::lane_for(std::chrono::milliseconds duration) {
  for (auto& lane : lanes_) {
    if (lane->duration == duration) return *lane;
  }
  lanes_.push_back(std::make_unique<Lane>(Lane{this, duration, nullptr, nullptr}));
  return *lanes_.back();
}

void Deadlines::arm(Entry& entry, std::chrono::milliseconds after) {
  unlink(entry);  // (not cancel(): the shared wait stays, this entry is re-armed at once)
  Lane& lane = lane_for(after);
  entry.at_ = Clock::now() + after;
  entry.lane_ = &lane;
  entry.prev_ = lane.tail;
  entry.next_ = nullptr;
  if (lane.tail) {
    lane.tail->next_ = &entry;
  } else {
    lane.head = &entry;
  }
  lane.tail = &entry;
  ++armed_;
  // Appended behind an earlier head, the lane's first deadline is unchanged.
  if (lane.head == &entry) schedule(entry.at_);
}

void Deadlines::cancel(Entry& entry) noexcept {
  Lane* lane = entry.lane_;
  if (!lane) return;
  unlink(entry);
  Deadlines& owner = *lane->owner;
  if (owner.armed_ == 0 && owner.waiting_) {
    // Nothing left to wait for: no pending wait keeps io_context::run() going
    // (a client that runs its loop to completion returns when it closed).
    owner.waiting_ = false;
    owner.timer_.cancel();
  }
}

void Deadlines::unlink(Entry& entry) noexcept {
  Lane* lane = entry.lane_;
  if (!lane) return;
  if (entry.prev_) {
    entry.prev_->next_ = entry.next_;
  } else {
    lane->head = entry.next_;
  }
  if (entry.next_) {
    entry.next_->prev_ = entry.prev_;
  } else {
    lane->tail = entry.prev_;
  }
  entry.prev_ = entry.next_ = nullptr;
  entry.lane_ = nullptr;
  --lane->owner->armed_;
}

void Deadlines::schedule(Clock::time_point at) {
  if (waiting_ && waiting_until_ <= at) return;
  waiting_ = true;
  waiting_until_ = at;
  timer_.expires_at(at);  // cancels a later wait, whose handler then does nothing
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    waiting_ = false;
    expire();
  });
}

Deadlines::Entry* Deadlines::earliest() const noexcept {
  Entry* first = nullptr;
  for (const auto& lane : lanes_) {
    if (lane->head && (!first || lane->head->at_ < first->at_)) first = lane->head;
  }
  return first;
}

void Deadlines::expire() {
  const auto now = Clock::now();
  // In deadline order across lanes (a late wake-up finds several due). The
  // earliest is looked up again each time: on_deadline may arm or cancel others.
  while (Entry* first = earliest()) {
    if (first->at_ > now) return schedule(first->at_);
    cancel(*first);
    first->on_deadline();  // may re-arm it: at a later time than `now`
  }
}

}  // namespace sluice::net
