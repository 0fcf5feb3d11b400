-- Sliding window counter. KEYS[1] hash {index, previous, current};
-- ARGV[4] limit, ARGV[5] window_s.
local now = hld_now(ARGV[1])
local cost = tonumber(ARGV[2])
local ttl_min = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local window = tonumber(ARGV[5])

local index = math.floor(now / window)
local state = redis.call('HMGET', KEYS[1], 'index', 'previous', 'current')
local stored = tonumber(state[1])
local previous = tonumber(state[2])
local current = tonumber(state[3])
if stored == nil or previous == nil or current == nil then
  stored = -INF
  previous = 0
  current = 0
end
if index > stored then
  if index == stored + 1 then previous = current else previous = 0 end
  current = 0
else
  index = stored
end
local elapsed = now - index * window
if elapsed < 0 then elapsed = 0 end
local estimate = previous * (1 - elapsed / window) + current

local function reset_after()
  if current > 0 then return (index + 2) * window - now end
  if previous > 0 then return (index + 1) * window - now end
  return 0
end

local allowed = estimate + cost <= limit + EPSILON
local retry = 0
local left
if allowed then
  current = current + cost
  left = limit - estimate - cost
else
  left = limit - estimate
  if cost > limit then
    retry = INF
  else
    retry = -1
    if current + cost <= limit then
      retry = window * (1 - (limit - current - cost) / previous) - elapsed
    end
    if retry < 0 or elapsed + retry >= window then
      local wait_next = 0
      if current + cost > limit then
        wait_next = window * (1 - (limit - cost) / current)
      end
      retry = window - elapsed + wait_next
    end
  end
end
local reset = reset_after()
if reset > 0 then
  redis.call('HSET', KEYS[1], 'index', hld_num(index), 'previous', previous,
             'current', current)
  hld_expire(KEYS[1], reset, ttl_min)
end
return hld_reply(allowed, limit, hld_left(left), retry, reset)
