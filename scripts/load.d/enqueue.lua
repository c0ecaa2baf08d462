-- POST /jobs {"kind":"demo"}: a job per request, run by the service's workers.
package.path = package.path .. ";scripts/load.d/?.lua"
require "common"
request = function()
  return wrk.format("POST", "/jobs", auth_headers(), '{"kind":"demo","payload":{}}')
end
done = summary
