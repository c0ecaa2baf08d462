-- Shared by the load scenarios: a token from the environment, and a summary line at the
-- end that scripts/load parses (requests, errors, latency percentiles in microseconds).
token = os.getenv("KILN_LOAD_TOKEN") or ""
errors = 0

function auth_headers()
  return { ["authorization"] = "Bearer " .. token, ["content-type"] = "application/json" }
end

function count_errors(status)
  if status >= 400 then errors = errors + 1 end
end

function summary(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "LOAD-SUMMARY requests=%d seconds=%.3f http_errors=%d socket_errors=%d p50=%d p99=%d p999=%d\n",
    summary.requests, summary.duration / 1e6, summary.errors.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
