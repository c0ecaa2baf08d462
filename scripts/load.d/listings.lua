-- GET /books with a page size of 20 at a random offset: the listing path.
package.path = package.path .. ";scripts/load.d/?.lua"
require "common"
local books = tonumber(os.getenv("KILN_LOAD_BOOKS") or "200")
request = function()
  return wrk.format("GET", "/books?limit=20&offset=" .. math.random(0, books - 20))
end
done = summary
