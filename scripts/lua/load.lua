-- load.lua: put a disc that Redis does not have (new, or lost with Redis' data) into Redis, whole.
--
-- KEYS
--   1 disc hash     2 bought hash
-- ARGV
--   1 version   2 avail   3 price cents   4 per-customer limit   5 sale start unix ms   6 active (1|0)
--   7 known: "1" when the pairs are every buyer, "0" when they are some (see reserve.lua)
--   8.. pairs of customer id, units bought
-- Returns {1} loaded, {2} the disc was there already: nothing was written.
-- Invariant: never overwrites live stock. A disc that exists in Redis is only ever changed by reserve.lua
-- and apply.lua, so a late or repeated load cannot resurrect units that were sold.

if redis.call('EXISTS', KEYS[1]) == 1 then
  return {2}
end
redis.call('HSET', KEYS[1], 'ver', ARGV[1], 'avail', ARGV[2], 'price', ARGV[3], 'limit', ARGV[4],
  'starts', ARGV[5], 'active', ARGV[6], 'known', ARGV[7])
redis.call('DEL', KEYS[2])
for i = 8, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
return {1}
