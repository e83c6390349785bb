-- wrk script: GET /v1/peers on the tracker given as wrk's URL.
-- Usage: wrk -t2 -c64 -d10s --latency -s bench/wrk/get_peers.lua https://127.0.0.1:5000 [-- IDS_FILE]
-- By default the request a download makes: the peers ranked highest for one file,
-- /v1/peers?file=KEY&limit=64 (the same KEY every time: the clients of one file).
-- WRK_PEERS_PATH: another path, e.g. /v1/peers (the full list, as `ddl peers` asks).
-- WRK_RANDOM_FILE=1: a new random file key on every request (no two alike: none can be
-- answered from the tracker's per-second cache), limit WRK_LIMIT (default 64).
local token = os.getenv("DDL_TOKEN")
local limit = os.getenv("WRK_LIMIT") or "64"
local path = os.getenv("WRK_PEERS_PATH") or ("/v1/peers?file=5d41402abc4b2a76&limit=" .. limit)
local random_file = os.getenv("WRK_RANDOM_FILE") == "1"
local headers = {}
if token and token ~= "" then
    headers["Authorization"] = "Bearer " .. token
end
wrk.method = "GET"
wrk.path = path
wrk.headers = headers

local threads = 0
function setup(thread)
    thread:set("tid", threads)
    threads = threads + 1
end

function init(args)
    math.randomseed(os.time() + (tid or 0) * 7919)
end

function request()
    if random_file then
        local key = string.format("%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
        return wrk.format("GET", "/v1/peers?file=" .. key .. "&limit=" .. limit, headers)
    end
    return wrk.format("GET", path, headers)
end
