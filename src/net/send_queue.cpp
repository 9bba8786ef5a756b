#include "sluice/net/send_queue.hpp"

#include <algorithm>
#include <bit>
#include <utility>

namespace sluice::net {

namespace {
// A chunk pointing into bytes that `holder` keeps alive.
template <class Bytes>
OutChunk chunk_of(std::shared_ptr<const Bytes> holder) {
  OutChunk chunk;
  chunk.data = reinterpret_cast<const std::uint8_t*>(holder->data());
  chunk.size = holder->size();
  chunk.owner = std::move(holder);
  return chunk;
}
}  // namespace

OutChunk OutChunk::shared(std::shared_ptr<const std::string> bytes) { return chunk_of(std::move(bytes)); }

OutChunk OutChunk::owned(std::string&& bytes) {
  return chunk_of(std::make_shared<const std::string>(std::move(bytes)));
}

OutChunk OutChunk::owned(std::vector<std::uint8_t>&& bytes) {
  return chunk_of(std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes)));
}

// --- ChunkRing ---

namespace {

// Ring storage released by emptied queues, kept per thread for the next
// queue that fills: under fan-out every recipient's queue fills and empties
// once per delivery batch, and allocating (and growing) it each time cost
// more than the deliveries themselves. Idle connections still hold nothing;
// the cache is bounded in bytes. Rings of a loop's connections come and go on
// that loop's thread; one freed elsewhere (shutdown) lands in that thread's cache.
class RingCache {
 public:
  static constexpr std::size_t kMaxBytes = 4 * 1024 * 1024;
  static constexpr int kClasses = 18;  // capacities 2^0 .. 2^17 (4 MiB)

  RingCache() { alive_ = true; }
  ~RingCache() { alive_ = false; }

  // Empty storage with capacity >= `at_least` (the smallest cached), or null.
  static std::unique_ptr<OutChunk[]> take(std::uint32_t at_least, std::uint32_t& capacity) {
    RingCache* cache = get();
    if (!cache) return nullptr;
    for (int c = std::countr_zero(std::bit_ceil(at_least)); c < kClasses; ++c) {
      auto& list = cache->free_[c];
      if (list.empty()) continue;
      auto slots = std::move(list.back());
      list.pop_back();
      cache->bytes_ -= (std::size_t{1} << c) * sizeof(OutChunk);
      capacity = 1u << c;
      return slots;
    }
    return nullptr;
  }

  // Keeps `slots` (every element empty) if there is room; frees it otherwise.
  static void give(std::unique_ptr<OutChunk[]> slots, std::uint32_t capacity) noexcept {
    RingCache* cache = get();
    const int c = std::countr_zero(capacity);
    const std::size_t bytes = std::size_t{capacity} * sizeof(OutChunk);
    if (!cache || c >= kClasses || cache->bytes_ + bytes > kMaxBytes) return;
    try {
      cache->free_[c].push_back(std::move(slots));  // strong guarantee: on failure `slots` still owns it
      cache->bytes_ += bytes;
    } catch (...) {
    }
  }

 private:
  static RingCache* get() noexcept {
    thread_local RingCache cache;  // built on first use on each thread
    // After the thread's cache is gone (destructors at thread exit), rings
    // allocate and free their storage directly.
    return alive_ ? &cache : nullptr;
  }
  static thread_local bool alive_;

  std::vector<std::unique_ptr<OutChunk[]>> free_[kClasses];
  std::size_t bytes_ = 0;
};

thread_local bool RingCache::alive_ = false;

}  // namespace

void ChunkRing::push_back(OutChunk chunk) {
  if (size_ == capacity_) {
    const std::uint32_t wanted = capacity_ == 0 ? 4 : capacity_ * 2;
    std::uint32_t capacity = 0;
    auto slots = RingCache::take(wanted, capacity);
    if (!slots) {
      capacity = wanted;
      slots = std::make_unique<OutChunk[]>(capacity);
    }
    for (std::uint32_t i = 0; i < size_; ++i) slots[i] = std::move(slots_[(head_ + i) & (capacity_ - 1)]);
    if (slots_) RingCache::give(std::move(slots_), capacity_);  // every slot was moved from: empty
    slots_ = std::move(slots);
    capacity_ = capacity;
    head_ = 0;
  }
  slots_[(head_ + size_) & (capacity_ - 1)] = std::move(chunk);
  ++size_;
}

void ChunkRing::pop_front() noexcept {
  slots_[head_] = OutChunk{};
  head_ = (head_ + 1) & (capacity_ - 1);
  if (--size_ == 0) clear();
}

void ChunkRing::clear() noexcept {
  if (slots_) {
    for (std::uint32_t i = 0; i < size_; ++i) slots_[(head_ + i) & (capacity_ - 1)] = OutChunk{};
    RingCache::give(std::move(slots_), capacity_);
  }
  slots_.reset();
  head_ = size_ = capacity_ = 0;
}

// --- SendQueue ---

namespace {
// Lanes released by emptied queues, kept per thread for the next queue that
// fills (as RingCache: fan-out fills and empties every recipient's queue once
// per batch). Bounded in count; a queue freed after its thread's cache is gone
// frees its lanes directly.
class LanesCache {
 public:
  static constexpr std::size_t kMaxKept = 4096;
  LanesCache() { alive_ = true; }
  ~LanesCache() {
    alive_ = false;
    for (auto* lanes : free_) delete lanes;
  }
  static SendQueue::Lanes* take() {
    LanesCache* cache = get();
    if (!cache || cache->free_.empty()) return new SendQueue::Lanes();
    SendQueue::Lanes* lanes = cache->free_.back();
    cache->free_.pop_back();
    return lanes;
  }
  // `lanes` is empty (every ring cleared, no partial frame).
  static void give(SendQueue::Lanes* lanes) noexcept {
    LanesCache* cache = get();
    if (cache && cache->free_.size() < kMaxKept) {
      try {
        cache->free_.push_back(lanes);
        return;
      } catch (...) {
      }
    }
    delete lanes;
  }

 private:
  static LanesCache* get() noexcept {
    thread_local LanesCache cache;
    return alive_ ? &cache : nullptr;
  }
  static thread_local bool alive_;
  std::vector<SendQueue::Lanes*> free_;
};

thread_local bool LanesCache::alive_ = false;
}  // namespace

void SendQueue::LanesRelease::operator()(Lanes* lanes) const noexcept {
  // A queue destroyed with frames still queued: they go now, the storage is kept.
  lanes->control.clear();
  lanes->data.clear();
  lanes->in_flight.clear();
  lanes->partial = OutChunk{};
  lanes->partial_sent = 0;
  LanesCache::give(lanes);
}

SendQueue::Lanes& SendQueue::lanes() {
  if (!lanes_) lanes_.reset(LanesCache::take());
  return *lanes_;
}

void SendQueue::release_lanes_if_empty() noexcept {
  if (lanes_ && lanes_->partial.size == 0 && lanes_->control.empty() && lanes_->data.empty() &&
      lanes_->in_flight.empty()) {
    lanes_.reset();
  }
}

SendQueue::~SendQueue() {
  if (gauge_) gauge_->add(-static_cast<std::int64_t>(bytes_));
}

void SendQueue::set_bytes_gauge(metrics::Gauge* gauge) noexcept {
  if (gauge_) gauge_->add(-static_cast<std::int64_t>(bytes_));
  gauge_ = gauge;
  if (gauge_) gauge_->add(static_cast<std::int64_t>(bytes_));
}

SendQueue::Result SendQueue::push(OutChunk chunk) {
  // An empty queue takes any one frame: a message larger than the limit is not
  // a slow consumer. Memory stays bounded by the limit plus one message.
  if (!accepts(chunk.size)) return Result::over_limit;
  push_unbounded(std::move(chunk));
  return Result::queued;
}

void SendQueue::push_unbounded(OutChunk chunk) {
  if (chunk.size == 0) return;
  const std::size_t size = chunk.size;
  lanes().data.push_back(std::move(chunk));
  add_bytes(size);
}

SendQueue::Result SendQueue::push_control(OutChunk chunk) {
  if (bytes_ + chunk.size > std::size_t{limit_} + control_headroom_) return Result::over_limit;
  if (chunk.size == 0) return Result::queued;  // nothing to write (a frame is never empty)
  const std::size_t size = chunk.size;
  lanes().control.push_back(std::move(chunk));
  add_bytes(size);
  return Result::queued;
}

std::size_t SendQueue::gather(iovec* out, std::size_t max_buffers, std::size_t& total_bytes) const {
  std::size_t count = 0;
  total_bytes = 0;
  if (max_buffers == 0 || !lanes_) return 0;
  const Lanes& l = *lanes_;
  if (l.partial.size != 0) {
    out[count++] = {const_cast<std::uint8_t*>(l.partial.data + l.partial_sent), l.partial.size - l.partial_sent};
    total_bytes += l.partial.size - l.partial_sent;
  }
  auto take_from = [&](const ChunkRing& lane) {
    for (std::size_t i = 0; i < lane.size() && count < max_buffers; ++i) {
      const OutChunk& chunk = lane[i];
      if (count != 0 && total_bytes + chunk.size > kMaxWriteBytes) return false;
      out[count++] = {const_cast<std::uint8_t*>(chunk.data), chunk.size};
      total_bytes += chunk.size;
    }
    return count < max_buffers;
  };
  if (take_from(l.control)) take_from(l.data);
  return count;
}

void SendQueue::consume(std::size_t n) {
  if (!lanes_) return;
  sub_bytes(n);
  consume_from_lanes(n);
  release_lanes_if_empty();
}

void SendQueue::consume_from_lanes(std::size_t n) {
  Lanes& l = *lanes_;
  if (l.partial.size != 0) {
    const std::size_t rest = l.partial.size - l.partial_sent;
    if (n < rest) {
      l.partial_sent += n;
      return;
    }
    n -= rest;
    l.partial = OutChunk{};
    l.partial_sent = 0;
  }
  // Same order as gather(): control, then data.
  for (ChunkRing* lane : {&l.control, &l.data}) {
    while (n != 0 && !lane->empty()) {
      OutChunk& chunk = lane->front();
      if (n < chunk.size) {
        l.partial = std::move(chunk);
        l.partial_sent = n;
        lane->pop_front();
        return;
      }
      n -= chunk.size;
      lane->pop_front();
    }
  }
}

bool SendQueue::start_write(std::vector<boost::asio::const_buffer>& out) {
  out.clear();
  if (writing() || !has_pending()) return false;
  Lanes& l = *lanes_;
  std::size_t total = 0;
  auto take_from = [&](ChunkRing& lane) {
    while (!lane.empty() && out.size() < kMaxWriteBuffers &&
           (out.empty() || total + lane.front().size <= kMaxWriteBytes)) {
      total += lane.front().size;
      out.emplace_back(lane.front().data, lane.front().size);
      l.in_flight.push_back(std::move(lane.front()));
      lane.pop_front();
    }
  };
  take_from(l.control);
  take_from(l.data);
  return true;
}

void SendQueue::finish_write() {
  if (!lanes_) return;
  while (!lanes_->in_flight.empty()) {
    sub_bytes(lanes_->in_flight.front().size);
    lanes_->in_flight.pop_front();
  }
  release_lanes_if_empty();
}

std::size_t SendQueue::drop_pending_data() {
  if (!lanes_) return 0;
  std::size_t dropped = 0;
  while (!lanes_->data.empty()) {
    dropped += lanes_->data.front().size;
    lanes_->data.pop_front();
  }
  sub_bytes(dropped);
  release_lanes_if_empty();
  return dropped;
}

}  // namespace sluice::net
