-- snapshot.lua: read what reconcile needs of some discs of one partition, in one atomic step, so the numbers
-- belong to one instant however fast orders arrive.
--
-- KEYS
--   1 order stream   2 pending hash   3 dead-letter stream
--   4.. pairs of (disc hash, bought hash), one pair per disc
-- ARGV: none
-- Returns {last stream id, pending (flat HGETALL), dead letters (flat list of "o" records), discs}
--   where discs is one {avail or false, ver or false, bought (flat HGETALL), known or false} per disc pair,
--   in KEYS order.
-- Invariant: read-only. The last stream id marks the instant: an order with a later stream id was reserved
-- after the snapshot, so its units are not in the avail read here.

local last = '0-0'
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      last = info[i + 1]
    end
  end
end
local dead = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[3], '-', '+')) do
  local fields = e[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'o' then
      dead[#dead + 1] = fields[i + 1]
    end
  end
end
local discs = {}
for i = 4, #KEYS, 2 do
  local d = redis.call('HMGET', KEYS[i], 'avail', 'ver', 'known')
  discs[#discs + 1] = {d[1], d[2], redis.call('HGETALL', KEYS[i + 1]), d[3]}
end
return {last, redis.call('HGETALL', KEYS[2]), dead, discs}
