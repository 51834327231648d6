-- lunet.nn.functional (F): the differentiable functional ops, gathered from one file
-- per family. Each part returns a table of functions; names must not collide.
local searchpath, require, pairs, error = package.searchpath, require, pairs, error

local F = {}
local parts = { "conv", "pool", "norm", "activation", "loss" }
for _, part in ipairs(parts) do
  local name = "lunet.nn.functional." .. part
  if searchpath(name, package.path) then
    for k, v in pairs(require(name)) do
      if F[k] ~= nil then error("lunet.nn.functional: " .. k .. " defined twice") end
      F[k] = v
    end
  end
end
return F
