-- wrk script: GET the URL with `Authorization: Bearer <token>`, the tokens read
-- from a file (one per line) and taken in turn, over and over.
--   wrk -t1 -c32 -d10s --latency -s bench/lua/bearer.lua URL -- TOKEN_FILE
-- A file of one line repeats one token. Every request is formatted once, in
-- init, so a pool costs wrk no more per request than a single token.
local read_tokens = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "tokens.lua")
local requests, n, i = {}, 0, 0

function init(args)
  for _, token in ipairs(read_tokens(args[1], "bearer.lua")) do
    n = n + 1
    requests[n] = wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. token })
  end
end

function request()
  i = i % n + 1
  return requests[i]
end
