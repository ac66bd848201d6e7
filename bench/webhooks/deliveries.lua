-- wrk script: POSTs signed payloads with a fresh X-GitHub-Delivery per request.
-- Environment, one of: MANIFEST (a file of "path signature" lines, as
-- bench/processing/payloads.py writes it); BODY_FILES and SIGNATURES (space-separated, the same
-- length); BODY_FILE (payload) and SIGNATURE (sha256=...). Requests go round-robin over the
-- payloads, each thread starting at a different one so that concurrent requests name different
-- PRs. Also EVENT (X-GitHub-Event) and ID_PREFIX (optional, keeps the ids of several concurrent
-- wrk runs apart).
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
  local manifest = os.getenv("MANIFEST")
  local files = os.getenv("BODY_FILES")
  if manifest then
    for line in io.lines(manifest) do
      local path, sig = string.match(line, "^(%S+)%s+(%S+)$")
      table.insert(bodies, read(path))
      table.insert(sigs, sig)
    end
  elseif files then
    for p in string.gmatch(files, "%S+") do table.insert(bodies, read(p)) end
    for s in string.gmatch(os.getenv("SIGNATURES"), "%S+") do table.insert(sigs, s) end
  else
    table.insert(bodies, read(os.getenv("BODY_FILE")))
    table.insert(sigs, os.getenv("SIGNATURE"))
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-GitHub-Event"] = os.getenv("EVENT") or "pull_request"
  thread_id = id
  counter = id * 7919
end

function request()
  counter = counter + 1
  local i = (counter % #bodies) + 1
  wrk.headers["X-GitHub-Delivery"] = string.format("%sbench-%d-%d-%d", os.getenv("ID_PREFIX") or "", os.time(), thread_id, counter)
  wrk.headers["X-Hub-Signature-256"] = sigs[i]
  return wrk.format(nil, nil, nil, bodies[i])
end

function done(summary, latency, requests)
  -- rps counts answered requests that succeeded (2xx/3xx): a refused connection or a 4xx/5xx
  -- answer (e.g. the per-peer connection cap, back-pressure) is an error, never "acknowledged".
  local e = summary.errors
  local failed = e.status + e.connect + e.read + e.write + e.timeout
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT requests=%d errors_status=%d errors_connect=%d errors_timeout=%d errors=%d rps=%.1f all_rps=%.1f p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, e.status, e.connect, e.timeout, failed,
    math.max(summary.requests - failed, 0) / secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
