// The Redis side of the Redis engine: key names and the one Lua script that
// numbers, stores and announces an event atomically.
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
};

// KEYS: meta hash, stream, topics set. ARGV: topic, MAXLEN (0: no stream
// entry), an epoch for a new topic, id, time_ms, type, key, data, channel.
// Returns {offset, epoch}. The offset is the Stream entry's id, so XRANGE
// reads by offset; the PUBLISH carries the event to every node, in the order
// the script ran (which is the offset order of each topic).
inline constexpr std::string_view kAppendScript = R"lua(
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
end
redis.call('PUBLISH', ARGV[9], cjson.encode({o = tostring(offset), e = epoch, i = ARGV[4], t = ARGV[5],
                                             y = ARGV[6], k = ARGV[7], d = ARGV[8]}))
return {offset, epoch}
)lua";

}  // namespace sluice::engine::detail
