#include "sluice/broker/broker.hpp"

#include <openssl/rand.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>

namespace sluice::broker {

namespace {
std::string random_hex(std::size_t bytes) {
  unsigned char raw[16];
  if (bytes > sizeof raw || RAND_bytes(raw, static_cast<int>(bytes)) != 1) {
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  }
  std::string out;
  char two[3];
  for (std::size_t i = 0; i < bytes; ++i) {
    std::snprintf(two, sizeof two, "%02x", raw[i]);
    out += two;
  }
  return out;
}
}  // namespace

std::string new_epoch() { return random_hex(8); }

Broker::Broker(Dispatch dispatch) : dispatch_(std::move(dispatch)), id_prefix_(random_hex(4)) {}

std::string Broker::next_id() {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "evt_%s%016llx", id_prefix_.c_str(),
                static_cast<unsigned long long>(id_counter_.fetch_add(1, std::memory_order_relaxed)));
  return buffer;
}

EventPtr Broker::publish(PublishRequest request) {
  Event fields;
  fields.id = next_id();
  fields.type = std::move(request.type);
  fields.key = std::move(request.key);
  fields.data = std::move(request.data);
  fields.time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  Shard& shard = shards_[std::hash<std::string>{}(request.topic) % kShards];
  std::lock_guard lock(shard.mutex);
  auto [it, inserted] = shard.topics.try_emplace(request.topic);
  if (inserted) it->second.epoch = new_epoch();
  fields.offset = it->second.next_offset++;
  fields.epoch = it->second.epoch;
  fields.topic = std::move(request.topic);
  auto event = make_event(std::move(fields));
  ++shard.published;
  // Under the lock, so every loop sees one topic's events in offset order.
  dispatch_(event);
  return event;
}

std::uint64_t Broker::published() const {
  std::uint64_t total = 0;
  for (auto& shard : shards_) {
    std::lock_guard lock(const_cast<std::mutex&>(shard.mutex));
    total += shard.published;
  }
  return total;
}

}  // namespace sluice::broker
