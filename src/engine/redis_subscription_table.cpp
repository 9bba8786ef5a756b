#include <hiredis/hiredis.h>

#include "sluice/engine/redis_shared_state.hpp"

namespace sluice::engine {

namespace {

// KEYS: the subscriptions hash, the id's tombstone. ARGV: id, document, channel.
// A deleted id is never stored again (a node putting back what Redis lost
// must not bring back what another node deleted): 0 then.
constexpr const char* kPutScript = R"lua(
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], '+' .. ARGV[1] .. '\n' .. ARGV[2])
return 1
)lua";

// KEYS: the subscriptions hash, the lease, the positions, the dead letters,
// the tombstone. ARGV: id, channel, how long the tombstone is kept (s).
constexpr const char* kDeleteScript = R"lua(
local n = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('SET', KEYS[5], '1', 'EX', ARGV[3])
redis.call('PUBLISH', ARGV[2], '-' .. ARGV[1])
return n
)lua";

}  // namespace

RedisSubscriptionTable::RedisSubscriptionTable(RedisSharedSettings settings)
    : keys_(settings), link_(settings.url, settings.timeout) {}

void RedisSubscriptionTable::note(std::string error) {
  std::lock_guard lock(error_mutex_);
  last_error_ = std::move(error);
}

std::string RedisSubscriptionTable::last_error() const {
  std::lock_guard lock(error_mutex_);
  return last_error_;
}

std::error_code RedisSubscriptionTable::put_subscription(const store::StoredSubscription& subscription) {
  auto r = link_.command({"EVAL", kPutScript, "2", keys_.subscriptions(), keys_.tombstone(subscription.id),
                          subscription.id, subscription.json, keys_.channel()});
  if (!r || r->type != REDIS_REPLY_INTEGER) {
    note(r ? std::string(reply_text(r.get())) : link_.error());
    return std::make_error_code(std::errc::io_error);
  }
  if (r->integer == 0) {
    note(kSubscriptionDeleted);
    return std::make_error_code(std::errc::identifier_removed);
  }
  note({});
  return {};
}

std::error_code RedisSubscriptionTable::delete_subscription(std::string_view id) {
  auto r = link_.command({"EVAL", kDeleteScript, "5", keys_.subscriptions(), keys_.lease(id), keys_.positions(id),
                          keys_.dead_letters(id), keys_.tombstone(id), std::string(id), keys_.channel(),
                          std::to_string(kTombstoneSeconds)});
  if (!r || r->type != REDIS_REPLY_INTEGER) {
    note(r ? std::string(reply_text(r.get())) : link_.error());
    return std::make_error_code(std::errc::io_error);
  }
  note({});
  return r->integer > 0 ? std::error_code{} : std::make_error_code(std::errc::no_such_file_or_directory);
}

std::vector<store::StoredSubscription> RedisSubscriptionTable::load_subscriptions() {
  std::vector<store::StoredSubscription> out;
  auto r = link_.command({"HGETALL", keys_.subscriptions()});
  if (!r || r->type != REDIS_REPLY_ARRAY) {
    note(r ? std::string(reply_text(r.get())) : link_.error());
    return out;
  }
  note({});
  for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
    out.push_back({std::string(reply_text(r->element[i])), std::string(reply_text(r->element[i + 1]))});
  }
  return out;
}

}  // namespace sluice::engine
