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

// The front of a topic's Stream goes while the topic is over one of its
// bounds: more than `maxlen` entries, more than `max_bytes` (the sizes of the
// stored fields, counted in the meta hash's `bytes`), or entries older than
// `cutoff` (a time in ms; 0: none). At most 64 entries per call, so a call
// costs O(1) amortized; a topic far over its bounds converges over calls.
inline constexpr std::string_view kTrimFunction = R"lua(
local function entry_size(fields)
  local size = 0
  for j = 2, #fields, 2 do size = size + #fields[j] end
  return size
end
local function trim(meta, stream, maxlen, max_bytes, cutoff)
  local len = redis.call('XLEN', stream)
  local bytes = tonumber(redis.call('HGET', meta, 'bytes') or '0')
  local removed = 0
  for _ = 1, 64 do
    if len == 0 then break end
    local front = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
    if #front == 0 then break end
    local fields, time = front[1][2], nil
    for j = 1, #fields, 2 do
      if fields[j] == 't' then time = tonumber(fields[j + 1]) break end
    end
    local over = (maxlen > 0 and len > maxlen) or (max_bytes > 0 and bytes > max_bytes) or
                 (cutoff > 0 and time ~= nil and time < cutoff)
    if not over then break end
    redis.call('XDEL', stream, front[1][1])
    len = len - 1
    bytes = math.max(bytes - entry_size(fields), 0)
    removed = removed + 1
  end
  if removed > 0 then redis.call('HSET', meta, 'bytes', bytes) end
end
)lua";

// KEYS: meta hash, stream, topics set, and with an idempotencyKey its key.
// ARGV: topic, the count bound (0: no stream entry), an epoch for a new
// topic, id, time_ms, type, key, data, channel, the age bound in ms (0:
// none), the byte bound (0: none), and with an idempotencyKey the content's
// fingerprint (hex) and the window (ms).
// The Stream is then trimmed to its bounds (see the trim function).
// Returns {offset, epoch}. The offset is the Stream entry's id, so XRANGE
// reads by offset; the PUBLISH carries the event to every node, in the order
// the script ran (which is the offset order of each topic).
// With an idempotencyKey that is already there, nothing is appended: the
// script returns the key's value, the first publish's {i, t, o, e, m, p} as
// JSON (all strings). Check and append are one script, so two nodes
// publishing one key at once append it once.
inline const std::string kAppendScript = std::string(kTrimFunction) + R"lua(
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
  local fields = {'i', ARGV[4], 't', ARGV[5], 'y', ARGV[6], 'k', ARGV[7], 'd', ARGV[8], 'e', epoch}
  redis.call('XADD', KEYS[2], offset .. '-0', unpack(fields))
  redis.call('HINCRBY', KEYS[1], 'bytes', entry_size(fields))
  local max_age = tonumber(ARGV[10])
  trim(KEYS[1], KEYS[2], maxlen, tonumber(ARGV[11]), max_age > 0 and tonumber(ARGV[5]) - max_age or 0)
end
redis.call('PUBLISH', ARGV[9], cjson.encode({o = tostring(offset), e = epoch, i = ARGV[4], t = ARGV[5],
                                             y = ARGV[6], k = ARGV[7], d = ARGV[8]}))
if KEYS[4] then
  redis.call('SET', KEYS[4], cjson.encode({i = ARGV[4], t = ARGV[1], o = tostring(offset), e = epoch,
                                           m = ARGV[5], p = ARGV[12]}), 'PX', ARGV[13])
end
return {offset, epoch}
)lua";

// KEYS: meta hash, stream. ARGV: the count bound, the byte bound, the age
// cutoff (ms; 0: none). Trims a topic nobody publishes to (run periodically).
inline const std::string kTrimScript = std::string(kTrimFunction) + R"lua(
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
trim(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
return 1
)lua";

}  // namespace sluice::engine::detail
