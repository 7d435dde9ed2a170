-- wrk script: PUT likes from many users on many targets, as real traffic
-- does. Tokens come from the file named by TOKENS (one per line), made by
-- bench/wrk/run.sh.
local tokens = {}
for line in io.lines(os.getenv("TOKENS") or "tokens.txt") do
  if line ~= "" then tokens[#tokens + 1] = line end
end
local targets = tonumber(os.getenv("TARGETS") or "100000")
local thread_seed = 0

function setup(thread)
  thread_seed = thread_seed + 1
  thread:set("seed", thread_seed)
end

function init(args)
  math.randomseed(os.time() * 1000 + seed)
end

request = function()
  local tok = tokens[math.random(#tokens)]
  local path = "/api/v1/likes/comment/" .. math.random(targets)
  return wrk.format("PUT", path, { ["Authorization"] = "Bearer " .. tok }, nil)
end

done = function(summary, latency, requests)
  local non2xx = (summary.errors.status or 0)
  io.write(string.format("non-2xx: %d\n", non2xx))
end
