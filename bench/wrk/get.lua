-- wrk script: GET PATH_PREFIX .. one of the ids in the file named by IDS
-- (one per line), chosen at random per request: shop reads through the
-- cache, by bench/wrk/shops.sh.
local ids = {}
for line in io.lines(os.getenv("IDS") or "ids.txt") do
  if line ~= "" then ids[#ids + 1] = line end
end
local prefix = os.getenv("PATH_PREFIX") or "/api/v1/shops/"
local thread_seed = 0

function setup(thread)
  thread_seed = thread_seed + 1
  thread:set("seed", thread_seed)
end

function init(args)
  math.randomseed(os.time() * 1000 + seed)
end

request = function()
  return wrk.format("GET", prefix .. ids[math.random(#ids)])
end

done = function(summary, latency, requests)
  io.write(string.format("non-2xx: %d\n", summary.errors.status or 0))
end
