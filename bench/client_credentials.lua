-- POST /oauth2/token with grant_type=client_credentials: a service getting a
-- token of its own. The client authenticates with HTTP Basic
-- ($BENCH_CLIENT_BASIC, base64 of "id:secret"): a SHA-256 of the secret, one
-- read of the client's row and one signature, no password hash.
dofile("bench/common.lua")

function request()
   return wrk.format("POST", "/oauth2/token", {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = "Basic " .. os.getenv("BENCH_CLIENT_BASIC"),
   }, "grant_type=client_credentials")
end

function response(status, headers, body)
   count_status(status)
end
