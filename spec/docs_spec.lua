-- spec/docs_spec.lua: the repository documents itself. Every public function has
-- documentation (docs/gen_api.lua --check) and a heading in docs/api.md; the README and
-- docs/ link only to files inside the repository, and those files exist; every documented
-- lunet.X submodule loads lazily as a field of lunet.
local lunet = require "lunet"

local root = os.getenv("PWD") or "."
if io.open(root .. "/docs/gen_api.lua") == nil then root = "." end

local H = assert(loadfile(root .. "/spec/helpers.lua", "t", _ENV))()
local q, slurp = H.q, H.slurp

local out_file = os.tmpname()
teardown(function() os.remove(out_file) end)

-- Runs the generator with args (inheriting LUA_PATH / LUA_CPATH); returns status, output.
local function gen(args)
  local _, _, code = os.execute("cd " .. q(root) .. " && lua5.4 docs/gen_api.lua " .. args .. " >" .. q(out_file) ..
                                " 2>&1")
  return code, slurp(out_file) or ""
end

describe("docs/api.md", function()
  it("documents every public function (gen_api.lua --check)", function()
    local code, out = gen("--check")
    assert.are.equal(0, code, out)
    assert.truthy(out:match("^%d+ public functions, all documented\n$"), out)
  end)

  it("has a heading for every public function (rerun docs/gen_api.lua when this fails)", function()
    local code, out = gen("--list")
    assert.are.equal(0, code, out)
    local api = assert(slurp(root .. "/docs/api.md"))
    local missing, n = {}, 0
    for name in out:gmatch("[^\n]+") do
      n = n + 1
      if not api:find("\n### `" .. name .. "`\n", 1, true) then missing[#missing + 1] = name end
    end
    assert.is_true(n > 300, out)
    assert.are.same({}, missing)
  end)

  it("documents lunet.now, train.evaluate and the new data and metrics functions", function()
    local api = assert(slurp(root .. "/docs/api.md"))
    for _, name in ipairs({ "lunet.now", "train.evaluate", "data.Subset", "data.random_split", "cm:iou_of",
                            "cm:miou_fg", "train.fit", "cli.main" }) do
      local body = api:match("\n### `" .. name:gsub("%p", "%%%0") .. "`\n\n```\n(.-)\n```")
      assert.truthy(body and #body > 20, name)
    end
    assert.truthy(api:find("Options: `seed`, `generator`", 1, true))
  end)

  it("catches an undocumented function (the check can fail)", function()
    -- a module with one function and no comment, found as another lunet.<name> module
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. q(dir .. "/lunet")))
    local f = assert(io.open(dir .. "/lunet/zz_undocumented_probe.lua", "w"))
    f:write("local M = {}\nfunction M.probe() return 1 end\nreturn M\n")
    f:close()
    -- gen_api.lua finds extra modules in lua/lunet of the tree it runs from: run a copy
    -- of it from a scratch tree whose lua/lunet holds only the probe
    assert(os.execute("mkdir -p " .. q(dir .. "/docs") .. " " .. q(dir .. "/lua") .. " && cp " ..
                      q(root .. "/docs/gen_api.lua") .. " " .. q(dir .. "/docs/") .. " && mv " .. q(dir .. "/lunet") ..
                      " " .. q(dir .. "/lua/lunet")))
    local _, _, code = os.execute("cd " .. q(dir) .. " && LUA_PATH=" .. q(dir .. "/lua/?.lua;" .. (os.getenv("LUA_PATH") or ";;")) ..
                                  " lua5.4 docs/gen_api.lua --check >" .. q(out_file) .. " 2>&1")
    local out = slurp(out_file)
    os.execute("rm -rf " .. q(dir))
    assert.are.equal(1, code, out)
    assert.truthy(out:find("zz_undocumented_probe.probe", 1, true), out)
  end)
end)

describe("README and docs/", function()
  local files = { "README.md", "docs/README.md", "docs/conventions.md", "docs/cli.md", "docs/install.md" }

  it("refer to nothing outside the repository", function()
    for _, f in ipairs(files) do
      local text = assert(slurp(root .. "/" .. f), f)
      assert.is_nil(text:find("../shared", 1, true), f)
      assert.is_nil(text:find("DESIGN.md", 1, true), f)
    end
  end)

  it("link to files that exist", function()
    local bad = {}
    for _, f in ipairs(files) do
      local text = slurp(root .. "/" .. f):gsub("\n```.-\n```", "\n"):gsub("`[^`\n]*`", "")   -- links, not code
      local dir = f:match("^(.*)/[^/]*$") or "."
      for target in text:gmatch("%]%(([^)%s]+)%)") do
        if not target:match("^https?://") and not target:match("^#") then
          local path = target:gsub("#.*$", "")
          if path:find("^%.%./") and dir == "." then bad[#bad + 1] = f .. ": " .. target end
          if not io.open(root .. "/" .. dir .. "/" .. path) then bad[#bad + 1] = f .. ": " .. target end
        end
      end
    end
    assert.are.same({}, bad)
  end)
end)

describe("lunet.X", function()
  it("loads every documented submodule lazily, as require does", function()
    for _, name in ipairs({ "nn", "optim", "data", "transforms", "metrics", "train", "image", "models", "io",
                            "predict", "errors", "autograd", "cli" }) do
      local m = lunet[name]
      assert.is_not_nil(m, name)
      assert.are.equal(require("lunet." .. name), m, name)
    end
    assert.are.equal(require("lunet.cli").main, lunet.cli.main)
    assert.is_nil(lunet.no_such_module_here)
  end)
end)
