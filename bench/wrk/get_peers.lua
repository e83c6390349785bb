-- wrk script: GET /v1/peers on the tracker given as wrk's URL.
-- Usage: wrk -t2 -c64 -d10s --latency -s bench/wrk/get_peers.lua http://127.0.0.1:5000 [-- IDS_FILE]
local token = os.getenv("DDL_TOKEN")
wrk.method = "GET"
wrk.path = "/v1/peers"
if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
end
