-- deadletter.lua: an order Postgres can never take leaves the pending orders for the partition's dead-letter
-- stream, once. The writer acknowledges its stream entry afterwards, with the entry's other orders.
--
-- KEYS
--   1 dead-letter stream   2 pending hash
-- ARGV
--   1 stream entry id ("ms-seq")   2 the order record   3 the cause   4 the order id ("" when the record cannot be
--   read)
-- Returns 1 when the order went to the dead letters, 0 when it had gone before.
-- Invariant: an order is in the dead letters at most once: a writer that died before acknowledging the entry
-- reads it again and dead-letters it again, and the copy made the first time is found among the dead letters
-- added since the entry was (at most the 1,000 first of them are looked at: a dead letter is rare, and a writer
-- that comes back does so soon).

local ms = string.sub(ARGV[1], 1, (string.find(ARGV[1], '-', 1, true) or (#ARGV[1] + 1)) - 1)
for _, d in ipairs(redis.call('XRANGE', KEYS[1], ms, '+', 'COUNT', 1000)) do
  local entry, record
  for i = 1, #d[2], 2 do
    if d[2][i] == 'entry' then
      entry = d[2][i + 1]
    elseif d[2][i] == 'o' then
      record = d[2][i + 1]
    end
  end
  if entry == ARGV[1] and record == ARGV[2] then
    return 0
  end
end
if ARGV[4] ~= '' then
  redis.call('HDEL', KEYS[2], ARGV[4])
end
redis.call('XADD', KEYS[1], '*', 'entry', ARGV[1], 'o', ARGV[2], 'error', ARGV[3])
return 1
