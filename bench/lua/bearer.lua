-- wrk script: GET the URL with `Authorization: Bearer <token>`, the tokens read
-- from a file (one per line) and taken in turn, over and over.
--   wrk -t1 -c32 -d10s --latency -s bench/lua/bearer.lua URL -- TOKEN_FILE
-- A file of one line repeats one token. Every request is formatted once, in
-- init, so a pool costs wrk no more per request than a single token.
local requests, n, i = {}, 0, 0

function init(args)
  local file = assert(io.open(args[1] or "", "r"), "usage: wrk ... -s bearer.lua URL -- TOKEN_FILE")
  for token in file:lines() do
    if #token > 0 then
      n = n + 1
      requests[n] = wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. token })
    end
  end
  file:close()
  if n == 0 then error("bearer.lua: no token in " .. args[1]) end
end

function request()
  i = i % n + 1
  return requests[i]
end
