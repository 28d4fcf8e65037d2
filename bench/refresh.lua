-- POST /token/refresh. Refresh tokens are single-use: each thread starts with
-- its share of the tokens in $BENCH_REFRESH_TOKENS (one per line) and reuses
-- the new token from every answer. A token wrk asked for but never sent stays
-- unspent; "exhausted" (answered 401) shows in the results if the pool runs dry.
dofile("bench/common.lua")
local pool = {}

function init(args)
   local index = 0
   for line in io.lines(os.getenv("BENCH_REFRESH_TOKENS")) do
      if index % tonumber(os.getenv("BENCH_THREADS")) == thread_id then
         table.insert(pool, line)
      end
      index = index + 1
   end
end

function request()
   local token = table.remove(pool) or "exhausted"
   return wrk.format("POST", "/token/refresh", {["Content-Type"] = "application/json"},
      '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
   count_status(status)
   local token = body:match('"refresh_token":"([^"]+)"')
   if token then
      table.insert(pool, token)
   end
end
