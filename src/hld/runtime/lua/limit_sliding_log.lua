-- Sliding window log. KEYS[1] sorted set (score = admission time, one member per unit),
-- KEYS[2] a sequence that keeps members unique; ARGV[4] limit, ARGV[5] window_s.
local now = hld_now(ARGV[1])
local cost = tonumber(ARGV[2])
local ttl_min = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local window = tonumber(ARGV[5])

local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #newest > 0 then
  local newest_t = tonumber(newest[2])
  if now < newest_t then now = newest_t end  -- the clock stepped back: stay sorted
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', hld_num(now - window))
end
local held = redis.call('ZCARD', KEYS[1])

local function reset_after()
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if #last == 0 then return 0 end
  return tonumber(last[2]) + window - now
end

if held + cost <= limit then
  if cost > 0 then
    local seq = redis.call('INCRBY', KEYS[2], cost)
    local stamp = hld_num(now)
    for i = 1, cost do
      redis.call('ZADD', KEYS[1], stamp, seq - cost + i)
    end
  end
  held = held + cost
  local reset = reset_after()
  if reset > 0 then
    hld_expire(KEYS[1], reset, ttl_min)
    hld_expire(KEYS[2], reset, ttl_min)
  end
  return hld_reply(true, limit, limit - held, 0, reset)
end
local retry = INF
if cost <= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], held + cost - limit - 1,
                            held + cost - limit - 1, 'WITHSCORES')
  retry = tonumber(oldest[2]) + window - now
end
return hld_reply(false, limit, limit - held, retry, reset_after())
