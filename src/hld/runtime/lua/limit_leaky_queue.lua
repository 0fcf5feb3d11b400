-- Leaky bucket as a queue. KEYS[1] string: the time the queue empties;
-- ARGV[4] rate_per_s, ARGV[5] capacity.
local now = hld_now(ARGV[1])
local cost = tonumber(ARGV[2])
local ttl_min = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
local capacity = tonumber(ARGV[5])

local free_at = tonumber(redis.call('GET', KEYS[1]))
if free_at == nil then free_at = -INF end
if free_at < now then free_at = now end
local backlog = (free_at - now) * rate
local allowed = backlog + cost <= capacity + EPSILON
local retry = 0
local left
if allowed then
  free_at = free_at + cost / rate
  left = capacity - backlog - cost
else
  left = capacity - backlog
  if cost <= capacity then retry = (backlog + cost - capacity) / rate else retry = INF end
end
local reset = free_at - now
if reset > 0 then
  redis.call('SET', KEYS[1], hld_num(free_at))
  hld_expire(KEYS[1], reset, ttl_min)
end
return hld_reply(allowed, capacity, hld_left(left), retry, reset)
