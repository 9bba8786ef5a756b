-- wrk script: POST /v1/events on one keep-alive connection per wrk connection.
-- Environment:
--   SLUICE_TOPICS   topics to spread over (bench.http.0 .. N-1), default 1
--   SLUICE_PAYLOAD  bytes of padding in data, default 64
--   SLUICE_KEYS     1: a unique idempotencyKey per request (costs a Lua
--                   string per request in wrk, and a key lookup in sluice)
local topics = tonumber(os.getenv("SLUICE_TOPICS") or "1")
local payload = string.rep("x", tonumber(os.getenv("SLUICE_PAYLOAD") or "64"))
local keys = os.getenv("SLUICE_KEYS") == "1"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local bodies = {}
for i = 0, topics - 1 do
  bodies[i] = '{"topic":"bench.http.' .. i .. '","data":{"pad":"' .. payload .. '"}}'
end

-- One topic and no keys: every request is the same, so wrk builds it once
-- (no `request` function: wrk only calls Lua per request when one exists).
-- That keeps wrk's own CPU per request low; it shares the machine with the server.
if topics == 1 and not keys then
  wrk.body = bodies[0]
  return
end

local counter = 0
-- Per wrk thread, so keys never collide across threads (or runs, by the clock).
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local prefix = nil

function request()
  counter = counter + 1
  local topic = counter % topics
  if keys then
    prefix = prefix or (tostring(os.time()) .. "-" .. tostring(tid))
    return wrk.format(nil, nil, nil,
      '{"topic":"bench.http.' .. topic .. '","data":{"pad":"' .. payload ..
      '"},"idempotencyKey":"' .. prefix .. "-" .. counter .. '"}')
  end
  return wrk.format(nil, nil, nil, bodies[topic])
end
