-- Fixed window counter. KEYS[1] hash {index, count}; ARGV[4] limit, ARGV[5] window_s.
local now = hld_now(ARGV[1])
local cost = tonumber(ARGV[2])
local ttl_min = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local window = tonumber(ARGV[5])

local index = math.floor(now / window)
local state = redis.call('HMGET', KEYS[1], 'index', 'count')
local stored = tonumber(state[1])
local count = tonumber(state[2])
if stored == nil or count == nil then
  stored = -INF
  count = 0
end
if index > stored then
  count = 0
else
  index = stored
end
local end_in = (index + 1) * window - now
if count + cost <= limit then
  count = count + cost
  local reset = 0
  if count > 0 then
    reset = end_in
    redis.call('HSET', KEYS[1], 'index', hld_num(index), 'count', count)
    hld_expire(KEYS[1], reset, ttl_min)
  end
  return hld_reply(true, limit, limit - count, 0, reset)
end
local retry = INF
if cost <= limit then retry = end_in end
return hld_reply(false, limit, limit - count, retry, end_in)
