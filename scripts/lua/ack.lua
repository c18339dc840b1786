-- ack.lua: the writer's end of a batch that Postgres committed: acknowledge its entries, drop their pending
-- records, and trim from the stream every entry that no consumer still holds, in one atomic step.
--
-- KEYS
--   1 order stream   2 pending hash
-- ARGV
--   1 consumer group   2 n, the number of entry ids   3 .. 2+n entry ids   then the order ids of their records
-- Returns the number of entries left in the stream.
-- Invariant: the stream keeps every entry that is not yet acknowledged (pending in the group, or not yet
-- delivered), so a writer that dies, or an entry that is claimed, loses nothing. Trimming by the oldest id
-- still held (XTRIM MINID) drops whole blocks of the stream at once, where deleting each entry would cost a
-- command per order.

local n = tonumber(ARGV[2])
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 3, 2 + n))
if #ARGV > 2 + n then
  redis.call('HDEL', KEYS[2], unpack(ARGV, 3 + n, #ARGV))
end

-- Everything before the oldest entry still pending was delivered and acknowledged; with none pending, so was
-- everything up to the group's last delivered id, and what comes after it is not delivered yet.
local keep = redis.call('XPENDING', KEYS[1], ARGV[1])[2]
if not keep then
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    local name, last
    for i = 1, #g, 2 do
      if g[i] == 'name' then
        name = g[i + 1]
      elseif g[i] == 'last-delivered-id' then
        last = g[i + 1]
      end
    end
    if name == ARGV[1] then
      local dash = string.find(last, '-', 1, true)
      keep = string.sub(last, 1, dash) .. tostring(tonumber(string.sub(last, dash + 1)) + 1)
    end
  end
end
if keep then
  redis.call('XTRIM', KEYS[1], 'MINID', keep)
end
return redis.call('XLEN', KEYS[1])
