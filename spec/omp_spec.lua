-- The OpenMP runtime lunet loads itself (csrc/lt_omp.c): core.so is linked without libgomp,
-- its constructor picks the wait policy (OMP_WAIT_POLICY=passive: idle workers sleep instead
-- of spinning) unless the user chose one, then loads libgomp and binds the GOMP entry points.
local lunet = require "lunet"
local F = require "lunet.nn.functional"

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- runs `lua5.4 -e code` with this process's module paths and env prefix; returns its output
local function lua_out(env, code)
  local cmd = ("env %s LUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s 2>&1"):format(env,
    sh_quote(package.path), sh_quote(package.cpath), sh_quote(code))
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

local SHOW = 'require "lunet"; io.write(tostring(os.getenv("OMP_WAIT_POLICY")), " ", tostring(os.getenv("GOMP_SPINCOUNT")))'

describe("the OpenMP runtime", function()
  it("is loaded by lunet.core itself, and its idle workers sleep unless the user says otherwise", function()
    local cases = {
      { "-u OMP_WAIT_POLICY -u GOMP_SPINCOUNT", "passive nil" },
      { "-u GOMP_SPINCOUNT OMP_WAIT_POLICY=active", "active nil" },
      { "-u OMP_WAIT_POLICY GOMP_SPINCOUNT=1000", "nil 1000" },
    }
    for _, c in ipairs(cases) do
      assert.are.equal(c[2], lua_out(c[1], SHOW), c[1])
    end
  end)

  it("is mapped and runs parallel regions on several threads", function()
    local maps = io.open("/proc/self/maps")
    if not maps then
      pending("no /proc/self/maps")
      return
    end
    local text = maps:read("a")
    maps:close()
    assert.is_truthy(text:match("libgomp"), "libgomp is not mapped")
    local old = lunet.get_num_threads()
    lunet.set_num_threads(2)
    local x, w = lunet.randn(4, 16, 32, 32), lunet.randn(16, 16, 3, 3)
    local y2 = F.conv2d(x, w, nil, { padding = 1 })
    -- libgomp's workers outlive the region: the process has more than one task now (popen's
    -- shell is this process's child, so its $PPID is this process)
    local n = 0
    local p = assert(io.popen("ls /proc/$PPID/task"))
    for _ in p:lines() do n = n + 1 end
    p:close()
    assert.is_true(n >= 2, "one task only: the regions ran serially")
    lunet.set_num_threads(1)
    local y1 = F.conv2d(x, w, nil, { padding = 1 })
    lunet.set_num_threads(old)
    assert.is_true(lunet.allclose(y1, y2, 1e-5, 1e-5))
  end)
end)
