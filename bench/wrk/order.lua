-- wrk script: order attempts on one voucher (VOUCHER) from many users
-- (tokens in the file named by TOKENS), as a flash sale's crowd clicks.
-- Counts answers by status; any 5xx is a failure of the sale.
local tokens = {}
for line in io.lines(os.getenv("TOKENS") or "tokens.txt") do
  if line ~= "" then tokens[#tokens + 1] = line end
end
local path = "/api/v1/vouchers/" .. os.getenv("VOUCHER") .. "/orders"
local threads = {}
local thread_seed = 0

function setup(thread)
  thread_seed = thread_seed + 1
  thread:set("seed", thread_seed)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + seed)
  statuses = {}
end

request = function()
  local tok = tokens[math.random(#tokens)]
  return wrk.format("POST", path, { ["Authorization"] = "Bearer " .. tok }, nil)
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for s, n in pairs(t:get("statuses")) do total[s] = (total[s] or 0) + n end
  end
  local keys = {}
  for s in pairs(total) do keys[#keys + 1] = s end
  table.sort(keys)
  for _, s in ipairs(keys) do io.write(string.format("status %d: %d\n", s, total[s])) end
end
