// A Redis shard's publishes: EVALSHA of the append script and its reply.

#include "engine/redis_shard.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <charconv>
#include <memory>
#include <span>

#include "sluice/broker/broker.hpp"
#include "sluice/broker/error.hpp"

namespace sluice::engine::detail {

namespace {

// A content fingerprint as Redis keeps it: 16 hex digits (Lua numbers are doubles).
std::string print_text(std::uint64_t print) {
  char digits[17];
  const auto end = std::to_chars(digits, digits + 16, print, 16).ptr;
  return std::string(16 - static_cast<std::size_t>(end - digits), '0') + std::string(digits, end);
}

}  // namespace

void RedisShard::append(Unnumbered event, Numbered done, std::size_t bytes) {
  if (!command.connected || script_sha.empty() || !command.context) {
    pending_bytes -= bytes;
    return done(nullptr, make_error_code(broker::Error::engine_unavailable));
  }
  // The pending append owns the strings the command is built from (hiredis copies them).
  auto* pending = new PendingAppend{this, std::move(event), std::move(done), bytes};
  const Unnumbered& e = pending->event;
  const std::string meta = keys.meta(e.topic), stream = keys.stream(e.topic), topics = keys.topics();
  const std::string maxlen = std::to_string(settings.max_events(e.topic));
  const std::string max_age = std::to_string(std::max<long long>(settings.max_age(e.topic).count(), 0));
  const std::string max_bytes = std::to_string(settings.max_bytes(e.topic));
  const std::string epoch = broker::new_epoch(), time = std::to_string(e.time_ms);
  const std::string channel = keys.channel_prefix() + e.topic;
  // With an idempotencyKey: a fourth key and two more arguments (see kAppendScript).
  const bool keyed = !e.idempotency_key.empty();
  const std::string idempotency = keyed ? keys.idempotency(e.idempotency_key) : std::string();
  const std::string print = keyed ? print_text(e.idempotency_print) : std::string();
  const std::string window =
      keyed ? std::to_string(std::max<long long>(settings.idempotency_window.count(), 1)) : std::string();
  const std::string_view keyed_args[] = {"EVALSHA", script_sha, "4",     meta,      stream, topics, idempotency,
                                         e.topic,   maxlen,     epoch,   e.id,      time,   e.type, e.key,
                                         e.data,    channel,    max_age, max_bytes, print,  window};
  const std::string_view plain_args[] = {"EVALSHA", script_sha, "3",    meta,   stream, topics,  e.topic,  maxlen,
                                         epoch,     e.id,       time,   e.type, e.key,  e.data,  channel,  max_age,
                                         max_bytes};
  using Args = std::span<const std::string_view>;
  const Args args = keyed ? Args(keyed_args) : Args(plain_args);
  const char* argv[std::size(keyed_args)];
  std::size_t lengths[std::size(keyed_args)];
  for (std::size_t i = 0; i < args.size(); ++i) {
    argv[i] = args[i].data();
    lengths[i] = args[i].size();
  }
  if (redisAsyncCommandArgv(command.context, on_appended, pending, static_cast<int>(args.size()), argv, lengths) !=
      REDIS_OK) {
    std::unique_ptr<PendingAppend> p(pending);
    pending_bytes -= p->bytes;
    p->done(nullptr, make_error_code(broker::Error::engine_unavailable));
  }
}

void RedisShard::on_appended(redisAsyncContext*, void* r, void* data) {
  std::unique_ptr<PendingAppend> p(static_cast<PendingAppend*>(data));
  p->shard->pending_bytes -= p->bytes;
  auto* reply = static_cast<redisReply*>(r);
  // No reply: the connection is going (hiredis answers before its disconnect
  // callback), so not ready from now on, before the 503 is seen.
  if (!reply) p->shard->ready = false;
  if (reply && reply->type == REDIS_REPLY_STRING && !p->event.idempotency_key.empty()) {
    return repeated(*p, reply_text(reply));
  }
  if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
      reply->element[0]->type != REDIS_REPLY_INTEGER) {
    if (reply) warn("redis: publish refused: " + std::string(reply_text(reply)));
    return p->done(nullptr, make_error_code(broker::Error::engine_unavailable));
  }
  broker::EventFields f;
  f.id = p->event.id;
  f.topic = p->event.topic;
  f.offset = static_cast<std::uint64_t>(reply->element[0]->integer);
  f.epoch = reply_text(reply->element[1]);
  f.type = p->event.type;
  f.key = p->event.key;
  f.time_ms = p->event.time_ms;
  f.data = p->event.data;
  p->done(broker::make_event(f), {});
}

void RedisShard::repeated(PendingAppend& p, std::string_view stored) {
  boost::system::error_code ec;
  const auto value = boost::json::parse(stored, ec);
  const auto* o = value.if_object();
  auto field = [&](const char* name) -> std::string_view {
    const auto* v = o ? o->if_contains(name) : nullptr;
    return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
  };
  broker::EventFields f;
  f.id = field("i");
  f.topic = field("t");
  f.offset = to_u64(field("o"));
  f.epoch = field("e");
  f.time_ms = to_i64(field("m"));
  f.data = "null";
  if (ec || f.id.empty() || f.offset == 0) {
    warn("redis: an idempotency key's value is not a publish result; publish refused");
    return p.done(nullptr, make_error_code(broker::Error::engine_unavailable));
  }
  if (field("p") != print_text(p.event.idempotency_print)) {
    return p.done(nullptr, make_error_code(broker::Error::idempotency_conflict));
  }
  p.done(broker::make_event(f), make_error_code(broker::Error::idempotent_repeat));
}

}  // namespace sluice::engine::detail
