-- wrk script: POSTs the same signed payload with a fresh X-GitHub-Delivery per request.
-- Environment: BODY_FILE (payload), SIGNATURE (sha256=...), EVENT (X-GitHub-Event),
-- ID_PREFIX (optional, keeps the ids of several concurrent wrk runs apart).
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
  wrk.body = f:read("*all")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-GitHub-Event"] = os.getenv("EVENT") or "pull_request"
  wrk.headers["X-Hub-Signature-256"] = os.getenv("SIGNATURE")
  thread_id = id
end

function request()
  counter = counter + 1
  wrk.headers["X-GitHub-Delivery"] = string.format("%sbench-%d-%d-%d", os.getenv("ID_PREFIX") or "", os.time(), thread_id, counter)
  return wrk.format()
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d errors_status=%d errors_connect=%d errors_timeout=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.errors.status, summary.errors.connect, summary.errors.timeout,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
