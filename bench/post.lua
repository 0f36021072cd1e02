-- wrk: POST the weather request body and print a machine-readable summary.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or '{"location":"Berlin"}'
wrk.headers["Content-Type"] = "application/json"

-- BENCH_IDEMPOTENCY_KEYS=1: each request carries a key of its own.
if os.getenv("BENCH_IDEMPOTENCY_KEYS") then
  local counter = 0
  request = function()
    counter = counter + 1
    wrk.headers["Idempotency-Key"] = "k" .. counter
    return wrk.format()
  end
end

done = function(summary, latency, requests)
  io.write(string.format('SUMMARY {"requests":%d,"seconds":%.3f,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
