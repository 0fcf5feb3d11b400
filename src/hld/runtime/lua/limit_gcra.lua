-- GCRA. KEYS[1] string: the theoretical arrival time;
-- ARGV[4] rate_per_s, ARGV[5] burst, ARGV[6] emission_s, ARGV[7] tau_s.
local now = hld_now(ARGV[1])
local cost = tonumber(ARGV[2])
local ttl_min = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
local burst = tonumber(ARGV[5])
local emission = tonumber(ARGV[6])
local tau = tonumber(ARGV[7])

local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil then tat = -INF end
if tat < now then tat = now end
local new_tat = tat + cost * emission
local allow_at = new_tat - tau
local allowed = now + EPSILON >= allow_at
local retry = 0
local ttl
if allowed then
  ttl = new_tat - now
  if ttl > 0 then
    redis.call('SET', KEYS[1], hld_num(new_tat))
    hld_expire(KEYS[1], ttl, ttl_min)
  end
else
  ttl = tat - now
  if cost <= burst then retry = allow_at - now else retry = INF end
end
return hld_reply(allowed, burst, hld_left(burst - ttl * rate), retry, ttl)
