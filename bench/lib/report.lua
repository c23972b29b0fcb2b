-- Appended to every wrk script by bench/run.sh: prints one machine-readable line.
-- Latency percentiles are wrk's own (microseconds).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"bytes":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_status":%d,"errors_timeout":%d}\n',
    summary.requests, summary.bytes, summary.duration,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(99)),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
