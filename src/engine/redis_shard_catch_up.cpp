// A Redis shard's incoming events: other nodes' publishes over pub/sub, and
// catching up from the Streams (SMEMBERS, then per topic HMGET and XRANGE).

#include "engine/redis_shard.hpp"

#include <boost/json/parse.hpp>

#include "sluice/broker/broker.hpp"

namespace sluice::engine::detail {

void RedisShard::on_message(redisAsyncContext* c, void* r, void* data) {
  auto& link = *static_cast<Link*>(data);
  RedisShard& shard = *link.shard;
  auto* reply = static_cast<redisReply*>(r);
  if (reply && reply->type == REDIS_REPLY_ERROR) {
    // PSUBSCRIBE refused (e.g. LOADING): not subscribed, so start over.
    warn("redis subscriber: PSUBSCRIBE failed: " + std::string(reply_text(reply)) + "; reconnecting");
    redisAsyncDisconnect(c);
    return;
  }
  if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
  const std::string_view kind = reply_text(reply->element[0]);
  if (kind == "psubscribe") {
    shard.subscribed = true;
    link.connected = true;
    link.attempt = 0;
    return shard.maybe_catch_up();
  }
  if (kind == "subscribe") {
    if (shard.on_watched_subscribed) shard.on_watched_subscribed();
    return;
  }
  if (kind == "message") {
    if (reply_text(reply->element[1]) == shard.watched_channel && shard.on_watched_message) {
      shard.on_watched_message(reply_text(reply->element[2]));
    }
    return;
  }
  if (kind != "pmessage" || reply->elements < 4) return;
  const std::string_view channel = reply_text(reply->element[2]);
  const std::string prefix = shard.keys.channel_prefix();
  if (!channel.starts_with(prefix)) return;
  shard.on_event(std::string(channel.substr(prefix.size())), reply_text(reply->element[3]));
}

void RedisShard::on_event(const std::string& topic, std::string_view payload) {
  boost::system::error_code ec;
  const auto value = boost::json::parse(payload, ec);
  const auto* o = value.if_object();
  if (ec || !o) return warn("redis: an event announcement that is not JSON was ignored");
  auto field = [&](const char* name) -> std::string_view {
    const auto* v = o->if_contains(name);
    return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
  };
  broker::EventFields f;
  f.topic = topic;
  f.offset = to_u64(field("o"));
  f.epoch = field("e");
  f.id = field("i");
  f.time_ms = to_i64(field("t"));
  f.type = field("y");
  f.key = field("k");
  f.data = field("d");
  if (f.offset == 0 || f.epoch.empty()) return;
  if (sink->committed(broker::make_event(f)) == CommittedSink::Accepted::waiting) fill(topic);
}

void RedisShard::maybe_catch_up() {
  if (!command.connected || !subscribed || script_sha.empty() || !command.context) return;
  const std::string key = keys.topics();
  redisAsyncCommand(command.context, on_topics, this, "SMEMBERS %b", key.data(), key.size());
}

void RedisShard::on_topics(redisAsyncContext*, void* r, void* data) {
  RedisShard& shard = *static_cast<RedisShard*>(data);
  auto* reply = static_cast<redisReply*>(r);
  if (!reply || reply->type != REDIS_REPLY_ARRAY) return;
  shard.catch_up_left = reply->elements + 1;
  for (std::size_t i = 0; i < reply->elements; ++i) {
    shard.fill(std::string(reply_text(reply->element[i])), true);
  }
  shard.caught_up_one();
}

void RedisShard::caught_up_one() {
  if (catch_up_left == 0 || --catch_up_left != 0) return;
  if (command.connected && subscribed && !stopping) ready = true;
}

void RedisShard::fill(const std::string& topic, bool catch_up) {
  if (!command.context || !filling.insert(topic).second) {
    if (catch_up) caught_up_one();
    return;
  }
  auto* f = new Fill{this, topic, catch_up, {}, 0, 0};
  const std::string meta = keys.meta(topic);
  if (redisAsyncCommand(command.context, on_meta, f, "HMGET %b epoch offset", meta.data(), meta.size()) != REDIS_OK) {
    end_fill(f);
  }
}

void RedisShard::end_fill(Fill* f) {
  filling.erase(f->topic);
  if (f->catch_up) caught_up_one();
  delete f;
}

void RedisShard::on_meta(redisAsyncContext*, void* r, void* data) {
  auto* f = static_cast<Fill*>(data);
  RedisShard& shard = *f->shard;
  auto* reply = static_cast<redisReply*>(r);
  if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
      reply->element[0]->type != REDIS_REPLY_STRING) {
    return shard.end_fill(f);
  }
  f->epoch = std::string(reply_text(reply->element[0]));
  f->last = to_u64(reply_text(reply->element[1]));
  const TopicView here = shard.sink->view(f->topic);
  f->from = here.epoch == f->epoch ? here.committed + 1 : 1;
  shard.read_range(f);
}

void RedisShard::read_range(Fill* f) {
  if (f->from > f->last || !command.context) return end_fill(f);
  const std::string stream = keys.stream(f->topic);
  const std::string start = std::to_string(f->from) + "-0";
  const std::string count = std::to_string(settings.read_batch);
  if (redisAsyncCommand(command.context, on_range, f, "XRANGE %b %b + COUNT %b", stream.data(), stream.size(),
                        start.data(), start.size(), count.data(), count.size()) != REDIS_OK) {
    end_fill(f);
  }
}

void RedisShard::on_range(redisAsyncContext*, void* r, void* data) {
  auto* f = static_cast<Fill*>(data);
  RedisShard& shard = *f->shard;
  auto* reply = static_cast<redisReply*>(r);
  if (!reply || reply->type != REDIS_REPLY_ARRAY) return shard.end_fill(f);
  std::uint64_t first = 0, last_read = 0;
  for (std::size_t i = 0; i < reply->elements; ++i) {
    const redisReply* entry = reply->element[i];
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2) continue;
    const std::uint64_t offset = to_u64(reply_text(entry->element[0]));  // "N-0": the digits before '-'
    const redisReply* fields = entry->element[1];
    broker::EventFields e;
    e.topic = f->topic;
    e.offset = offset;
    for (std::size_t k = 0; k + 1 < fields->elements; k += 2) {
      const std::string_view name = reply_text(fields->element[k]), value = reply_text(fields->element[k + 1]);
      if (name == "i") e.id = value;
      else if (name == "t") e.time_ms = to_i64(value);
      else if (name == "y") e.type = value;
      else if (name == "k") e.key = value;
      else if (name == "d") e.data = value;
      else if (name == "e") e.epoch = value;
    }
    if (e.offset == 0 || e.epoch.empty()) continue;
    if (first == 0) {
      first = e.offset;
      // The Stream no longer holds what this node missed before `first`:
      // move past it (resuming clients then get recovered: false).
      if (first > f->from) shard.sink->skip(f->topic, std::string(e.epoch), first - 1);
    }
    last_read = e.offset;
    shard.sink->committed(broker::make_event(e));
  }
  if (reply->elements == 0) {
    // Nothing left in the Stream (trimmed to nothing, or MAXLEN 0).
    shard.sink->skip(f->topic, f->epoch, f->last);
    return shard.end_fill(f);
  }
  if (reply->elements < shard.settings.read_batch || last_read >= f->last) return shard.end_fill(f);
  f->from = last_read + 1;
  shard.read_range(f);
}

}  // namespace sluice::engine::detail
