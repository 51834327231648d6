-- Layout and module hygiene: the C core never includes lua.h, requiring any lunet module
-- sets no global, and lunet loads its C module and Lua side together.
local function files(pattern)
  local p = io.popen("ls " .. pattern .. " 2>/dev/null")
  local list = {}
  for line in p:lines() do list[#list + 1] = line end
  p:close()
  return list
end

describe("layout", function()
  it("keeps lua.h out of the C core (csrc/lt_*.c, csrc/lt_*.h)", function()
    local core = files("csrc/lt_*.c csrc/lt_*.h")
    assert.is_true(#core > 0)
    for _, f in ipairs(core) do
      if f ~= "csrc/lt_lua.h" then
        local text = assert(io.open(f)):read("a")
        assert.is_nil(text:find("#include%s*[<\"]lua"), f .. " includes a Lua header")
        assert.is_nil(text:find("#include%s*[<\"]lauxlib"), f .. " includes a Lua header")
      end
    end
  end)

  it("has the files DESIGN.md lists", function()
    for _, f in ipairs { "Makefile", "README.md", "lunet-scm-1.rockspec", ".ci/run" } do
      assert.truthy(io.open(f), f .. " is missing")
    end
  end)

  it("sets no globals when every module is required", function()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    local lunet = require "lunet"
    assert.is_truthy(lunet.core.methods)
    for _, f in ipairs(files("lua/lunet/*.lua lua/lunet/*/init.lua lua/lunet/*/*.lua")) do
      local name = f:gsub("^lua/", ""):gsub("/init%.lua$", ""):gsub("%.lua$", ""):gsub("/", ".")
      require(name)
    end
    for k in pairs(_G) do
      assert.is_true(before[k] ~= nil, "global '" .. tostring(k) .. "' was set")
    end
  end)
end)
