#include "sluice/net/send_queue.hpp"

namespace sluice::net {

OutChunk OutChunk::shared(std::shared_ptr<const std::string> bytes) {
  OutChunk chunk;
  chunk.data = reinterpret_cast<const std::uint8_t*>(bytes->data());
  chunk.size = bytes->size();
  chunk.owner = std::move(bytes);
  return chunk;
}

OutChunk OutChunk::owned(std::vector<std::uint8_t>&& bytes) {
  auto holder = std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes));
  OutChunk chunk;
  chunk.data = holder->data();
  chunk.size = holder->size();
  chunk.owner = std::move(holder);
  return chunk;
}

SendQueue::Result SendQueue::push(OutChunk chunk) {
  // An empty queue takes any one frame: a message larger than the limit is not
  // a slow consumer. Memory stays bounded by the limit plus one message.
  if (bytes_ != 0 && bytes_ + chunk.size > limit_) return Result::over_limit;
  push_unbounded(std::move(chunk));
  return Result::queued;
}

void SendQueue::push_unbounded(OutChunk chunk) {
  if (chunk.size == 0) return;
  bytes_ += chunk.size;
  data_.push_back(std::move(chunk));
}

SendQueue::Result SendQueue::push_control(OutChunk chunk) {
  if (bytes_ + chunk.size > limit_ + control_headroom_) return Result::over_limit;
  bytes_ += chunk.size;
  control_.push_back(std::move(chunk));
  return Result::queued;
}

bool SendQueue::start_write(std::vector<boost::asio::const_buffer>& out) {
  out.clear();
  if (writing() || !has_pending()) return false;
  std::size_t total = 0;
  auto take_from = [&](std::deque<OutChunk>& lane) {
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
  for (const auto& chunk : in_flight_) bytes_ -= chunk.size;
  in_flight_.clear();
}

std::size_t SendQueue::drop_pending_data() {
  std::size_t dropped = 0;
  for (const auto& chunk : data_) dropped += chunk.size;
  data_.clear();
  bytes_ -= dropped;
  return dropped;
}

}  // namespace sluice::net
