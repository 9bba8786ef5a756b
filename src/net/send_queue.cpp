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
  add_bytes(chunk.size);
  data_.push_back(std::move(chunk));
}

SendQueue::Result SendQueue::push_control(OutChunk chunk) {
  if (bytes_ + chunk.size > limit_ + control_headroom_) return Result::over_limit;
  add_bytes(chunk.size);
  control_.push_back(std::move(chunk));
  return Result::queued;
}

std::size_t SendQueue::gather(iovec* out, std::size_t max_buffers, std::size_t& total_bytes) const {
  std::size_t count = 0;
  total_bytes = 0;
  if (max_buffers == 0) return 0;
  if (partial_.size != 0) {
    out[count++] = {const_cast<std::uint8_t*>(partial_.data + partial_sent_), partial_.size - partial_sent_};
    total_bytes += partial_.size - partial_sent_;
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
  if (take_from(control_)) take_from(data_);
  return count;
}

void SendQueue::consume(std::size_t n) {
  sub_bytes(n);
  if (partial_.size != 0) {
    const std::size_t rest = partial_.size - partial_sent_;
    if (n < rest) {
      partial_sent_ += n;
      return;
    }
    n -= rest;
    partial_ = OutChunk{};
    partial_sent_ = 0;
  }
  // Same order as gather(): control, then data.
  for (ChunkRing* lane : {&control_, &data_}) {
    while (n != 0 && !lane->empty()) {
      OutChunk& chunk = lane->front();
      if (n < chunk.size) {
        partial_ = std::move(chunk);
        partial_sent_ = n;
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
  std::size_t total = 0;
  auto take_from = [&](ChunkRing& lane) {
    while (!lane.empty() && out.size() < kMaxWriteBuffers &&
           (out.empty() || total + lane.front().size <= kMaxWriteBytes)) {
      total += lane.front().size;
      out.emplace_back(lane.front().data, lane.front().size);
      in_flight_.push_back(std::move(lane.front()));
      lane.pop_front();
    }
  };
  take_from(control_);
  take_from(data_);
  return true;
}

void SendQueue::finish_write() {
  while (!in_flight_.empty()) {
    sub_bytes(in_flight_.front().size);
    in_flight_.pop_front();
  }
}

std::size_t SendQueue::drop_pending_data() {
  std::size_t dropped = 0;
  while (!data_.empty()) {
    dropped += data_.front().size;
    data_.pop_front();
  }
  sub_bytes(dropped);
  return dropped;
}

}  // namespace sluice::net
