-- spec/workers_spec.lua: DataLoader{num_workers = N}: worker processes, the same batches for
-- every num_workers, worker errors in the main script, no process left behind (break,
-- error, end of an epoch, a dropped iterator, a parent killed with SIGKILL, Ctrl-C), OpenMP
-- and OpenBLAS after fork, and the options.
local lunet = require "lunet"
local core = require "lunet.core"
local data = require "lunet.data"
local T = require "lunet.transforms"
local F = lunet.nn.functional
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert

local getpid = core.workers.getpid

local function strip(msg) return (tostring(msg):gsub("^[^:]*:%d+: ", "")) end

-- Child processes of this process (state Z = a zombie nobody reaped).
local function children()
  local me, kids = getpid(), {}
  for _, name in ipairs(core.image.listdir("/proc")) do
    if name:match("^%d+$") then
      local f = io.open("/proc/" .. name .. "/stat", "r")
      if f then
        local s = f:read("a") or ""
        f:close()
        local state, ppid = s:match("%) (%S) (%d+)")
        if tonumber(ppid) == me then kids[#kids + 1] = tonumber(name) .. state end
      end
    end
  end
  table.sort(kids)
  return kids
end

local function threads()
  local n = 0
  for _ in ipairs(core.image.listdir("/proc/self/task")) do n = n + 1 end
  return n
end

-- true when pid is gone (or a zombie: dead, waiting for its new parent to reap it)
local function gone(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return true end
  local s = f:read("a") or ""
  f:close()
  return s:match("%) (%S) ") == "Z" or s == ""
end

local function wait_gone(pids, seconds)
  local t0 = core.workers.now()
  repeat
    local all = true
    for _, p in ipairs(pids) do all = all and gone(p) end
    if all then return true end
    os.execute("sleep 0.05")
  until core.workers.now() - t0 > seconds
  return false
end

-- 37 random uint8 images 3 x 20 x 20 with masks in 0..4
local gen = lunet.Generator(11)
local images = gen:randint(0, 256, { 37, 3, 20, 20 }):to("uint8")
local masks = gen:randint(0, 5, { 37, 20, 20 }):to("int32")

local function augmented(opts)
  local tf = T.Compose { T.HorizontalFlip {}, T.Rotate { limit = 40 }, T.RandomCrop { 16, 16 },
                         T.RandomBrightnessContrast {}, T.GaussNoise {}, seed = 99, ignore_index = 255 }
  local ds = data.TensorDataset { image = images, mask = masks, transform = tf }
  local base = { batch_size = 5, shuffle = true, seed = 7 }
  for k, v in pairs(opts or {}) do base[k] = v end
  return data.DataLoader(ds, base)
end

-- every batch of `epochs` epochs as plain values
local function epochs(loader, n)
  local out = {}
  for e = 1, n do
    for b, i in loader:iter() do
      out[#out + 1] = { epoch = e, i = i, image = b.image:tolist(), mask = b.mask:tolist(), index = b.index,
                        dims = b.image:shape(), dtype = b.image:dtype() .. b.mask:dtype() }
    end
  end
  return out
end

describe("DataLoader workers", function()
  it("give bitwise-identical batches with 0, 1 and 2 workers over two epochs with random augmentation", function()
    local ref = epochs(augmented(), 2)
    assert.are.equal(16, #ref)                              -- 8 batches per epoch, the last of 2 items
    assert.are.same({ 2, 3, 16, 16 }, ref[8].dims)
    assert.are_not.same(ref[1].image, ref[9].image)         -- each epoch its own shuffle and augmentation
    assert.are.same(ref, epochs(augmented { num_workers = 1 }, 2))
    assert.are.same(ref, epochs(augmented { num_workers = 2 }, 2))
    assert.are.same(ref, epochs(augmented { num_workers = 2, persistent_workers = true, prefetch_factor = 1 }, 2))
    assert.are.same(ref, epochs(augmented { num_workers = 3, prefetch_factor = 4, worker_threads = 2 }, 2))
    assert.are_not.same(ref, epochs(augmented { seed = 8 }, 2))
  end)

  it("give every sample a stream of its own: the same item in two loaders gets the same augmentation", function()
    -- the same epoch seed (same loader seed, no shuffle) and batch sizes that differ: the item
    -- is produced by other workers and at other positions, with the same result
    local function items(loader)
      local r = {}
      for b in loader:iter() do
        for k, idx in ipairs(b.index) do r[idx] = { b.image:select(1, k):tolist(), b.mask:select(1, k):tolist() } end
      end
      return r
    end
    local a = items(augmented { shuffle = false, batch_size = 37 })
    local b = items(augmented { shuffle = false, batch_size = 4, num_workers = 2 })
    assert.are.equal(37, #a)
    assert.are.same(a, b)
    assert.are_not.same(a[1], a[2])
  end)

  it("give the same batches when the dataset draws from lunet's default generator", function()
    local ds = { len = function() return 9 end, get = function(_, i)
      return { image = lunet.rand(1, 2, 2), mask = lunet.randint(0, 3, { 2, 2 }), r = lunet.default_generator():uniform() }
    end }
    local state = lunet.default_generator():get_state():tolist()
    local ref = {}
    for b in data.DataLoader(ds, { batch_size = 2, seed = 3 }):iter() do ref[#ref + 1] = { b.image:tolist(), b.r } end
    assert.are.same(state, lunet.default_generator():get_state():tolist())   -- restored after each sample
    local got = {}
    for b in data.DataLoader(ds, { batch_size = 2, seed = 3, num_workers = 2 }):iter() do
      got[#got + 1] = { b.image:tolist(), b.r }
    end
    assert.are.same(ref, got)
    assert.are_not.equal(ref[1][2][1], ref[1][2][2])
  end)

  it("send numbers, strings, booleans, nested tables, scalars and empty tensors back", function()
    local ds = { len = function() return 5 end, get = function(_, i)
      return { image = lunet.full({ 1, 2, 3 }, i), mask = lunet.zeros({ 2, 3 }, { dtype = "int32" }), name = "item" .. i,
               n = i / 2, k = i, odd = i % 2 == 1, meta = { tag = { "a", i }, w = lunet.tensor(i * 1.5) },
               empty = lunet.zeros(0, 3) }
    end }
    local ref = {}
    local function fields(b)
      local w = {}
      for k, t in ipairs(b.meta) do w[k] = { t.tag, t.w:item(), t.w:dim() } end
      local e = {}
      for k, t in ipairs(b.empty) do e[k] = t:shape() end
      return { b.name, b.n, b.k, b.odd, w, e, b.index, b.image:tolist() }
    end
    for b in data.DataLoader(ds, { batch_size = 2 }):iter() do ref[#ref + 1] = fields(b) end
    local got = {}
    for b in data.DataLoader(ds, { batch_size = 2, num_workers = 2 }):iter() do got[#got + 1] = fields(b) end
    assert.are.same(ref, got)
    assert.are.same({ "item5" }, got[3][1])
    assert.are.equal("integer", math.type(got[3][3][1]))
  end)

  it("grow their shared-memory slots for batches of several MB and of changing size", function()
    local sizes = { 8, 200, 16, 300, 40 }
    local ds = { len = function() return #sizes end, get = function(_, i)
      local s = sizes[i]
      return { image = lunet.full({ 3, s, s }, i), mask = lunet.full({ s, s }, i, { dtype = "int32" }) }
    end }
    local n = 0
    for b, i in data.DataLoader(ds, { num_workers = 2, prefetch_factor = 1 }):iter() do
      assert.are.same({ 1, 3, sizes[i], sizes[i] }, b.image:shape())
      assert.are.equal(3 * sizes[i] ^ 2 * i, b.image:sum():item())
      assert.are.equal(sizes[i] ^ 2 * i, b.mask:sum():item())
      n = n + 1
    end
    assert.are.equal(5, n)
  end)

  it("run worker_init_fn with 0-based ids in the worker; get_worker_info tells a worker its id", function()
    local init_id = "not called"
    local ds = { len = function() return 6 end, get = function(_, i)
      local info = data.get_worker_info()
      return { image = lunet.zeros(1, 1, 1), mask = lunet.zeros({ 1, 1 }, { dtype = "int32" }), init = init_id,
               id = info.id, nw = info.num_workers, same = info.dataset.get ~= nil }
    end }
    local loader = data.DataLoader(ds, { batch_size = 2, num_workers = 3, worker_init_fn = function(id) init_id = id end })
    local seen = {}
    for b, i in loader:iter() do seen[i] = { b.id[1], b.init[2], b.nw[1], b.same[1] } end
    assert.are.same({ { 0, 0, 3, true }, { 1, 1, 3, true }, { 2, 2, 3, true } }, seen)
    assert.is_nil(data.get_worker_info())
    assert.are.equal("not called", init_id)
  end)

  it("raise a worker's error in the main script with its message, traceback, worker id and sample index", function()
    local ds = { len = function() return 20 end, get = function(_, i)
      if i == 13 then error("cannot read sample " .. i) end
      return { image = lunet.zeros(1, 2, 2), mask = lunet.zeros({ 2, 2 }, { dtype = "int32" }) }
    end }
    local before = children()
    local ok, err = pcall(function() for _ in data.DataLoader(ds, { batch_size = 4, num_workers = 2 }):iter() do end end)
    assert.is_false(ok)
    -- batch 4 holds samples 13..16 and goes to worker (4 - 1) % 2 = 1
    assert.matches("^spec/workers_spec.lua:%d+: DataLoader: worker 1 %(pid %d+%) failed on sample 13 of batch 4: " ..
                   "spec/workers_spec.lua:%d+: cannot read sample 13\nworker stack traceback:\n", err)
    assert.matches("in method 'get'", err)
    assert.is_nil(err:find("busted"))                      -- the loader's stack at fork is cut off
    assert.are.same(before, children())
  end)

  it("report errors in collate, in worker_init_fn and in values a worker cannot send", function()
    local ds = { len = function() return 4 end, get = function(_, i)
      return { image = lunet.zeros(1, 2, 2), mask = lunet.zeros({ 2, 2 }, { dtype = "int32" }), f = print }
    end }
    local function fail(opts)
      opts.batch_size = 2
      local ok, err = pcall(function() for _ in data.DataLoader(ds, opts):iter() do end end)
      assert.is_false(ok)
      return strip(err)
    end
    assert.matches("^DataLoader: worker 0 %(pid %d+%) cannot send batch 1: the batch%.f%.1 is a function; a worker " ..
                   "sends tensors, numbers, strings, booleans and tables of them$", fail { num_workers = 1 })
    assert.matches("^DataLoader: worker 0 %(pid %d+%) failed collating of batch 1: spec/workers_spec.lua:%d+: no collate\n",
                   fail { num_workers = 2, collate = function() error("no collate") end })
    assert.matches("^DataLoader: worker 1 %(pid %d+%) failed in worker_init_fn: spec/workers_spec.lua:%d+: init 1\n" ..
                   "worker stack traceback:",
                   fail { num_workers = 2, worker_init_fn = function(id) if id == 1 then error("init " .. id) end end,
                          collate = function(s) return { n = #s } end })
  end)

  it("report a worker that dies and a batch that never comes", function()
    local ds = { len = function() return 8 end, get = function(_, i)
      if i == 5 then os.execute("kill -9 " .. getpid()) end
      if i == 7 then while true do end end
      return { image = lunet.zeros(1, 2, 2), mask = lunet.zeros({ 2, 2 }, { dtype = "int32" }) }
    end }
    local before = children()
    local ok, err = pcall(function() for _ in data.DataLoader(ds, { batch_size = 2, num_workers = 2 }):iter() do end end)
    assert.is_false(ok)
    assert.matches("^DataLoader: worker 0 %(pid %d+%) was killed by signal 9 %(Killed%) while batch 3 was due$", strip(err))
    local plain = data.DataLoader({ len = ds.len, get = function(_, i)
      if i == 7 then while true do end end
      return { image = lunet.zeros(1, 2, 2), mask = lunet.zeros({ 2, 2 }, { dtype = "int32" }) }
    end }, { batch_size = 2, num_workers = 2, timeout = 5 })
    ok, err = pcall(function() for _ in plain:iter() do end end)
    assert.is_false(ok)
    assert.matches("^DataLoader: timed out after 5 s waiting for batch 4 from worker 1 %(pid %d+%)$", strip(err))
    assert.are.same(before, children())
  end)

  it("leave no process and no thread behind after a break, an error, the end of an epoch or a dropped iterator", function()
    local ds = augmented().dataset
    lunet.set_num_threads(2)
    local before, nthreads = children(), threads()
    for _, opts in ipairs { { num_workers = 2 }, { num_workers = 2, persistent_workers = true }, { num_workers = 1 } } do
      opts.batch_size = 3
      local loader = data.DataLoader(ds, opts)
      for _, i in loader:iter() do if i == 2 then break end end
      if not opts.persistent_workers then assert.are.same(before, children()) end
      pcall(function() for _, i in loader:iter() do if i == 3 then error("stop") end end end)
      if not opts.persistent_workers then assert.are.same(before, children()) end
      for _ in loader:iter() do end
      if opts.persistent_workers then
        assert.are.equal(2, #loader:worker_pids())
        loader:shutdown_workers()
      end
      assert.are.same(before, children())
      local b = loader:iter()()                                -- an iterator dropped without closing
      assert.are.same({ 3, 3, 16, 16 }, b.image:shape())
      loader = nil
      collectgarbage()
      collectgarbage()
      assert.are.same(before, children())
    end
    assert.is_true(threads() <= nthreads)
  end)

  it("keep persistent workers across epochs and resume cleanly after a break", function()
    local ref = epochs(augmented(), 3)
    local loader = augmented { num_workers = 2, persistent_workers = true }
    local got = {}
    local pids
    for e = 1, 3 do
      for b, i in loader:iter() do
        pids = pids or loader:worker_pids()
        assert.are.same(pids, loader:worker_pids())
        got[#got + 1] = { epoch = e, i = i, image = b.image:tolist(), mask = b.mask:tolist(), index = b.index,
                          dims = b.image:shape(), dtype = b.image:dtype() .. b.mask:dtype() }
        if e == 2 and i == 1 then break end                    -- the rest of epoch 2 is drained
      end
    end
    local want = {}
    for _, r in ipairs(ref) do if r.epoch ~= 2 or r.i == 1 then want[#want + 1] = r end end
    assert.are.same(want, got)
    assert.are.equal(2, #pids)
    local first = loader:iter()
    assert.are.same({ 5, 3, 16, 16 }, first().image:shape())
    for _ in loader:iter() do end                              -- takes the workers over
    local ok, err = pcall(first)
    assert.is_false(ok)
    assert.are.equal("DataLoader: this iterator was superseded by a newer iter() of the same loader " ..
                     "(persistent workers serve one epoch at a time)", strip(err))
    loader:shutdown_workers()
    assert.are.same({}, loader:worker_pids())
    assert.is_true(wait_gone(pids, 0))
  end)

  it("run OpenMP and OpenBLAS in workers after the parent ran multithreaded kernels", function()
    H.with_threads(2, function()
      local x = lunet.randn(2, 16, 48, 48)
      local w = lunet.randn(16, 16, 3, 3)
      local y = F.conv2d(x, w, nil, { padding = 1 })           -- parallel regions in this process
      local m = lunet.randn(256, 256)
      local mm = m:matmul(m)                                    -- OpenBLAS threads
      local ds = { len = function() return 4 end, get = function(_, i)
        local c = F.conv2d(x, w, nil, { padding = 1 })
        local g = m:matmul(m)
        return { image = c:select(1, 1):narrow(1, 1, 3):contiguous(), mask = lunet.zeros({ 48, 48 }, { dtype = "int32" }),
                 ok = lunet.allclose(c, y) and lunet.allclose(g, mm), threads = lunet.get_num_threads() }
      end }
      for _, wt in ipairs { 1, 2 } do
        local n = 0
        for b in data.DataLoader(ds, { batch_size = 2, num_workers = 2, worker_threads = wt, timeout = 60 }):iter() do
          assert.are.same({ true, true }, b.ok)
          assert.are.same({ wt, wt }, b.threads)
          n = n + 1
        end
        assert.are.equal(2, n)
      end
      assert.is_true(lunet.allclose(F.conv2d(x, w, nil, { padding = 1 }), y))
      assert.are.equal(2, lunet.get_num_threads())
    end)
  end)

  describe("in a separate lua process", function()
    local tmp = os.tmpname()
    local script = tmp .. ".lua"
    local fifo = tmp .. ".fifo"
    teardown(function() os.remove(tmp); os.remove(script); os.remove(fifo) end)
    local path = "LUA_PATH='" .. (os.getenv("LUA_PATH") or "") .. "' LUA_CPATH='" .. (os.getenv("LUA_CPATH") or "") .. "'"

    -- Runs `body` in a new lua5.4 (in a process group of its own) that prints its pid and its
    -- workers' pids, then waits (blocked in a FIFO open, or in a worker) for the spec's signal.
    local function spawn(body)
      local f = assert(io.open(script, "w"))
      f:write([[
local lunet = require "lunet"
local data = require "lunet.data"
local core = require "lunet.core"
local fifo = ...
]], body)
      f:close()
      os.remove(fifo)
      assert(os.execute("mkfifo '" .. fifo .. "'"))
      -- timeout bounds a hang; setsid gives the script a process group of its own
      local p = assert(io.popen(path .. " exec timeout -s KILL 60 setsid lua5.4 '" .. script .. "' '" .. fifo ..
                                "' 2>&1", "r"))
      local line = p:read("l")
      local pid, rest = line:match("^pid (%d+) workers (.*)$")
      assert(pid, line)
      local workers = {}
      for w in rest:gmatch("%d+") do workers[#workers + 1] = tonumber(w) end
      return p, tonumber(pid), workers
    end

    it("leave no worker behind when the parent is killed with SIGKILL", function()
      local p, pid, workers = spawn([[
local fifo_ = fifo
local ds = { len = function() return 8 end, get = function(_, i)
  if i > 2 then io.open(fifo_, "r") end   -- the workers block (busy: they do not read their socket)
  return { image = lunet.zeros(1, 2, 2) }
end }
local loader = data.DataLoader(ds, { num_workers = 2 })
for _ in loader:iter() do
  print("pid " .. core.workers.getpid() .. " workers " .. table.concat(loader:worker_pids(), " "))
  io.stdout:flush()
end
]])
      assert.are.equal(2, #workers)
      assert.is_false(gone(workers[1]) or gone(workers[2]))
      os.execute("kill -9 " .. pid)
      p:close()
      assert.is_true(wait_gone(workers, 5), "workers still alive after their parent was killed")
    end)

    it("stop the parent and its workers promptly on Ctrl-C (SIGINT to the process group)", function()
      local p, pid, workers = spawn([[
local fifo_ = fifo
local ds = { len = function() return 8 end, get = function(_, i)
  if i > 2 then io.open(fifo_, "r") end   -- the workers block; the parent waits for batch 2
  return { image = lunet.zeros(1, 2, 2) }
end }
local loader = data.DataLoader(ds, { num_workers = 2 })
for _ in loader:iter() do
  print("pid " .. core.workers.getpid() .. " workers " .. table.concat(loader:worker_pids(), " "))
  io.stdout:flush()
end
]])
      assert.are.equal(2, #workers)
      local f = assert(io.open("/proc/" .. pid .. "/stat", "r"))
      local pgid = tonumber(f:read("a"):match("%) %S %d+ (%d+)"))
      f:close()
      assert.are_not.equal(getpid(), pgid)                    -- its own group: the spec is not hit
      os.execute("kill -INT -" .. pgid)
      workers[#workers + 1] = pid
      assert.is_true(wait_gone(workers, 10), "the script or its workers still alive after Ctrl-C")
      local out = p:read("a")
      p:close()
      assert.matches("[Ii]nterrupt", out)
    end)
  end)

  describe("options", function()
    local ds = augmented().dataset
    local cases = {
      { { num_workers = -1 }, "DataLoader: num_workers must be an integer in [0, 256], got -1" },
      { { num_workers = 1.5 }, "DataLoader: num_workers must be an integer in [0, 256], got 1.5" },
      { { num_workers = "2" }, "DataLoader: num_workers must be an integer in [0, 256], got '2'" },
      { { num_workers = 1, prefetch_factor = 0 }, "DataLoader: prefetch_factor must be an integer in [1, 64], got 0" },
      { { prefetch_factor = 2 }, "DataLoader: prefetch_factor needs num_workers > 0 (got prefetch_factor = 2 with num_workers = 0)" },
      { { persistent_workers = true }, "DataLoader: persistent_workers needs num_workers > 0" },
      { { num_workers = 1, persistent_workers = 1 }, "DataLoader: persistent_workers must be a boolean, got 1" },
      { { num_workers = 1, worker_init_fn = 3 }, "DataLoader: worker_init_fn must be a function, got 3" },
      { { num_workers = 1, worker_threads = 0 }, "DataLoader: worker_threads must be an integer in [1, 4096], got 0" },
      { { num_workers = 1, timeout = -1 }, "DataLoader: timeout must be a number >= 0, got -1" },
      { { num_workers = 1, timeout = 0 / 0 }, "DataLoader: timeout must be a number >= 0, got nan" },
      { { num_worker = 2 }, "DataLoader: unknown option 'num_worker' (did you mean 'num_workers'?)" },
      { { prefetch = 2 }, "DataLoader: unknown option 'prefetch' (did you mean 'prefetch_factor'?)" },
    }
    for _, c in ipairs(cases) do
      it("rejects " .. strip(c[2]):gsub("^DataLoader: ", ""), function()
        local ok, err = pcall(data.DataLoader, ds, c[1])
        assert.is_false(ok)
        assert.are.equal(c[2], strip(err))
      end)
    end
    it("raises option errors at the caller's line", function()
      local ok, err = pcall(function() return data.DataLoader(ds, { num_workers = -1 }) end)
      assert.is_false(ok)
      assert.matches("^spec/workers_spec.lua:%d+: DataLoader: num_workers", err)
    end)
    it("keeps PyTorch's defaults", function()
      local l = data.DataLoader(ds, {})
      assert.are.same({ 0, 2, false, 1, 0 }, { l.num_workers, l.prefetch_factor, l.persistent_workers, l.worker_threads, l.timeout })
    end)
  end)
end)
