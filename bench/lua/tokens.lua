-- Shared by bearer.lua and refresh.lua: the non-empty lines of a token file.
--   local read_tokens = dofile(<this directory> .. "tokens.lua")
--   local tokens = read_tokens(path, "bearer.lua")
return function(path, script)
  local file = assert(io.open(path or "", "r"), "usage: wrk ... -s " .. script .. " URL -- TOKEN_FILE")
  local tokens = {}
  for token in file:lines() do
    if #token > 0 then tokens[#tokens + 1] = token end
  end
  file:close()
  if #tokens == 0 then error(script .. ": no token in " .. path) end
  return tokens
end
