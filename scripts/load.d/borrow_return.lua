-- Borrow a copy, then return it: each connection alternates, remembering the loan it made
-- (one connection per thread, so the answers come back to the connection that asked).
package.path = package.path .. ";scripts/load.d/?.lua"
require "common"
local books = tonumber(os.getenv("KILN_LOAD_BOOKS") or "200")
local loan = nil
request = function()
  if loan then
    local path = "/loans/" .. loan .. "/return"
    loan = nil
    return wrk.format("POST", path, auth_headers(), "")
  end
  return wrk.format("POST", "/books/" .. math.random(1, books) .. "/loans", auth_headers(), "")
end
response = function(status, headers, body)
  if status == 201 then loan = string.match(body, '"id":(%d+)') end
end
done = summary
