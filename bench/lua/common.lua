-- Shared by the bench scripts (loaded with dofile): per-thread status counting and the summary
-- line that bench/run parses. Every thread counts its own responses in its own Lua state;
-- done() runs in the main state and collects them through thread:get().

local threads = {}

function bench_setup(thread)
   local tid = #threads + 1
   thread:set("tid", tid)
   table.insert(threads, thread)
end

-- status -> count, per thread; 2xx and non-2xx totals as plain globals so that thread:get()
-- can read them (it copies numbers and strings, and flat tables of them).
codes = {}
ok2xx = 0
non2xx = 0

function bench_count(status)
   codes[status] = (codes[status] or 0) + 1
   if status >= 200 and status < 300 then
      ok2xx = ok2xx + 1
   else
      non2xx = non2xx + 1
   end
end

function bench_done(summary, latency, requests)
   local total_ok, total_bad, all = 0, 0, {}
   for _, t in ipairs(threads) do
      total_ok = total_ok + (t:get("ok2xx") or 0)
      total_bad = total_bad + (t:get("non2xx") or 0)
      local c = t:get("codes") or {}
      for k, v in pairs(c) do
         all[k] = (all[k] or 0) + v
      end
   end
   local e = summary.errors
   local sock = e.connect + e.read + e.write + e.timeout
   local secs = summary.duration / 1e6
   local parts = {}
   for k, v in pairs(all) do
      table.insert(parts, tostring(k) .. ":" .. tostring(v))
   end
   table.sort(parts)
   io.write(string.format(
      "BENCH requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p95_ms=%.3f p99_ms=%.3f max_ms=%.3f ok2xx=%d non2xx=%d socket_errors=%d codes=%s\n",
      summary.requests, secs, summary.requests / secs,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
      total_ok, total_bad, sock, table.concat(parts, ",")))
end
