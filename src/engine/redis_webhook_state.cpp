#include <hiredis/hiredis.h>

#include "sluice/engine/redis_shared_state.hpp"

namespace sluice::engine {

namespace {

// ARGV: node, lease ttl (ms), key base, then per change: kind (p: position,
// d: put a dead letter, x: delete one), subscription, key, value. A
// subscription's changes are written only while this node holds its lease
// (a free lease is taken) and the subscription was not deleted; returns the
// ids of the others (not written).
constexpr const char* kWriteScript = R"lua(
local node, ttl, base = ARGV[1], ARGV[2], ARGV[3]
local held, refused = {}, {}
for i = 4, #ARGV, 4 do
  local kind, sub, key, value = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local ok = held[sub]
  if ok == nil then
    ok = redis.call('EXISTS', base .. 'gone:' .. sub) == 0
    if ok then
      local lease = base .. 'wl:' .. sub
      local holder = redis.call('GET', lease)
      if not holder then
        redis.call('SET', lease, node, 'PX', ttl)
      else
        ok = holder == node
      end
    end
    held[sub] = ok
    if not ok then refused[#refused + 1] = sub end
  end
  if ok then
    if kind == 'p' then
      redis.call('HSET', base .. 'wp:' .. sub, key, value)
    elseif kind == 'd' then
      redis.call('HSET', base .. 'wd:' .. sub, key, value)
    else
      redis.call('HDEL', base .. 'wd:' .. sub, key)
    end
  end
end
return refused
)lua";

// ARGV: node, lease ttl (ms), key base, then per subscription its id and 1
// if this node delivers it now. Per id: the holder after the round (this
// node when renewed or taken; "" when nobody may take it), and 1 if Redis
// has the subscription's document (0: it lost it). A free lease is taken
// unless the subscription was deleted; if Redis lost the document, only by
// the node that was delivering it (the others would start over).
constexpr const char* kRenewScript = R"lua(
local node, ttl, base = ARGV[1], ARGV[2], ARGV[3]
local out = {}
for i = 4, #ARGV, 2 do
  local id, here = ARGV[i], ARGV[i + 1] == '1'
  local lease = base .. 'wl:' .. id
  local holder = redis.call('GET', lease)
  local stored = redis.call('HEXISTS', base .. 'subs', id)
  if holder == node then
    redis.call('PEXPIRE', lease, ttl)
  elseif not holder then
    if redis.call('EXISTS', base .. 'gone:' .. id) == 0 and (stored == 1 or here) then
      redis.call('SET', lease, node, 'PX', ttl)
      holder = node
    else
      holder = ''
    end
  end
  out[#out + 1] = holder
  out[#out + 1] = stored
end
return out
)lua";

// ARGV: node, key base, ids: deletes the leases of `ids` this node holds.
constexpr const char* kReleaseScript = R"lua(
for i = 3, #ARGV do
  local lease = ARGV[2] .. 'wl:' .. ARGV[i]
  if redis.call('GET', lease) == ARGV[1] then redis.call('DEL', lease) end
end
return 1
)lua";

constexpr std::size_t kIdsPerRound = 1'000;  // bounds one script's run (Redis runs nothing else meanwhile)

}  // namespace

RedisWebhookState::RedisWebhookState(RedisSharedSettings settings, std::function<void(const std::string&)> on_not_held)
    : settings_(std::move(settings)),
      keys_(settings_),
      on_not_held_(std::move(on_not_held)),
      link_(settings_.url, settings_.timeout) {}

std::string RedisWebhookState::last_error() const {
  std::lock_guard lock(error_mutex_);
  return last_error_;
}

std::error_code RedisWebhookState::write_webhook_state(std::span<const store::WebhookStateChange> changes) {
  if (changes.empty()) return {};
  std::vector<std::string> args{"EVAL", kWriteScript, "0", settings_.node, std::to_string(settings_.lease_ttl.count()),
                                keys_.base};
  args.reserve(args.size() + changes.size() * 4);
  using Kind = store::WebhookStateChange::Kind;
  for (const auto& c : changes) {
    args.push_back(c.kind == Kind::position ? "p" : c.kind == Kind::put_dead_letter ? "d" : "x");
    args.push_back(c.subscription);
    args.push_back(c.key);
    // A position is "<offset>" or "<offset>:<epoch>".
    args.push_back(c.kind != Kind::position ? c.json
                   : c.epoch.empty()        ? std::to_string(c.offset)
                                            : std::to_string(c.offset) + ":" + c.epoch);
  }
  auto r = link_.command(args);
  if (!r || r->type != REDIS_REPLY_ARRAY) {
    std::lock_guard lock(error_mutex_);
    last_error_ = r ? std::string(reply_text(r.get())) : link_.error();
    return std::make_error_code(std::errc::io_error);
  }
  if (on_not_held_) {
    for (std::size_t i = 0; i < r->elements; ++i) on_not_held_(std::string(reply_text(r->element[i])));
  }
  return {};
}

RedisWebhookLeases::RedisWebhookLeases(RedisSharedSettings settings)
    : settings_(std::move(settings)), keys_(settings_), link_(settings_.url, settings_.timeout) {}

std::vector<RedisWebhookLeases::Lease> RedisWebhookLeases::renew(std::span<const std::string> ids,
                                                                 const std::vector<bool>& delivering) {
  std::vector<Lease> out;
  out.reserve(ids.size());
  for (std::size_t from = 0; from < ids.size(); from += kIdsPerRound) {
    std::vector<std::string> args{"EVAL", kRenewScript, "0", settings_.node,
                                  std::to_string(settings_.lease_ttl.count()), keys_.base};
    const std::size_t count = std::min(kIdsPerRound, ids.size() - from);
    for (std::size_t i = from; i < from + count; ++i) {
      args.push_back(ids[i]);
      args.push_back(i < delivering.size() && delivering[i] ? "1" : "0");
    }
    const auto chunk = ids.subspan(from, count);
    auto r = link_.command(args);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 * chunk.size()) return {};
    for (std::size_t i = 0; i < r->elements; i += 2) {
      std::string holder(reply_text(r->element[i]));
      const bool held = holder == settings_.node;
      out.push_back({held, std::move(holder), r->element[i + 1]->integer == 1});
    }
  }
  return out;
}

bool RedisWebhookLeases::load(const std::string& id, State& state) {
  auto positions = link_.command({"HGETALL", keys_.positions(id)});
  if (!positions || positions->type != REDIS_REPLY_ARRAY) return false;
  auto letters = link_.command({"HGETALL", keys_.dead_letters(id)});
  if (!letters || letters->type != REDIS_REPLY_ARRAY) return false;
  for (std::size_t i = 0; i + 1 < positions->elements; i += 2) {
    const std::string_view value = reply_text(positions->element[i + 1]);
    const auto colon = value.find(':');
    state.positions.push_back({id, std::string(reply_text(positions->element[i])), to_u64(value.substr(0, colon)),
                               colon == std::string_view::npos ? std::string() : std::string(value.substr(colon + 1))});
  }
  for (std::size_t i = 0; i + 1 < letters->elements; i += 2) {
    state.dead_letters.push_back(
        {id, std::string(reply_text(letters->element[i])), std::string(reply_text(letters->element[i + 1]))});
  }
  return true;
}

void RedisWebhookLeases::release(std::span<const std::string> ids) {
  for (std::size_t from = 0; from < ids.size(); from += kIdsPerRound) {
    std::vector<std::string> args{"EVAL", kReleaseScript, "0", settings_.node, keys_.base};
    const auto chunk = ids.subspan(from, std::min(kIdsPerRound, ids.size() - from));
    args.insert(args.end(), chunk.begin(), chunk.end());
    if (!link_.command(args)) return;
  }
}

}  // namespace sluice::engine
