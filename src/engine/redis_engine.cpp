#include "sluice/engine/redis_engine.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <system_error>

#include "engine/redis_shard.hpp"
#include "sluice/broker/error.hpp"
#include "sluice/util/thread_name.hpp"

namespace sluice::engine {

std::size_t RedisEngine::shard_of(std::string_view topic, std::size_t shards) noexcept {
  std::uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a: stable across nodes, builds and platforms
  for (const char c : topic) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return static_cast<std::size_t>(hash % shards);
}

RedisEngine::RedisEngine(RedisSettings settings) {
  for (const auto& url : settings.shards) shards_.push_back(std::make_unique<detail::RedisShard>(settings, url));
}

RedisEngine::~RedisEngine() { stop(); }

void RedisEngine::watch_channel(std::string_view name, std::function<void(std::string_view)> on_message,
                                std::function<void()> on_subscribed) {
  if (shards_.empty()) return;
  detail::RedisShard& first = *shards_.front();
  first.watched_channel = first.keys.base + std::string(name);
  first.on_watched_message = std::move(on_message);
  first.on_watched_subscribed = std::move(on_subscribed);
}

void RedisEngine::start(CommittedSink& sink) {
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    detail::RedisShard& shard = *shards_[i];
    shard.sink = &sink;
    shard.started = true;
    boost::asio::post(shard.io, [&shard] {
      shard.connect(shard.command);
      shard.connect(shard.subscriber);
      shard.watch();
      shard.schedule_trim();
    });
    shard.thread = std::thread([&shard] { shard.io.run(); });
    util::name_thread(shard.thread, "sluice-redis-" + std::to_string(i));
  }
}

void RedisEngine::append_unnumbered(Unnumbered event, Numbered done) {
  if (shards_.empty()) return done(nullptr, make_error_code(broker::Error::engine_unavailable));
  detail::RedisShard& shard = *shards_[shard_of(event.topic, shards_.size())];
  if (!shard.ready.load()) return done(nullptr, make_error_code(broker::Error::engine_unavailable));
  const std::size_t bytes = event.data.size() + event.topic.size() + event.type.size() + event.key.size() +
                            event.idempotency_key.size() + 64;
  if (shard.pending_bytes.fetch_add(bytes) + bytes > shard.settings.max_pending_bytes) {
    shard.pending_bytes -= bytes;
    return done(nullptr, std::make_error_code(std::errc::resource_unavailable_try_again));
  }
  boost::asio::post(shard.io, [&shard, event = std::move(event), done = std::move(done), bytes]() mutable {
    shard.append(std::move(event), std::move(done), bytes);
  });
}

bool RedisEngine::available() const noexcept {
  return !shards_.empty() &&
         std::all_of(shards_.begin(), shards_.end(),
                     [](const std::unique_ptr<detail::RedisShard>& s) { return s->ready.load(); });
}

void RedisEngine::stop() {
  for (auto& shard : shards_) shard->stop();
}

}  // namespace sluice::engine
