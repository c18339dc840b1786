-- adjust.lua: correct a disc's Redis counts by the drift reconcile measured (reconcile --fix).
--
-- KEYS
--   1 disc hash   2 bought hash
-- ARGV
--   1 delta to add to avail   2.. pairs of customer id, delta to add to their units
-- Returns {avail after}; {-1} when the disc is not in Redis (load it instead).
-- Invariant: corrections are additive, so reservations that land between the measurement and the repair
-- stay counted; a customer's field is removed when their units reach zero, as apply.lua does.

if redis.call('EXISTS', KEYS[1]) == 0 then
  return {-1}
end
local avail = redis.call('HINCRBY', KEYS[1], 'avail', ARGV[1])
for i = 2, #ARGV, 2 do
  if redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) <= 0 then
    redis.call('HDEL', KEYS[2], ARGV[i])
  end
end
return {avail}
