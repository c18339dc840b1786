-- apply.lua: apply one stock change that started in Postgres (a stock_events row) to a disc, exactly once and
-- in version order.
--
-- KEYS
--   1 disc hash     avail, ver, price, limit, starts, active, known
--   2 bought hash   customer id -> units bought of this disc, kept only while the disc has a per-customer
--                   limit and is on sale: a change that lifts the limit or archives the disc drops it, and
--                   then Redis knows only the buyers it sees again (known = 0; see reserve.lua)
-- ARGV
--   1 version v of the stock event   2 delta (units, may be negative)
--   3 price cents   4 per-customer limit   5 sale start unix ms   6 active (1|0)   (the disc as of v)
--   7 customer id whose units change ("" = none)   8 their delta (a cancel gives units back: negative)
--   9 guard: "1" refuses to take avail below zero (used before commit for negative deltas), "0" applies as is
-- Returns {code, value}
--   1 APPLIED    {1, avail after}
--   2 DUPLICATE  {2, applied version}  v was applied already: nothing changes
--   3 MISSING    {3}                   the disc is not in Redis: load it whole instead
--   4 GAP        {4, applied version}  an earlier version is not applied yet: apply that first
--   5 SHORT      {5, avail}            the guard refused: avail + delta would be below zero
-- Invariant: ver only ever moves from v-1 to v, so every change lands once and in order, however often the
-- relay retries.

local ver = redis.call('HGET', KEYS[1], 'ver')
if not ver then
  return {3}
end
ver = tonumber(ver)
local v = tonumber(ARGV[1])
if v <= ver then
  return {2, ver}
end
if v ~= ver + 1 then
  return {4, ver}
end
local delta = tonumber(ARGV[2])
local avail = tonumber(redis.call('HGET', KEYS[1], 'avail'))
if ARGV[9] == '1' and avail + delta < 0 then
  return {5, avail}
end
local was = redis.call('HMGET', KEYS[1], 'limit', 'known')
avail = redis.call('HINCRBY', KEYS[1], 'avail', delta)
redis.call('HSET', KEYS[1], 'ver', v, 'price', ARGV[3], 'limit', ARGV[4], 'starts', ARGV[5], 'active', ARGV[6])
if tonumber(ARGV[4]) == 0 or ARGV[6] == '0' then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'known', '0')
elseif tonumber(was[1]) == 0 then
  -- A limit is set where none was counted: Postgres has the units bought so far.
  redis.call('HSET', KEYS[1], 'known', '0')
elseif ARGV[7] ~= '' and (was[2] ~= '0' or redis.call('HEXISTS', KEYS[2], ARGV[7]) == 1) then
  -- Where Redis knows only some buyers, an absent one's units are read from Postgres, which has this change.
  if redis.call('HINCRBY', KEYS[2], ARGV[7], ARGV[8]) <= 0 then
    redis.call('HDEL', KEYS[2], ARGV[7])
  end
end
return {1, avail}
