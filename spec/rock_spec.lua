-- spec/rock_spec.lua: the package as a user installs it. `make rock` packs the working tree
-- into a source rock; `luarocks install` of that file (offline) into a temporary tree builds
-- it with the Makefile's -O3; from another directory `require "lunet"` loads the installed
-- copy and a U-Net forward runs, and the installed `lunet` command works; the rockspec's test
-- section runs specs through `luarocks test`. (Skipped under make asan: it builds and runs a
-- normal build, and the sanitizer's preloads would be inherited by gcc and luarocks.)
local root = os.getenv("PWD") or "."
if io.open(root .. "/lunet-scm-1.rockspec") == nil then root = "." end

local H = assert(loadfile(root .. "/spec/helpers.lua", "t", _ENV))()
local q, slurp = H.q, H.slurp

-- Runs a shell command without the sanitizer / in-tree module paths; returns status, output.
local clean_env = "env -u LD_PRELOAD -u ASAN_OPTIONS -u LSAN_OPTIONS -u UBSAN_OPTIONS -u LUA_PATH -u LUA_CPATH " ..
                  "-u LUA_PATH_5_4 -u LUA_CPATH_5_4 "
local out_file = os.tmpname()
local function sh(cmd)
  local _, _, code = os.execute(clean_env .. "sh -c " .. q(cmd) .. " >" .. q(out_file) .. " 2>&1")
  return code, slurp(out_file) or ""
end

local tmp = os.tmpname()
os.remove(tmp)
tmp = tmp .. "_lunet_rock"
teardown(function()
  os.execute("rm -rf " .. q(tmp))
  os.remove(out_file)
end)

local skip
if os.getenv("LUNET_ASAN") then
  skip = "under make asan (the rock is a normal build; make test runs this spec)"
elseif sh("command -v luarocks") ~= 0 then
  skip = "luarocks is not installed (apt-get install luarocks)"
end

describe("the source rock", function()
  if skip then
    it("is installed and used (skipped: " .. skip .. ")", function() pending(skip) end)
    return
  end

  local rock = tmp .. "/build/rock/lunet-scm-1.src.rock"
  local tree = tmp .. "/tree"
  local elsewhere = tmp .. "/elsewhere"
  assert(os.execute("mkdir -p " .. q(elsewhere)))

  it("is packed by make rock from the working tree", function()
    local code, out = sh("cd " .. q(root) .. " && make -s rock BUILD=" .. q(tmp .. "/build"))
    assert.are.equal(0, code, out)
    assert.truthy(out:find(rock, 1, true), out)
    local c2, list = sh("unzip -l " .. q(rock))
    assert.are.equal(0, c2, list)
    assert.truthy(list:find("lunet-scm-1.rockspec", 1, true), list)
    assert.truthy(list:find("lunet-scm-1.tar.gz", 1, true), list)
    -- the packed tree holds this spec itself (tracked or not yet committed)
    local c3, files = sh("cd " .. q(tmp) .. " && unzip -o -q " .. q(rock) .. " lunet-scm-1.tar.gz && tar -tzf lunet-scm-1.tar.gz")
    assert.are.equal(0, c3, files)
    assert.truthy(files:find("lunet-scm-1/spec/rock_spec.lua", 1, true))
    assert.truthy(files:find("lunet-scm-1/bin/lunet", 1, true))
    assert.is_nil(files:find("lunet-scm-1/build/", 1, true))
  end)

  it("installs offline into a tree, compiled at -O3", function()
    -- without the make flags of a `make -s test` around us, which would silence the compile lines
    local code, out = sh("cd " .. q(elsewhere) .. " && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL luarocks --lua-version=5.4 install " ..
                         q(rock) .. " --tree " .. q(tree))
    assert.are.equal(0, code, out)
    assert.truthy(out:find("lunet scm-1 is now installed", 1, true), out)
    local compiles = 0
    for line in out:gmatch("[^\n]+") do
      if line:find(" -c csrc/", 1, true) then
        compiles = compiles + 1
        local last
        for o in line:gmatch("%s(%-O%w*)") do last = o end
        assert.are.equal("-O3", last, line)
      end
    end
    assert.is_true(compiles > 10, out)
  end)

  it("loads from another directory and runs a model forward", function()
    local script = [[
      local lunet = require "lunet"
      assert(package.searchpath("lunet.core", package.cpath):find(TREE, 1, true) == 1)
      assert(package.searchpath("lunet", package.path):find(TREE, 1, true) == 1)
      lunet.manual_seed(0)
      local m = lunet.models.unet{in_channels = 1, num_classes = 3, base = 4, depth = 2}
      local y = m(lunet.randn(2, 1, 9, 7))
      print(table.concat(y:shape(), "x"))
    ]]
    local code, out = sh("cd " .. q(elsewhere) .. " && eval \"$(luarocks --lua-version=5.4 --tree " .. q(tree) ..
                         " path)\" && lua5.4 -e " .. q("TREE = " .. string.format("%q", tree) .. script))
    assert.are.equal(0, code, out)
    assert.are.equal("2x3x9x7\n", out)
  end)

  it("installs the lunet command", function()
    local code, out = sh("cd " .. q(elsewhere) .. " && " .. q(tree .. "/bin/lunet") .. " info")
    assert.are.equal(0, code, out .. "\n" .. (slurp(tree .. "/bin/lunet") or "no wrapper"))
    assert.truthy(out:find("lunet.core: " .. tree .. "/lib/lua/5.4/lunet/core.so", 1, true), out)
    code, out = sh(q(tree .. "/bin/lunet") .. " bogus")
    assert.are.equal(2, code, out)
  end)
end)

describe("the rockspec", function()
  it("has a test section that runs the specs (luarocks test)", function()
    if skip then pending(skip) return end
    local code, out = sh("cd " .. q(root) .. " && luarocks --lua-version=5.4 test lunet-scm-1.rockspec -- " ..
                         "SPECS=spec/lunet_spec.lua")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("%d+ passed, 0 failed"), out)
  end)

  it("has a release-style source and the -O3 build variable", function()
    local spec = {}
    local chunk = assert(loadfile(root .. "/lunet-scm-1.rockspec", "t", spec))
    chunk()
    assert.are.equal("3.0", spec.rockspec_format)
    assert.truthy(spec.source.url:match("^git%+https://"), spec.source.url)
    assert.are.equal("command", spec.test.type)
    assert.truthy(spec.build.build_variables.CFLAGS:match("%-O3$"))
    assert.are.equal("$(BINDIR)", spec.build.install_variables.INST_BINDIR)
  end)
end)
