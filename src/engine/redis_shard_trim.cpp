// A Redis shard's periodic trimming: a topic's Stream is trimmed to its
// bounds at each of its publishes (the append script); this pass trims the
// topics nobody publishes to, so their aged entries go too.

#include "engine/redis_shard.hpp"

#include "sluice/util/unix_time.hpp"

namespace sluice::engine::detail {

namespace {
constexpr std::size_t kTrimBatch = 256;  // scripts in flight at once: publishes get in between
}

void RedisShard::schedule_trim() {
  if (settings.trim_interval.count() <= 0 || stopping) return;
  // Jitter: the nodes sharing a Redis do not all trim at the same moment.
  std::uniform_int_distribution<long long> jitter(0, settings.trim_interval.count() / 4);
  trim_timer.expires_after(settings.trim_interval + std::chrono::milliseconds(jitter(random)));
  trim_timer.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping) return;
    if (!ready || !command.context) return schedule_trim();  // not now: next time
    const std::string key = keys.topics();
    if (redisAsyncCommand(command.context, on_trim_topics, this, "SMEMBERS %b", key.data(), key.size()) != REDIS_OK) {
      schedule_trim();
    }
  });
}

void RedisShard::on_trim_topics(redisAsyncContext*, void* r, void* data) {
  RedisShard& shard = *static_cast<RedisShard*>(data);
  auto* reply = static_cast<redisReply*>(r);
  if (!reply || reply->type != REDIS_REPLY_ARRAY) return shard.schedule_trim();
  shard.trim_topics.clear();
  for (std::size_t i = 0; i < reply->elements; ++i) shard.trim_topics.emplace_back(reply_text(reply->element[i]));
  shard.trim_next = 0;
  shard.trim_batch();
}

void RedisShard::trim_batch() {
  const std::int64_t now_ms = unix_time_ms();
  while (trim_next < trim_topics.size() && trim_waiting < kTrimBatch && command.context && !stopping) {
    const std::string& topic = trim_topics[trim_next++];
    const std::string meta = keys.meta(topic), stream = keys.stream(topic);
    const std::string maxlen = std::to_string(settings.max_events(topic));
    const std::string max_bytes = std::to_string(settings.max_bytes(topic));
    const long long age = settings.max_age(topic).count();
    const std::string cutoff = std::to_string(age > 0 ? now_ms - age : 0);
    const std::string_view args[] = {"EVAL", kTrimScript, "2", meta, stream, maxlen, max_bytes, cutoff};
    const char* argv[std::size(args)];
    std::size_t lengths[std::size(args)];
    for (std::size_t i = 0; i < std::size(args); ++i) {
      argv[i] = args[i].data();
      lengths[i] = args[i].size();
    }
    if (redisAsyncCommandArgv(command.context, on_trimmed, this, static_cast<int>(std::size(args)), argv, lengths) !=
        REDIS_OK) {
      break;
    }
    ++trim_waiting;
  }
  if (trim_waiting == 0) {  // the pass is over (or cannot go on): the next one later
    trim_topics.clear();
    schedule_trim();
  }
}

void RedisShard::on_trimmed(redisAsyncContext*, void* r, void* data) {
  RedisShard& shard = *static_cast<RedisShard*>(data);
  --shard.trim_waiting;
  if (!r) shard.trim_next = shard.trim_topics.size();  // the connection went: this pass ends
  if (shard.trim_waiting == 0) shard.trim_batch();
}

}  // namespace sluice::engine::detail
