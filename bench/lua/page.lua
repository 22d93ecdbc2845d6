-- GET /api/v1/customers/{id}/overview for random ids in lo..hi (the customer page's data).
-- Arguments (after `--`): token, lo, hi.

dofile((os.getenv("KEFU_BENCH_LUA") or "bench/lua") .. "/common.lua")

function setup(thread)
   bench_setup(thread)
end

local token, lo, hi
local headers

function init(args)
   token, lo, hi = args[1], tonumber(args[2]), tonumber(args[3])
   headers = { ["Authorization"] = "Bearer " .. token }
   -- A different sequence per thread and per run.
   math.randomseed(os.time() * 100 + tid)
end

function request()
   local id = math.random(lo, hi)
   return wrk.format("GET", "/api/v1/customers/" .. id .. "/overview", headers, nil)
end

function response(status, hdrs, body)
   bench_count(status)
end

done = bench_done
