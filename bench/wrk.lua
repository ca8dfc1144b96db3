-- wrk script for bench/history.sh: thread N is worker N, with its own user's token and
-- conversation (lines "method path token" in $BENCH_TARGETS). Prints one JSON summary line.
local targets = {}
for line in io.lines(os.getenv("BENCH_TARGETS")) do
  local method, path, token = line:match("^(%S+) (%S+) (%S+)$")
  targets[#targets + 1] = { method = method, path = path, token = token }
end

local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  local t = targets[(id % #targets) + 1]
  local headers = { ["Authorization"] = "Bearer " .. t.token }
  local body = nil
  if t.method == "POST" then
    headers["Content-Type"] = "application/json"
    body = '{"role":"user","content":"benchmark message"}'
  end
  req = wrk.format(t.method, t.path, headers, body)
end

function request()
  return req
end

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'WRK {"rate": %.1f, "p50_ms": %.3f, "p99_ms": %.3f, "requests": %d, "errors": %d}\n',
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.requests, errors))
end
