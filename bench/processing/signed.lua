-- wrk script: POSTs pre-signed GitHub deliveries round-robin with a fresh X-GitHub-Delivery
-- per request. MANIFEST names a file of "path signature" lines (payloads.py writes it);
-- ID_PREFIX keeps the ids of separate runs apart.
local counter = 0
local thread_id = 0
local threads = {}
local bodies = {}
local sigs = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*all")
  f:close()
  return s
end

function init(args)
  for line in io.lines(os.getenv("MANIFEST")) do
    local path, sig = string.match(line, "^(%S+)%s+(%S+)$")
    table.insert(bodies, read(path))
    table.insert(sigs, sig)
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-GitHub-Event"] = "pull_request"
  thread_id = id
  -- Threads start at different payloads so that concurrent requests name different PRs.
  counter = id * 7919
end

function request()
  counter = counter + 1
  local i = (counter % #bodies) + 1
  wrk.headers["X-GitHub-Delivery"] = string.format("%s%d-%d", os.getenv("ID_PREFIX") or "b", thread_id, counter)
  wrk.headers["X-Hub-Signature-256"] = sigs[i]
  return wrk.format(nil, nil, nil, bodies[i])
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d errors_status=%d errors_connect=%d errors_timeout=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.errors.status, summary.errors.connect, summary.errors.timeout,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
