-- wrk script: refresh-token rotation, POST /oauth/token grant_type=refresh_token.
--   wrk -t1 -c32 -d10s --latency -s bench/lua/refresh.lua URL -- TOKEN_FILE
-- A refresh token is single-use (presenting it again revokes its whole
-- family), so each request takes a token out of a pool (seeded from
-- TOKEN_FILE, one per line, at least one per connection) and each answer puts
-- the new refresh token back. With wrk -t1 the pool is one Lua table shared by
-- all connections; a connection holds at most one token at a time, so the pool
-- never runs dry while every answer carries a successor. If it does (an
-- error answer), the request goes out without a token, gets a 400 and the
-- run counts a non-2xx answer.
local read_tokens = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "tokens.lua")
local pool, head, tail = {}, 1, 0

function init(args)
  pool = read_tokens(args[1], "refresh.lua")
  tail = #pool
end

function request()
  local token = ""
  if head <= tail then
    token = pool[head]
    pool[head] = nil
    head = head + 1
  end
  return wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token then
    tail = tail + 1
    pool[tail] = token
  end
end
