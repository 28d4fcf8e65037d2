-- POST /register with a new account each time.
dofile("bench/common.lua")
local counter = 0
local run = tostring(os.time())

function request()
   counter = counter + 1
   local name = string.format("r%s_%d_%d", run, thread_id, counter)
   local body = string.format(
      '{"username":"%s","email":"%s@bench.example","password":"bench passphrase 2026"}', name, name)
   return wrk.format("POST", "/register", {["Content-Type"] = "application/json"}, body)
end
