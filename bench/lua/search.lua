-- GET /api/v1/search?q=<Chinese words> with words drawn at random from what the ticket-like
-- documents of `kefu demo --search-docs` hold: common ones (漏水 in ~6 % of a million
-- documents), pairs that must both occur, and rarer ones. Arguments (after `--`): token.

dofile((os.getenv("KEFU_BENCH_LUA") or "bench/lua") .. "/common.lua")

function setup(thread)
   bench_setup(thread)
end

local words = {
   "漏水", "不制冷", "冰箱漏水", "空调 不制冷", "热水器", "噪音大", "上门维修", "投诉",
   "海淀区", "退货退款", "智能门锁", "洗碗机 异味", "扫地机器人", "催单", "配件", "保修期",
   "燃气灶", "遥控失灵", "北京 冰箱", "故障代码",
}

local function urlencode(s)
   return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local token, headers, paths

function init(args)
   token = args[1]
   headers = { ["Authorization"] = "Bearer " .. token }
   paths = {}
   for i, w in ipairs(words) do
      paths[i] = "/api/v1/search?limit=20&q=" .. urlencode(w)
   end
   math.randomseed(os.time() * 100 + tid)
end

function request()
   return wrk.format("GET", paths[math.random(1, #paths)], headers, nil)
end

function response(status, hdrs, body)
   bench_count(status)
end

done = bench_done
