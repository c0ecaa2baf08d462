-- The soak's mix: nine cached book reads for every job enqueued. Counts the enqueues the
-- service accepted (201), so the soak can check every one of them ran.
package.path = package.path .. ";scripts/load.d/?.lua"
require "common"
local books = tonumber(os.getenv("KILN_LOAD_BOOKS") or "200")
local threads = {}
local n = 0
enqueued = 0

setup = function(thread)
  table.insert(threads, thread)
end

request = function()
  n = n + 1
  if n % 10 == 0 then
    return wrk.format("POST", "/jobs", auth_headers(), '{"kind":"demo","payload":{}}')
  end
  return wrk.format("GET", "/books/" .. math.random(1, books))
end

response = function(status, headers, body)
  if status == 201 then enqueued = enqueued + 1 end
end

done = function(s, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("enqueued") end
  summary(s, latency, requests)
  io.write(string.format("LOAD-ENQUEUED %d\n", total))
end
