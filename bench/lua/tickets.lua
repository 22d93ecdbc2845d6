-- POST /api/v1/tickets: a caller's consultation, each request with its own Idempotency-Key and
-- its own caller phone (so no request is attached to another's open ticket). Arguments (after
-- `--`): token, run tag (one digit 3..9, the phone's second digit), run id. The ticket runs the
-- whole create path: caller lookup by phone, the repeat-caller check, numbering, history, search
-- document, SLA clocks and their jobs, the audit row.
--
-- Phone: 1 <tag> <thread: 2 digits> <counter: 7 digits> = 11 digits.

dofile((os.getenv("KEFU_BENCH_LUA") or "bench/lua") .. "/common.lua")

function setup(thread)
   bench_setup(thread)
end

local token, tag, runid
local counter = 0
local headers
local subjects = {
   "净水器漏水，滤芯接口有水渗出", "空调制冷效果差，外机噪音大", "热水器显示 E1 故障码",
   "咨询延保服务价格和范围", "新买冰箱一周还没安装", "洗衣机脱水时剧烈晃动",
}

function init(args)
   token, tag, runid = args[1], args[2], args[3]
   headers = {
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
   }
end

function request()
   counter = counter + 1
   local phone = string.format("1%s%02d%07d", tag, tid, counter)
   headers["Idempotency-Key"] = string.format("t-%s-%s-%d-%d", runid, tag, tid, counter)
   local subject = subjects[(counter % #subjects) + 1]
   local body = string.format(
      '{"kind":"consultation","subject":"%s","phone":"%s","description":"压测来电 %s%d-%d"}',
      subject, phone, tag, tid, counter)
   return wrk.format("POST", "/api/v1/tickets", headers, body)
end

function response(status, hdrs, body)
   bench_count(status)
end

done = bench_done
