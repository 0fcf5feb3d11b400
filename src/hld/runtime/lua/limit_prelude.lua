-- Prepended to every hld rate-limit script (hld/runtime/limit_redis.py).
-- Calling convention: ARGV[1] = now in seconds ("" = use the server's TIME),
-- ARGV[2] = cost, ARGV[3] = the least TTL in seconds a touched key keeps,
-- ARGV[4..] = the algorithm's parameters, as Python repr() of the core's floats so that
-- both sides run the same IEEE arithmetic on the same numbers.
-- Reply: {allowed 0/1, limit, remaining, retry_after_s, reset_after_s}; the two times
-- are strings with 17 significant digits (exact doubles; "inf" when never).
-- Servers before Redis 5 replicate scripts verbatim and refuse writes after TIME unless
-- told to replicate effects; from 5 on this is the default and the call is a no-op.
if redis.replicate_commands then redis.replicate_commands() end

local EPSILON = 1e-9
local INF = math.huge

local function hld_now(arg)
  if arg ~= nil and arg ~= '' then
    return tonumber(arg)
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function hld_num(x)
  return string.format('%.17g', x)
end

-- Keys live until their state equals a fresh one (then forgetting them changes nothing),
-- and never less than ttl_min_s, which absorbs clock skew between callers that pass now.
local function hld_expire(key, reset_after_s, ttl_min_s)
  local ttl_s = reset_after_s
  if ttl_s < ttl_min_s then ttl_s = ttl_min_s end
  redis.call('PEXPIRE', key, math.ceil(ttl_s * 1000) + 1)
end

local function hld_reply(allowed, limit, remaining, retry_s, reset_s)
  local flag = 0
  if allowed then flag = 1 end
  return {flag, limit, remaining, hld_num(retry_s), hld_num(reset_s)}
end

local function hld_left(left)
  if left > 0 then return math.floor(left + EPSILON) end
  return 0
end
