-- POST /auth/login with the right password: bcrypt-bound by design.
package.path = package.path .. ";scripts/load.d/?.lua"
require "common"
local body = '{"email":"load@example.com","password":"correct horse"}'
request = function()
  return wrk.format("POST", "/auth/login", { ["content-type"] = "application/json" }, body)
end
done = summary
