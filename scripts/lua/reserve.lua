-- reserve.lua: take units of discs for customers, atomically, and queue the orders for Postgres: a batch of
-- reservations of one partition, each answered as if it had run alone, one after another.
--
-- KEYS (all in one partition, so one slot: they share the hash tag {p})
--   1 inactive set      ids of deactivated customers
--   2 order stream      one entry per batch that confirmed orders, field "o" = their records, one per line
--   3 pending hash      order id -> order record, for orders not yet in Postgres
--   4 batch answer      the answers of this batch, kept ARGV[4] seconds once it took units: a client that
--                       repeats the command because its answer was lost gets them again, and nothing is taken
--                       twice
--   then per order j (from 0), at 5 + 3j:
--   disc hash           avail, ver, price, limit, starts (unix ms), active (1|0), known (1|0, absent = 1)
--   bought hash         customer id -> units bought of this disc (confirmed, not cancelled); kept only while
--                       the disc has a per-customer limit, the one thing it is for. With known = 1 it holds
--                       every buyer (absent: 0 units); with known = 0 only the buyers seen since the disc was
--                       loaded, and an absent customer's units are in Postgres (disc_buyers)
--   idempotency key     "<fingerprint>|<order record>", expires after the order's TTL (any key of the slot,
--                       never read or written, when the request has no Idempotency-Key)
-- ARGV
--   1 orders in the batch   2 backlog bound: most pending orders in this partition (0 = no bound)
--   3 "1" when the caller waits for replicas (WAIT after the script): a replay then rewrites the idempotency
--     key's expiry, a write, so that the WAIT on this connection covers the first answer's write too
--   4 seconds the batch answer is kept
--   then per order j, at 5 + 10j:
--   order id (UUIDv7), customer id, disc id, quantity (> 0), now (unix ms), idempotency fingerprint ("" = no
--   Idempotency-Key), idempotency TTL (whole seconds >= 1), idempotency key ("" = none), the customer's units
--   of the disc in Postgres ("" = not read; for a disc with known = 0), the disc's stock version that read saw
-- Returns one answer per order, in order, then the id of the batch's stream entry ("" when it took nothing):
-- {answer 1, ..., answer n, stream id}, each answer {code, ...}
--   1 OK            {1, unit price cents}    the caller knows the rest of the order: it sent it
--   2 REPLAY        {2, record}          the same request was answered before
--   3 SOLD_OUT      {3, units left}
--   4 LIMIT         {4, units the customer may still buy}
--   5 NOT_STARTED   {5, sale start unix ms}
--   6 INACTIVE      {6}                  the customer is deactivated
--   7 NO_DISC       {7}                  unknown or archived disc
--   8 KEY_REUSED    {8}                  the Idempotency-Key was used for another request
--   9 BACKLOG       {9, pending}         too many orders wait for Postgres; shed load (checked last)
--   10 UNITS        {10, version}        Redis does not know the customer's units: read them from Postgres
--                                        at this stock version and call again with them
-- The order record is "id|customer|disc|quantity|unit price cents|reserved ms|idempotency key".
--
-- Invariant: avail never goes below zero and every unit taken is in exactly one stream entry and one pending
-- record, in the same atomic step; a replayed request, or a repeated batch, takes nothing. With a limit, the
-- customer's units count every unit they hold. The batch reads each key once and writes it once, after its last
-- order: what an order changed is what the next order of the batch sees, as if each had run alone.

local n = tonumber(ARGV[1])
local kept = redis.call('GET', KEYS[4])
if kept then
  return cjson.decode(kept)
end

-- A batch reads each disc's hash once and writes what it changed once, after its last order: orders of one
-- launch mostly share their disc, and a command per order per key is what a batch is there to save.
local discs = {}     -- disc key -> its fields, as numbers, with avail counted down as the batch takes units
local discOrder = {} -- disc keys in the order first seen, for writing them back
local bought = {}    -- bought key -> customer id -> units, as read or written in this batch
local boughtSet = {} -- bought key -> flat {customer, units, ...} of what to write back
local boughtOrder = {}
local records = {}   -- the records the batch confirmed, for its stream entry
local pending = {}   -- flat {order id, record, ...} for the pending hash
local inactive = {}  -- customer id -> true for the batch's deactivated customers
local backlog = nil  -- read once, counted up as the batch takes orders

local function disc(key)
  local d = discs[key]
  if d == nil then
    local f = redis.call('HMGET', key, 'avail', 'price', 'limit', 'starts', 'active', 'ver', 'known')
    if not f[1] or f[5] ~= '1' then
      d = false
    else
      d = {avail = tonumber(f[1]), price = f[2], limit = tonumber(f[3]), starts = tonumber(f[4]), ver = f[6],
        known = f[7] ~= '0', took = 0}
    end
    discs[key] = d
    discOrder[#discOrder + 1] = key
  end
  return d
end

local function units(key, customer)
  local b = bought[key]
  if b == nil then
    b = {}
    bought[key] = b
  end
  local u = b[customer]
  if u == nil then
    u = redis.call('HGET', key, customer)
    if u then
      u = tonumber(u)
    else
      u = false
    end
    b[customer] = u
  end
  return u
end

local function setUnits(key, customer, u)
  bought[key][customer] = u
  local w = boughtSet[key]
  if w == nil then
    w = {}
    boughtSet[key] = w
    boughtOrder[#boughtOrder + 1] = key
  end
  w[#w + 1] = customer
  w[#w + 1] = u
end

-- reserve answers the order whose keys start at KEYS[k] and whose arguments start at ARGV[a].
local function reserve(k, a)
  if ARGV[a + 5] ~= '' then
    local prev = redis.call('GET', KEYS[k + 2])
    if prev then
      local sep = string.find(prev, '|', 1, true)
      if string.sub(prev, 1, sep - 1) ~= ARGV[a + 5] then
        return {8}
      end
      if ARGV[3] == '1' then
        local ttl = redis.call('PTTL', KEYS[k + 2])
        if ttl > 0 then
          redis.call('PEXPIRE', KEYS[k + 2], ttl)
        end
      end
      return {2, string.sub(prev, sep + 1)}
    end
  end

  local d = disc(KEYS[k])
  if not d then
    return {7}
  end
  if tonumber(ARGV[a + 4]) < d.starts then
    return {5, d.starts}
  end
  if inactive[ARGV[a + 1]] then
    return {6}
  end

  local qty = tonumber(ARGV[a + 3])
  local have = 0
  if d.limit > 0 then
    have = units(KEYS[k + 1], ARGV[a + 1])
    if not have then
      have = 0
      if not d.known then
        if d.avail < qty then
          return {3, math.max(d.avail, 0)} -- sold out: no need to ask Postgres for the units
        end
        -- Postgres' count is exact only at the version Redis is at: a cancel committed there and not applied
        -- here yet (or the reverse) would be counted twice or not at all.
        if ARGV[a + 8] == '' or ARGV[a + 9] ~= d.ver then
          return {10, tonumber(d.ver)}
        end
        have = tonumber(ARGV[a + 8])
        setUnits(KEYS[k + 1], ARGV[a + 1], have)
      end
    end
    if have + qty > d.limit then
      return {4, math.max(d.limit - have, 0)}
    end
  end
  if d.avail < qty then
    return {3, math.max(d.avail, 0)}
  end

  -- Shed load last, so a request that would be refused anyway gets its final answer, not a retry hint.
  local bound = tonumber(ARGV[2])
  if bound > 0 then
    backlog = backlog or redis.call('HLEN', KEYS[3])
    if backlog >= bound then
      return {9, backlog}
    end
  end

  d.avail, d.took = d.avail - qty, d.took + qty
  if d.limit > 0 then
    setUnits(KEYS[k + 1], ARGV[a + 1], have + qty)
  end
  local record = ARGV[a] .. '|' .. ARGV[a + 1] .. '|' .. ARGV[a + 2] .. '|' .. ARGV[a + 3] .. '|' .. d.price .. '|' .. ARGV[a + 4] .. '|' .. ARGV[a + 7]
  records[#records + 1] = record
  pending[#pending + 1] = ARGV[a]
  pending[#pending + 1] = record
  if backlog then
    backlog = backlog + 1
  end
  if ARGV[a + 5] ~= '' then
    redis.call('SET', KEYS[k + 2], ARGV[a + 5] .. '|' .. record, 'EX', tonumber(ARGV[a + 6]))
  end
  return {1, tonumber(d.price)}
end

-- The set of deactivated customers does not change during the script: one look for the whole batch, none
-- while it is empty (the usual case).
if redis.call('SCARD', KEYS[1]) > 0 then
  local who = {}
  for j = 0, n - 1 do
    who[#who + 1] = ARGV[6 + 10 * j]
  end
  for i, member in ipairs(redis.call('SMISMEMBER', KEYS[1], unpack(who))) do
    if member == 1 then
      inactive[who[i]] = true
    end
  end
end

local answers = {}
for j = 0, n - 1 do
  answers[#answers + 1] = reserve(5 + 3 * j, 5 + 10 * j)
end

for _, key in ipairs(boughtOrder) do
  redis.call('HSET', key, unpack(boughtSet[key]))
end
if #records == 0 then
  answers[n + 1] = ''
  return answers
end
for _, key in ipairs(discOrder) do
  local d = discs[key]
  if d and d.took > 0 then
    redis.call('HINCRBY', key, 'avail', -d.took)
  end
end
-- One stream entry holds the batch's orders, one record per line: the writer reads, flushes and acknowledges
-- them together, and they reach a replica or the AOF together.
local id = redis.call('XADD', KEYS[2], '*', 'o', table.concat(records, '\n'))
redis.call('HSET', KEYS[3], unpack(pending))
answers[n + 1] = id
redis.call('SET', KEYS[4], cjson.encode(answers), 'EX', tonumber(ARGV[4]))
return answers
