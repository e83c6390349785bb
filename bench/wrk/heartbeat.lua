-- wrk script: heartbeats, PUT /v1/peers/{id}, cycling through registered peer ids.
-- Usage: wrk -t2 -c64 -d10s --latency -s bench/wrk/heartbeat.lua http://127.0.0.1:5000 -- IDS_FILE
-- IDS_FILE holds one peer id per line (bench/report.py register writes it).
local token = os.getenv("DDL_TOKEN")
local headers = {}
if token and token ~= "" then
    headers["Authorization"] = "Bearer " .. token
end

local threads = 0
function setup(thread)
    thread:set("tid", threads)
    threads = threads + 1
end

local ids = {}
local idx = 0
function init(args)
    local path = args[1]
    if not path then error("heartbeat.lua: pass the ids file after --") end
    local f = assert(io.open(path, "r"))
    for line in f:lines() do
        if line ~= "" then ids[#ids + 1] = line end
    end
    f:close()
    if #ids == 0 then error("heartbeat.lua: no ids in " .. path) end
    -- threads start at different places in the list
    idx = ((tid or 0) * 7919) % #ids
end

function request()
    idx = idx % #ids + 1
    return wrk.format("PUT", "/v1/peers/" .. ids[idx], headers, "")
end
