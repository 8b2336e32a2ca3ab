-- wrk script: POST {"username","password"} (JSON) to the URL, over and over:
-- /v1/session/login or /v1/token/login.
--   wrk -t1 -c32 -d10s --latency --timeout 30s -s bench/lua/login.lua URL -- USERNAME PASSWORD
-- USERNAME and PASSWORD must not need JSON escaping.
function init(args)
  if #args < 2 then error("usage: wrk ... -s login.lua URL -- USERNAME PASSWORD") end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = string.format('{"username":"%s","password":"%s"}', args[1], args[2])
end
