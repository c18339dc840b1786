-- reserve.lua: take units of one disc for one customer, atomically, and queue the order for Postgres.
--
-- KEYS (all in one partition, so one slot: they share the hash tag {p})
--   1 disc hash        avail, ver, price, limit, starts (unix ms), active (1|0), known (1|0, absent = 1)
--   2 bought hash      customer id -> units bought of this disc (confirmed, not cancelled); kept only while
--                      the disc has a per-customer limit, the one thing it is for. With known = 1 it holds
--                      every buyer (absent: 0 units); with known = 0 only the buyers seen since the disc was
--                      loaded, and an absent customer's units are in Postgres (disc_buyers)
--   3 idempotency key  "<fingerprint>|<order record>", expires after ARGV[7] seconds (a key of the same slot,
--                      never read or written, when the request has no Idempotency-Key)
--   4 inactive set     ids of deactivated customers
--   5 order stream     one entry per confirmed order, field "o" = the order record
--   6 pending hash     order id -> order record, for orders not yet in Postgres
-- ARGV
--   1 order id (UUIDv7)   2 customer id   3 disc id   4 quantity (> 0)   5 now, unix ms
--   6 idempotency fingerprint ("" = no Idempotency-Key)   7 idempotency TTL, whole seconds >= 1
--   8 backlog bound: most pending orders in this partition (0 = no bound)   9 idempotency key ("" = none)
--   10 "1" when the caller waits for replicas (WAIT after the script): a replay then rewrites the idempotency
--      key's expiry, a write, so that the WAIT on this connection covers the first answer's write too
--   11 the customer's units of this disc in Postgres ("" = not read), for a disc with known = 0
--   12 the disc's stock version that read saw: ARGV[11] counts only if Redis is at that version too
-- Returns {code, ...}
--   1 OK            {1, record, stream id}
--   2 REPLAY        {2, record}          the same request was answered before
--   3 SOLD_OUT      {3, units left}
--   4 LIMIT         {4, units the customer may still buy}
--   5 NOT_STARTED   {5, sale start unix ms}
--   6 INACTIVE      {6}                  the customer is deactivated
--   7 NO_DISC       {7}                  unknown or archived disc
--   8 KEY_REUSED    {8}                  the Idempotency-Key was used for another request
--   9 BACKLOG       {9, pending}         too many orders wait for Postgres; shed load (checked last)
--   10 UNITS        {10, version}        Redis does not know the customer's units: read them from Postgres
--                                        at this stock version and call again with ARGV[11] and ARGV[12]
-- The order record is "id|customer|disc|quantity|unit price cents|reserved ms|idempotency key".
--
-- Invariant: avail never goes below zero and every unit taken is in exactly one stream entry and one pending
-- record, in the same atomic step; a replayed request takes nothing. With a limit, the customer's units count
-- every unit they hold.

if ARGV[6] ~= '' then
  local prev = redis.call('GET', KEYS[3])
  if prev then
    local sep = string.find(prev, '|', 1, true)
    if string.sub(prev, 1, sep - 1) ~= ARGV[6] then
      return {8}
    end
    if ARGV[10] == '1' then
      local ttl = redis.call('PTTL', KEYS[3])
      if ttl > 0 then
        redis.call('PEXPIRE', KEYS[3], ttl)
      end
    end
    return {2, string.sub(prev, sep + 1)}
  end
end

local d = redis.call('HMGET', KEYS[1], 'avail', 'price', 'limit', 'starts', 'active', 'ver', 'known')
if not d[1] or d[5] ~= '1' then
  return {7}
end
if tonumber(ARGV[5]) < tonumber(d[4]) then
  return {5, tonumber(d[4])}
end
if redis.call('SISMEMBER', KEYS[4], ARGV[2]) == 1 then
  return {6}
end

local qty = tonumber(ARGV[4])
local limit = tonumber(d[3])
local bought = 0
if limit > 0 then
  local have = redis.call('HGET', KEYS[2], ARGV[2])
  if have then
    bought = tonumber(have)
  elseif d[7] == '0' then
    if tonumber(d[1]) < qty then
      return {3, math.max(tonumber(d[1]), 0)} -- sold out: no need to ask Postgres for the units
    end
    -- Postgres' count is exact only at the version Redis is at: a cancel committed there and not applied here
    -- yet (or the reverse) would be counted twice or not at all.
    if ARGV[11] == '' or ARGV[12] ~= d[6] then
      return {10, tonumber(d[6])}
    end
    bought = tonumber(ARGV[11])
    redis.call('HSET', KEYS[2], ARGV[2], bought)
  end
  if bought + qty > limit then
    return {4, math.max(limit - bought, 0)}
  end
end
local avail = tonumber(d[1])
if avail < qty then
  return {3, math.max(avail, 0)}
end

-- Shed load last, so a request that would be refused anyway gets its final answer, not a retry hint.
local bound = tonumber(ARGV[8])
if bound > 0 then
  local backlog = redis.call('HLEN', KEYS[6])
  if backlog >= bound then
    return {9, backlog}
  end
end

redis.call('HINCRBY', KEYS[1], 'avail', -qty)
if limit > 0 then
  redis.call('HSET', KEYS[2], ARGV[2], bought + qty)
end
local record = ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[4] .. '|' .. d[2] .. '|' .. ARGV[5] .. '|' .. ARGV[9]
local id = redis.call('XADD', KEYS[5], '*', 'o', record)
redis.call('HSET', KEYS[6], ARGV[1], record)
if ARGV[6] ~= '' then
  redis.call('SET', KEYS[3], ARGV[6] .. '|' .. record, 'EX', tonumber(ARGV[7]))
end
return {1, record, id}
