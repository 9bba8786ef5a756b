// The Redis side of the Redis engine: key names and the one Lua script that
// checks an event's idempotency key, then numbers, stores and announces the
// event atomically.
#pragma once

#include <string>
#include <string_view>

namespace sluice::engine::detail {

/// Keys and channels of one deployment (prefix and database).
struct RedisKeys {
  std::string base;  ///< "<prefix>:<db>:"

  std::string topics() const { return base + "topics"; }                                 ///< SET of topic names
  std::string meta(std::string_view topic) const { return base + "t:" + std::string(topic); }  ///< HASH epoch, offset
  std::string stream(std::string_view topic) const { return base + "s:" + std::string(topic); }  ///< STREAM, id = offset-0
  std::string channel_prefix() const { return base + "ev:"; }  ///< + topic: where events are announced
  /// STRING, expiring after the idempotency window: the first publish under an idempotencyKey
  std::string idempotency(std::string_view key) const { return base + "i:" + std::string(key); }
};

// KEYS: meta hash, stream, topics set, and with an idempotencyKey its key.
// ARGV: topic, MAXLEN (0: no stream entry), an epoch for a new topic, id,
// time_ms, type, key, data, channel, the age bound in ms (0: none), and with
// an idempotencyKey the content's fingerprint (hex) and the window (ms).
// Entries older than time_ms minus the age bound are deleted from the front of
// the Stream, at most 64 per publish (so a publish costs O(1) amortized; a
// topic's old entries go with its next publishes).
// Returns {offset, epoch}. The offset is the Stream entry's id, so XRANGE
// reads by offset; the PUBLISH carries the event to every node, in the order
// the script ran (which is the offset order of each topic).
// With an idempotencyKey that is already there, nothing is appended: the
// script returns the key's value, the first publish's {i, t, o, e, m, p} as
// JSON (all strings). Check and append are one script, so two nodes
// publishing one key at once append it once.
inline constexpr std::string_view kAppendScript = R"lua(
if KEYS[4] then
  local first = redis.call('GET', KEYS[4])
  if first then return first end
end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[3]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
  redis.call('SADD', KEYS[3], ARGV[1])
end
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
local maxlen = tonumber(ARGV[2])
if maxlen > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', maxlen, offset .. '-0',
             'i', ARGV[4], 't', ARGV[5], 'y', ARGV[6], 'k', ARGV[7], 'd', ARGV[8], 'e', epoch)
  local max_age = tonumber(ARGV[10])
  if max_age > 0 then
    local cutoff = tonumber(ARGV[5]) - max_age
    for _ = 1, 64 do
      local front = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
      if #front == 0 then break end
      local fields, time = front[1][2], nil
      for j = 1, #fields, 2 do
        if fields[j] == 't' then time = tonumber(fields[j + 1]) break end
      end
      if not time or time >= cutoff then break end
      redis.call('XDEL', KEYS[2], front[1][1])
    end
  end
end
redis.call('PUBLISH', ARGV[9], cjson.encode({o = tostring(offset), e = epoch, i = ARGV[4], t = ARGV[5],
                                             y = ARGV[6], k = ARGV[7], d = ARGV[8]}))
if KEYS[4] then
  redis.call('SET', KEYS[4], cjson.encode({i = ARGV[4], t = ARGV[1], o = tostring(offset), e = epoch,
                                           m = ARGV[5], p = ARGV[11]}), 'PX', ARGV[12])
end
return {offset, epoch}
)lua";

}  // namespace sluice::engine::detail
