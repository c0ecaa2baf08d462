-- GET /books/{id} over the seeded books: the cached read path.
package.path = package.path .. ";scripts/load.d/?.lua"
require "common"
local books = tonumber(os.getenv("KILN_LOAD_BOOKS") or "200")
request = function()
  return wrk.format("GET", "/books/" .. math.random(1, books))
end
done = summary
