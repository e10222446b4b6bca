-- wrk's script for bench/lib/wrk.py: cycles through whole HTTP requests written out by Python (one file per
-- photo, named in the arguments after --), counts the answers by status, and at the end writes what the run
-- did as JSON to the file WRK_REPORT names. Latencies are in microseconds, as wrk keeps them.

local bodies, sent = {}, 0
local threads = {}
statuses = {} -- a global, so that done() can collect every thread's counts with thread:get

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for _, path in ipairs(args) do
    local file = assert(io.open(path, "rb"))
    table.insert(bodies, file:read("*a"))
    file:close()
  end
end

function request()
  sent = sent % #bodies + 1
  return bodies[sent]
end

function response(status)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local fields = {}
  for status, count in pairs(counts) do
    table.insert(fields, string.format('"%d": %d', status, count))
  end
  local errors = summary.errors
  local report = string.format(
    '{"requests": %d, "duration_us": %d, "statuses": {%s}, '
      .. '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
      .. '"latency_us": {"p50": %d, "p95": %d, "p99": %d}}\n',
    summary.requests, summary.duration, table.concat(fields, ", "),
    errors.connect, errors.read, errors.write, errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)
  )
  local file = assert(io.open(os.getenv("WRK_REPORT"), "w"))
  file:write(report)
  file:close()
end
