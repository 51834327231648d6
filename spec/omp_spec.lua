-- lunet's own OpenMP runtime (csrc/lt_omp.c): core.so is linked without libgomp and answers
-- the GOMP entry points its compiled OpenMP code calls itself (teams of worker threads per
-- master thread, a bounded spin before sleeping, the master running the slots no worker has
-- claimed). LUNET_OPENMP=libgomp forwards them to libgomp instead (for comparisons); any
-- libgomp of the process sleeps when idle (OMP_WAIT_POLICY=passive) unless the user chose.
local lunet = require "lunet"
local F = require "lunet.nn.functional"
local nn = require "lunet.nn"

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok, _, rc = p:close()
  return out, ok and 0 or rc
end

-- runs `lua5.4 -e code` with this process's module paths and env prefix; returns its output
local function lua_out(env, code)
  return (run(("env %s LUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s"):format(env,
    sh_quote(package.path), sh_quote(package.cpath), sh_quote(code))))
end

local SHOW = 'require "lunet"; io.write(tostring(os.getenv("OMP_WAIT_POLICY")), " ", tostring(os.getenv("GOMP_SPINCOUNT")))'

-- the build directory of the core.so this process loaded (build or build-asan)
local function build_dir()
  for dir in package.cpath:gmatch("([^;]+)/%?%.so") do
    local f = io.open(dir .. "/lunet/core.so")
    if f then
      f:close()
      return dir
    end
  end
end

-- A training run's checksum: a small net with convs the Winograd, plane and GEMM paths take
-- (barriers and dynamic loops inside their regions), batch norm, pools and Adam, 3 steps.
local TRAIN = [[
local lunet = require "lunet"
local nn = require "lunet.nn"
local UNet = require "lunet.models.unet"
lunet.set_num_threads(tonumber(os.getenv("T")))
lunet.manual_seed(3)
local model = UNet { in_channels = 1, num_classes = 3, base = 16, depth = 3, norm = "batch" }
local x, y = lunet.rand(4, 1, 28, 28), lunet.randint(0, 3, { 4, 28, 28 })
local opt = lunet.optim.Adam(model:parameters(), { lr = 1e-2 })
local loss_fn = nn.CrossEntropyLoss {}
local loss
for _ = 1, 3 do
  opt:zero_grad()
  loss = loss_fn(model(x), y)
  loss:backward()
  opt:step()
end
local s = 0
for _, p in ipairs(model:parameters()) do s = s + p:abs():sum():item() end
io.write(string.format("%.9g %.9g", loss:item(), s))
]]

describe("the OpenMP runtime", function()
  it("leaves any libgomp of the process sleeping when idle unless the user says otherwise", function()
    local cases = {
      { "-u OMP_WAIT_POLICY -u GOMP_SPINCOUNT", "passive nil" },
      { "-u GOMP_SPINCOUNT OMP_WAIT_POLICY=active", "active nil" },
      { "-u OMP_WAIT_POLICY GOMP_SPINCOUNT=1000", "nil 1000" },
    }
    for _, c in ipairs(cases) do
      assert.are.equal(c[2], lua_out(c[1], SHOW), c[1])
    end
  end)

  it("is lunet's own: libgomp is not mapped, and regions run on several threads", function()
    local code = [[
      local lunet = require "lunet"
      local F = require "lunet.nn.functional"
      lunet.set_num_threads(2)
      F.conv2d(lunet.randn(4, 16, 32, 32), lunet.randn(16, 16, 3, 3), nil, { padding = 1 })
      local f = io.open("/proc/self/maps")
      local maps = f and f:read("a") or ""
      local n = 0
      local p = io.popen("ls /proc/$PPID/task")
      for _ in p:lines() do n = n + 1 end
      p:close()
      io.write(maps:match("libgomp") and "libgomp" or "own", " ", n >= 2 and "threads" or "one")
    ]]
    if not io.open("/proc/self/maps") then
      pending("no /proc/self/maps")
      return
    end
    assert.are.equal("own threads", lua_out("-u LUNET_OPENMP", code))
    assert.are.equal("libgomp threads", lua_out("LUNET_OPENMP=libgomp", code))
  end)

  it("stops OpenBLAS's idle pool when it loads and when the budget is set; OpenBLAS starts it again when it needs it", function()
    if not io.open("/proc/self/maps") then
      pending("no /proc")
      return
    end
    local code = [[
      local lunet = require "lunet"
      local core = require "lunet.core"
      local function tasks()
        local n, p = 0, io.popen("ls /proc/$PPID/task")
        for _ in p:lines() do n = n + 1 end
        p:close()
        return n
      end
      lunet.set_num_threads(2)   -- OpenBLAS at 1 thread: lunet's GEMM serves this CPU
      local before = tasks()
      local m = 384
      local a, b = lunet.randn(m * m), lunet.randn(m * m)
      local c1, c2 = lunet.zeros(m * m), lunet.zeros(m * m)
      core.gemm.sgemm(c1, a, b, { m = m, n = m, k = m, impl = "openblas" })
      core.gemm.sgemm(c2, a, b, { m = m, n = m, k = m, impl = "naive" })
      io.write(before, " ", tostring(lunet.allclose(c1, c2, 1e-4, 1e-4)))
    ]]
    assert.are.equal("1 true", lua_out("-u LUNET_OPENMP OPENBLAS_NUM_THREADS=2", code))
  end)

  it("trains bit for bit like libgomp does, at 1, 2, 3 and 4 threads", function()
    for _, t in ipairs { 1, 2, 3, 4 } do
      local own = lua_out("-u LUNET_OPENMP T=" .. t, TRAIN)
      local gomp = lua_out("LUNET_OPENMP=libgomp T=" .. t, TRAIN)
      assert.is_truthy(own:match("^[%d.e+-]+ [%d.e+-]+$"), own)
      assert.are.equal(gomp, own, t .. " threads")
    end
  end)

  it("gives the same convolutions at 1 and 2 threads in this process", function()
    local old = lunet.get_num_threads()
    local x, w = lunet.randn(4, 16, 32, 32), lunet.randn(16, 16, 3, 3)
    lunet.set_num_threads(2)
    local y2 = F.conv2d(x, w, nil, { padding = 1 })
    lunet.set_num_threads(1)
    local y1 = F.conv2d(x, w, nil, { padding = 1 })
    lunet.set_num_threads(old)
    assert.is_true(lunet.allclose(y1, y2, 1e-5, 1e-5))
  end)

  it("passes spec/omp_runtime.c: loops, barriers, critical, nesting, two masters, 1-6 threads", function()
    local dir = build_dir()
    local obj = dir and dir .. "/obj/lt_omp.o"
    local f = obj and io.open(obj)
    if not f then
      pending("no lt_omp.o beside the loaded core.so")
      return
    end
    f:close()
    local _, has_cc = run("command -v cc")
    if has_cc ~= 0 then
      pending("no C compiler")
      return
    end
    local exe = os.tmpname()
    -- built with the flags of lt_omp.o's build (sanitizers under make asan)
    local san = os.getenv("LUNET_ASAN") and " -fsanitize=address,undefined" or ""
    local out, rc = run("env -u LD_PRELOAD cc -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -fopenmp -Wall -Wextra"
      .. san .. " -o " .. sh_quote(exe) .. " spec/omp_runtime.c " .. sh_quote(obj) .. " -pthread -ldl")
    if rc ~= 0 then
      os.remove(exe)
      error("building spec/omp_runtime.c failed:\n" .. out)
    end
    local res, rc2 = run("timeout 120 " .. sh_quote(exe))
    os.remove(exe)
    assert.are.equal(0, rc2, res)
    assert.are.equal("omp_runtime: ok\n", res)
  end)

  it("keeps working across a fork (data workers running convs) and with more threads than cores", function()
    local data = require "lunet.data"
    local old = lunet.get_num_threads()
    lunet.set_num_threads(6)
    local w = lunet.randn(8, 8, 3, 3)
    local x = lunet.randn(2, 8, 16, 16)
    local ya = F.conv2d(x, w, nil, { padding = 1 })
    -- each sample is a conv at 6 threads in the worker process (forked after the regions above)
    local ds = { len = function() return 6 end, get = function(_, i)
      return { image = F.conv2d(x:narrow(1, 1 + i % 2, 1), w, nil, { padding = 1 }):squeeze(1) }
    end }
    local got = {}
    for b in data.DataLoader(ds, { batch_size = 3, num_workers = 2 }):iter() do got[#got + 1] = b.image end
    local yb = F.conv2d(x, w, nil, { padding = 1 })
    lunet.set_num_threads(old)
    assert.are.equal(2, #got)
    assert.is_true(lunet.allclose(ya, yb, 0, 0))
    for k = 1, 2 do
      for j = 1, 3 do
        local i = (k - 1) * 3 + j
        assert.is_true(lunet.allclose(got[k]:narrow(1, j, 1):squeeze(1), ya:narrow(1, 1 + i % 2, 1):squeeze(1), 1e-5, 1e-5))
      end
    end
  end)
end)
