-- spec/lunet_spec.lua: the module table. Every `lunet.X` the README (and the implemented part
-- of ../shared/DESIGN.md) names is reachable right after `require "lunet"`, in a fresh Lua
-- process where nothing else was required: submodules load on first use, and lunet.X is the
-- same table as require "lunet.X".

-- Dotted names "lunet.a.b" found in a text (a trailing dot, as in "lunet.models.<name>", dropped).
local function names_in(text, into)
  for name in text:gmatch("lunet%.[%a_][%w_%.]*") do
    name = name:gsub("%.+$", "")
    into[name] = true
  end
  return into
end

local function read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local readme = assert(read("README.md"), "run the specs from the repository root")
local names = names_in(readme, {})
-- DESIGN.md, up to the capabilities planned for later releases (lunet.classic, ...).
local design = read("../shared/DESIGN.md")
if design then names_in(design:match("^(.-)\n## Next capabilities") or design, names) end

-- The submodules: each must be require "lunet.X" itself.
local submodules = { "nn", "optim", "data", "transforms", "metrics", "train", "image", "models",
                     "io", "predict", "errors", "autograd", "core" }
for _, s in ipairs(submodules) do names["lunet." .. s] = true end

-- Group the dotted names by their first field: one fresh process per lunet.X.
local groups, order = {}, {}
for name in pairs(names) do
  local top = name:match("^lunet%.([%a_][%w_]*)")
  if not groups[top] then groups[top] = {}; order[#order + 1] = top end
  table.insert(groups[top], name)
end
table.sort(order)
for _, g in pairs(groups) do table.sort(g) end

local is_sub = {}
for _, s in ipairs(submodules) do is_sub[s] = true end

local lua = "lua5.4"
local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local env = ""
for _, var in ipairs({ "LUA_PATH", "LUA_CPATH" }) do
  local v = os.getenv(var)
  if v then env = env .. var .. "=" .. sh_quote(v) .. " " end
end

-- Runs chunk in a fresh `lua5.4 -e`; returns its output and whether it exited with 0.
local function run_fresh(chunk)
  local p = assert(io.popen(env .. lua .. " -e " .. sh_quote(chunk) .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

-- The child resolves each dotted name field by field from the lunet table alone.
local child = [[
local lunet = require "lunet"
local top, sub = %q, %s
local names = { %s }
for _, name in ipairs(names) do
  local v = lunet
  for part in name:gmatch("[^.]+") do
    if part ~= "lunet" then
      if type(v) ~= "table" and type(v) ~= "userdata" then v = nil break end
      v = v[part]
      if v == nil then break end
    end
  end
  if v == nil then print("nil: " .. name) os.exit(1) end
end
if sub and lunet[top] ~= require("lunet." .. top) then
  print("lunet." .. top .. " is not require \"lunet." .. top .. "\"") os.exit(1)
end
print("ok")
]]

describe("lunet.X in a fresh process", function()
  it("finds the names the README mentions (and the documented submodules)", function()
    assert.is_true(#order >= 20, "found only " .. #order .. " lunet.X names")
    for _, s in ipairs({ "predict", "errors", "models", "train", "save", "manual_seed" }) do
      assert.is_truthy(groups[s], "lunet." .. s .. " not collected")
    end
    assert.is_truthy(names["lunet.predict.save_model"])
  end)

  for _, top in ipairs(order) do
    it("lunet." .. top .. " (" .. table.concat(groups[top], ", ") .. ")", function()
      local quoted = {}
      for i, n in ipairs(groups[top]) do quoted[i] = string.format("%q", n) end
      local out, ok = run_fresh(child:format(top, tostring(is_sub[top] == true), table.concat(quoted, ", ")))
      assert.are.equal("ok\n", out)
      assert.is_true(ok)
    end)
  end

  it("gives nil (and no error) for a name that is no module, every time", function()
    local out, ok = run_fresh([[
local lunet = require "lunet"
assert(lunet.no_such_module == nil and lunet.no_such_module == nil)
assert(lunet.init == nil and lunet["not a name"] == nil and lunet[1] == nil)
assert(package.loaded["lunet.predict"] == nil, "lunet.predict loaded eagerly")
local p = lunet.predict
assert(package.loaded["lunet.predict"] == p and rawget(lunet, "predict") == p)
print("ok")
]])
    assert.are.equal("ok\n", out)
    assert.is_true(ok)
  end)
end)
