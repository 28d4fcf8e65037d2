-- GET /me with one access token (session checked against the database each time).
dofile("bench/common.lua")
local token = os.getenv("BENCH_ACCESS_TOKEN")

function request()
   return wrk.format("GET", "/me", {["Authorization"] = "Bearer " .. token})
end
