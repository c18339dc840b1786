-- reserve.lua: take units of discs for customers, atomically, and queue the orders for Postgres: a batch of
-- reservations of one partition, each answered as if it had run alone, one after another.
--
-- What a batch shares is passed once: its time, each disc's keys and id. An order is five arguments, and the
-- rare ones that carry an Idempotency-Key or their units from Postgres point to a group of six more.
--
-- KEYS (all in one partition, so one slot: they share the hash tag {p})
--   1 inactive set      ids of deactivated customers
--   2 order stream      one entry per batch that confirmed orders, field "o" = their records, one per line
--   3 pending hash      order id -> order record, for orders not yet in Postgres
--   4 batch answer      the answers of this batch, kept ARGV[4] seconds once it took units: a client that
--                       repeats the command because its answer was lost gets them again, and nothing is taken
--                       twice
--   then per disc d of the batch (from 1), at 3 + 2d and 4 + 2d:
--   disc hash           avail, ver, price, limit, starts (unix ms), active (1|0), known (1|0, absent = 1)
--   bought hash         customer id -> units bought of this disc (confirmed, not cancelled); kept only while
--                       the disc has a per-customer limit, the one thing it is for. With known = 1 it holds
--                       every buyer (absent: 0 units); with known = 0 only the buyers seen since the disc was
--                       loaded, and an absent customer's units are in Postgres (disc_buyers)
--   then the idempotency keys the option groups name: "<fingerprint>|<order record>", expiring after the
--   order's TTL
-- ARGV
--   1 orders in the batch n   2 backlog bound: most pending orders in this partition (0 = no bound)
--   3 "1" when the caller waits for replicas (WAIT after the script): a replay then rewrites the idempotency
--     key's expiry, a write, so that the WAIT on this connection covers the first answer's write too
--   4 seconds the batch answer is kept   5 now (unix ms): the reservation time of every order of the batch
--   6 discs in the batch D, then per disc d at 6 + d: its id
--   then per order j (from 0), at 7 + D + 5j:
--     order id (UUIDv7), customer id, quantity (> 0), disc d (1..D), option group g ("" = none)
--   then option group g (from 1), at 7 + D + 5n + 6(g - 1):
--     index in KEYS of the idempotency key ("0" = no Idempotency-Key), idempotency fingerprint, TTL (whole
--     seconds >= 1), idempotency key, the customer's units of the disc in Postgres ("" = not read; for a disc
--     with known = 0), the disc's stock version that read saw
-- Returns one string of lines, two per order, in order, then the id of the batch's stream entry ("" when it
-- took nothing): "code 1\nvalue 1\n...\ncode n\nvalue n\nstream id", numbers in decimal (one string is the
-- cheapest reply to build, and the same string is the batch answer kept in KEYS[4])
--   1 OK            unit price cents     the caller knows the rest of the order: it sent it
--   2 REPLAY        record               the same request was answered before
--   3 SOLD_OUT      units left
--   4 LIMIT         units the customer may still buy
--   5 NOT_STARTED   sale start unix ms
--   6 INACTIVE      0                    the customer is deactivated
--   7 NO_DISC       0                    unknown or archived disc
--   8 KEY_REUSED    0                    the Idempotency-Key was used for another request
--   9 BACKLOG       pending              too many orders wait for Postgres; shed load (checked last)
--   10 UNITS        version              Redis does not know the customer's units: read them from Postgres
--                                        at this stock version and call again with them
-- The order record is "id|customer|disc|quantity|unit price cents|reserved ms|idempotency key".
--
-- Invariant: avail never goes below zero and every unit taken is in exactly one stream entry and one pending
-- record, in the same atomic step; a replayed request, or a repeated batch, takes nothing. With a limit, the
-- customer's units count every unit they hold. The batch reads each key once and writes it once, after its last
-- order: what an order changed is what the next order of the batch sees, as if each had run alone.

local call, tonumber, concat = redis.call, tonumber, table.concat
local function decimal(x) -- a count as the answer's string, exactly (tostring would round past 14 digits)
  return string.format('%d', x)
end
local n, bound, touch, now = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1', ARGV[5]
local nowMs = tonumber(now)

-- A repeated batch answers what the first call answered.
local kept = call('GET', KEYS[4])
if kept then
  return kept
end

local D = tonumber(ARGV[6])
local orders = 7 + D          -- ARGV index of the first order
local groups = orders + 5 * n -- ARGV index of the first option group

-- Each disc's hash is read once and written once, after the batch's last order: orders of one launch mostly
-- share their disc, and a command per order per key is what a batch is there to save.
local discs = {}
for d = 1, D do
  local f = call('HMGET', KEYS[3 + 2 * d], 'avail', 'price', 'limit', 'starts', 'active', 'ver', 'known')
  if f[1] and f[5] == '1' then
    discs[d] = {avail = tonumber(f[1]), price = f[2], limit = tonumber(f[3]), starts = tonumber(f[4]), ver = f[6],
      known = f[7] ~= '0', took = 0, id = ARGV[6 + d], index = d}
  else
    discs[d] = false
  end
end

-- The set of deactivated customers does not change during the script: one look for the whole batch, none
-- while it is empty (the usual case).
local inactive = {}
if call('SCARD', KEYS[1]) > 0 then
  local who = {}
  for j = 0, n - 1 do
    who[j + 1] = ARGV[orders + 5 * j + 1]
  end
  for i, member in ipairs(call('SMISMEMBER', KEYS[1], unpack(who))) do
    if member == 1 then
      inactive[who[i]] = true
    end
  end
end

local answers = {}   -- {code, value, ...}
local records = {}   -- the records the batch confirmed, for its stream entry
local pending = {}   -- flat {order id, record, ...} for the pending hash
local backlog = nil  -- read once, counted up as the batch takes orders

-- units returns the units customer holds of disc d as Redis knows them (false when it does not).
local function units(d, customer)
  local b = d.bought
  if b == nil then
    b = {}
    d.bought = b
  end
  local u = b[customer]
  if u == nil then
    u = call('HGET', KEYS[4 + 2 * d.index], customer)
    u = u and tonumber(u) or false
    b[customer] = u
  end
  return u
end

local function setUnits(d, customer, u)
  d.bought[customer] = u
  local w = d.write
  if w == nil then
    w = {}
    d.write = w
  end
  w[#w + 1] = customer
  w[#w + 1] = u
end

-- reserve answers the order whose arguments start at ARGV[a]: its code and value.
local function reserve(a)
  local id, customer, qty, d, g = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2]), discs[tonumber(ARGV[a + 3])], ARGV[a + 4]
  local idemKey, fingerprint, ttl, key, pgUnits, pgVer = nil, '', nil, '', '', ''
  if g ~= '' then
    local o = groups + 6 * (tonumber(g) - 1)
    local k = tonumber(ARGV[o])
    if k > 0 then
      idemKey, fingerprint, ttl, key = KEYS[k], ARGV[o + 1], ARGV[o + 2], ARGV[o + 3]
    end
    pgUnits, pgVer = ARGV[o + 4], ARGV[o + 5]
  end

  if idemKey then
    local prev = call('GET', idemKey)
    if prev then
      local sep = string.find(prev, '|', 1, true)
      if string.sub(prev, 1, sep - 1) ~= fingerprint then
        return '8', '0'
      end
      if touch then
        local left = call('PTTL', idemKey)
        if left > 0 then
          call('PEXPIRE', idemKey, left)
        end
      end
      return '2', string.sub(prev, sep + 1)
    end
  end

  if not d then
    return '7', '0'
  end
  if nowMs < d.starts then
    return '5', decimal(d.starts)
  end
  if inactive[customer] then
    return '6', '0'
  end

  local have = 0
  if d.limit > 0 then
    have = units(d, customer)
    if not have then
      have = 0
      if not d.known then
        if d.avail < qty then
          return '3', decimal(math.max(d.avail, 0)) -- sold out: no need to ask Postgres for the units
        end
        -- Postgres' count is exact only at the version Redis is at: a cancel committed there and not applied
        -- here yet (or the reverse) would be counted twice or not at all.
        if pgUnits == '' or pgVer ~= d.ver then
          return '10', d.ver
        end
        have = tonumber(pgUnits)
        setUnits(d, customer, have)
      end
    end
    if have + qty > d.limit then
      return '4', decimal(math.max(d.limit - have, 0))
    end
  end
  if d.avail < qty then
    return '3', decimal(math.max(d.avail, 0))
  end

  -- Shed load last, so a request that would be refused anyway gets its final answer, not a retry hint.
  if bound > 0 then
    backlog = backlog or call('HLEN', KEYS[3])
    if backlog >= bound then
      return '9', decimal(backlog)
    end
  end

  d.avail, d.took = d.avail - qty, d.took + qty
  if d.limit > 0 then
    setUnits(d, customer, have + qty)
  end
  local record = id .. '|' .. customer .. '|' .. d.id .. '|' .. ARGV[a + 2] .. '|' .. d.price .. '|' .. now .. '|' .. key
  records[#records + 1] = record
  pending[#pending + 1] = id
  pending[#pending + 1] = record
  if backlog then
    backlog = backlog + 1
  end
  if idemKey then
    call('SET', idemKey, fingerprint .. '|' .. record, 'EX', ttl)
  end
  return '1', d.price
end

for j = 0, n - 1 do
  local code, value = reserve(orders + 5 * j)
  answers[2 * j + 1], answers[2 * j + 2] = code, value
end

for d = 1, D do
  local disc = discs[d]
  if disc and disc.write then
    call('HSET', KEYS[4 + 2 * d], unpack(disc.write))
  end
end
if #records == 0 then
  answers[2 * n + 1] = ''
  return concat(answers, '\n')
end
for d = 1, D do
  local disc = discs[d]
  if disc and disc.took > 0 then
    call('HINCRBY', KEYS[3 + 2 * d], 'avail', -disc.took)
  end
end
-- One stream entry holds the batch's orders, one record per line: the writer reads, flushes and acknowledges
-- them together, and they reach a replica or the AOF together.
answers[2 * n + 1] = call('XADD', KEYS[2], '*', 'o', concat(records, '\n'))
call('HSET', KEYS[3], unpack(pending))
local all = concat(answers, '\n')
call('SET', KEYS[4], all, 'EX', ARGV[4])
return all
