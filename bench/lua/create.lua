-- POST /api/v1/customers, each request with its own Idempotency-Key and its own valid, unique
-- mobile number. Arguments (after `--`): token, run tag (one digit 3..9, the mobile's second
-- digit: the warm-up and the measured run use different tags, so their phones never collide),
-- and a run id that makes the keys unique across runs.
--
-- Note: wrk calls request() once on thread 1 to check the script and never sends that
-- request, so thread 1 starts at counter 2.
--
-- Phone: 1 <tag> <thread: 2 digits> <counter: 7 digits> = 11 digits, unique for up to 99 threads
-- and 10 million requests per thread.

dofile((os.getenv("KEFU_BENCH_LUA") or "bench/lua") .. "/common.lua")

function setup(thread)
   bench_setup(thread)
end

local token, tag, runid
local counter = 0
local headers

function init(args)
   token, tag, runid = args[1], args[2], args[3]
   headers = {
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
   }
end

function request()
   counter = counter + 1
   if counter >= 10000000 then
      error("create.lua: more than 10 million requests on one thread; phones would repeat")
   end
   local phone = string.format("1%s%02d%07d", tag, tid, counter)
   headers["Idempotency-Key"] = string.format("%s-%s-%d-%d", runid, tag, tid, counter)
   local body = string.format(
      '{"kind":"individual","name":"压测客户%s%d-%d","phone":"%s"}', tag, tid, counter, phone)
   return wrk.format("POST", "/api/v1/customers", headers, body)
end

function response(status, hdrs, body)
   bench_count(status)
end

done = bench_done
