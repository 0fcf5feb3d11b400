-- Leaky bucket as a meter. KEYS[1] hash {level, last}; ARGV[4] rate_per_s, ARGV[5] burst.
local now = hld_now(ARGV[1])
local cost = tonumber(ARGV[2])
local ttl_min = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
local burst = tonumber(ARGV[5])

local state = redis.call('HMGET', KEYS[1], 'level', 'last')
local level = tonumber(state[1])
local last = tonumber(state[2])
if level == nil or last == nil then
  level = 0
  last = -INF
end
if now > last then
  level = level - (now - last) * rate
  if level < 0 then level = 0 end
  last = now
end
local allowed = level + cost <= burst + EPSILON
local retry = 0
if allowed then
  level = level + cost
  if level > burst then level = burst end
elseif cost <= burst then
  retry = (level + cost - burst) / rate
else
  retry = INF
end
local reset = level / rate
if reset > 0 then
  redis.call('HSET', KEYS[1], 'level', hld_num(level), 'last', hld_num(last))
  hld_expire(KEYS[1], reset, ttl_min)
end
return hld_reply(allowed, burst, math.floor(burst - level + EPSILON), retry, reset)
