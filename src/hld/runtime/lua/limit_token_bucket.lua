-- Token bucket. KEYS[1] hash {tokens, last}; ARGV[4] rate_per_s, ARGV[5] burst.
local now = hld_now(ARGV[1])
local cost = tonumber(ARGV[2])
local ttl_min = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
local burst = tonumber(ARGV[5])

local state = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = tonumber(state[1])
local last = tonumber(state[2])
if tokens == nil or last == nil then
  tokens = burst
  last = -INF
end
if now > last then
  tokens = tokens + (now - last) * rate
  if tokens > burst then tokens = burst end
  last = now
end
local allowed = tokens + EPSILON >= cost
local retry = 0
if allowed then
  tokens = tokens - cost
  if tokens < 0 then tokens = 0 end
elseif cost <= burst then
  retry = (cost - tokens) / rate
else
  retry = INF
end
local reset = (burst - tokens) / rate
if reset > 0 then
  redis.call('HSET', KEYS[1], 'tokens', hld_num(tokens), 'last', hld_num(last))
  hld_expire(KEYS[1], reset, ttl_min)
end
return hld_reply(allowed, burst, math.floor(tokens + EPSILON), retry, reset)
