-- wrk: POST the weather request body and print a machine-readable summary.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or '{"location":"Berlin"}'
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  io.write(string.format('SUMMARY {"requests":%d,"seconds":%.3f,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
