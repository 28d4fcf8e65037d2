-- POST /login, cycling over the seeded accounts (seed0 … seedN-1).
dofile("bench/common.lua")
local counter = 0
local accounts = tonumber(os.getenv("BENCH_ACCOUNTS") or "100")

function request()
   counter = counter + 1
   local n = (counter * 7 + thread_id * 13) % accounts
   local body = string.format('{"email":"seed%d@bench.example","password":"bench passphrase 2026"}', n)
   return wrk.format("POST", "/login", {["Content-Type"] = "application/json"}, body)
end
