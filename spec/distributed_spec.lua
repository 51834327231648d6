-- lunet.distributed: argument checking and sharding in this process, then real jobs of 2 (and
-- 3) ranks launched with mpirun over shared memory: the collectives, DistributedDataParallel +
-- SyncBatchNorm equivalence with one process on a doubled batch, fit{distributed = true}
-- (metrics, rank-0 output, resume on 1, 2 and 3 ranks) and faults. The TCP transport:
-- distributed_tcp_spec.lua. Skipped, with a message, where mpirun is not installed.
local lunet = require "lunet"
local nn = require "lunet.nn"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()
local MPI = dofile("spec/dist/mpi.lua")
local dist = require "lunet.distributed"

if not MPI.mpirun then
  describe("lunet.distributed", function()
    pending("skipped: mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev; make test does)")
  end)
  return
end

-- relative difference of two state-dict files: max over tensors of max|a - b| / max|b|
local function max_rel_diff(pa, pb)
  local a, b = lunet.load(pa), lunet.load(pb)
  local worst, names = 0, 0
  for k, v in pairs(a) do
    local w = assert(b[k], "missing " .. k)
    names = names + 1
    if v:dtype() == "float32" then
      local scale = math.max(w:abs():max():item(), 1e-30)
      worst = math.max(worst, (v - w):abs():max():item() / scale)
    else
      assert.are.same(v:tolist(), w:tolist())
    end
  end
  return worst, names
end

describe("lunet.distributed", function()
  it("is built where Open MPI is installed", function()
    assert.is_true(dist.is_available())
    assert.is_false(dist.is_initialized())
    assert.is_truthy(dist.version():find("Open MPI", 1, true))
  end)

  it("says so when the MPI module is not built, while sharding and SyncBatchNorm still work", function()
    local f = io.open("build/lunet/core.so", "rb")
    if not f then return end   -- a sanitizer build: build-asan/ holds the modules
    f:close()
    local dir = MPI.tmpdir()
    os.execute("mkdir -p " .. MPI.sh_quote(dir .. "/lunet") .. " && ln -s \"$PWD/build/lunet/core.so\" "
      .. MPI.sh_quote(dir .. "/lunet/core.so"))
    local script = dir .. "/nompi.lua"
    local g = assert(io.open(script, "w"))
    g:write([[
      local lunet = require "lunet"
      local dist = require "lunet.distributed"
      print(dist.is_available(), select(2, pcall(dist.init)))
      local l = lunet.data.DataLoader(lunet.data.TensorDataset{image = lunet.zeros(5, 1, 2, 2)},
        {distributed = {rank = 1, world_size = 2}})
      print(#l, lunet.nn.SyncBatchNorm(3)(lunet.randn(2, 3, 4, 4)):size(1))
    ]])
    g:close()
    local out, rc = MPI.run("LUA_CPATH=" .. MPI.sh_quote(dir .. "/?.so") .. " lua5.4 " .. MPI.sh_quote(script))
    os.execute("rm -rf " .. MPI.sh_quote(dir))
    assert.are.equal(0, rc, out)
    assert.are.equal("false\t" .. script .. ":3: init: the MPI module lunet.distributed.core is not available (it was not built; build "
      .. "lunet where Open MPI is installed: apt-get install openmpi-bin libopenmpi-dev, then make)\n3\t2\n", out)
  end)

  describe("checks its arguments before anything runs", function()
    local t = lunet.zeros(3)
    local m = nn.Conv2d(1, 1, 1)
    H.error_cases {
      { "an unknown all_reduce option", function() dist.all_reduce(t, { opp = "sum" }) end,
        "all_reduce: unknown option 'opp' (did you mean 'op'?)" },
      { "an unknown op", function() dist.all_reduce(t, { op = "avg" }) end,
        "all_reduce: option op must be 'sum', 'mean', 'max' or 'min', got 'avg'" },
      { "a non-string op", function() dist.all_reduce(t, { op = 1 }) end,
        "all_reduce: option op must be 'sum', 'mean', 'max' or 'min', got number" },
      { "a uint8 all_reduce", function() dist.all_reduce(lunet.zeros(2):to("uint8")) end,
        "all_reduce: tensor must be float32 or int32, got uint8 (reduce a converted copy: :to(\"int32\"))" },
      { "an int32 mean", function() dist.all_reduce(lunet.zeros(2):to("int32"), { op = "mean" }) end,
        "all_reduce: op 'mean' needs a float32 tensor, got int32 (sum, then divide a float32 copy)" },
      { "a non-tensor", function() dist.all_reduce("x") end, "all_reduce: tensor must be a tensor, got string" },
      { "an unknown broadcast option", function() dist.broadcast(t, { rooot = 1 }) end,
        "broadcast: unknown option 'rooot' (did you mean 'root'?)" },
      { "options to barrier", function() dist.barrier { timeout = 1 } end,
        "barrier: unknown option 'timeout' (it takes no options)" },
      { "an unknown init option", function() dist.init { timout = 5 } end,
        "init: unknown option 'timout' (did you mean 'timeout'?)" },
      { "zero threads", function() dist.init { threads = 0 } end,
        "init: option threads must be an integer >= 1, got 0" },
      { "a negative timeout", function() dist.init { timeout = -1 } end,
        "init: option timeout must be in [0.001, 1000000000.0], got -1.0" },
      { "a NaN timeout", function() dist.init { timeout = 0 / 0 } end,
        "init: option timeout must be in [0.001, 1000000000.0], got " .. tostring(0 / 0) },
      { "set_timeout(0)", function() dist.set_timeout(0) end,
        "set_timeout: seconds must be a number in [0.001, 1000000000], got 0" },
      { "rank() before init", function() dist.rank() end,
        "rank: lunet.distributed is not initialized: call init() first (and run under mpirun)" },
      { "all_reduce before init", function() dist.all_reduce(t) end,
        "all_reduce: lunet.distributed is not initialized: call init() first (and run under mpirun)" },
      { "finalize before init", function() dist.finalize() end,
        "finalize: lunet.distributed is not initialized (call init() first)" },
      { "all_gather options", function() dist.all_gather(t, { dim = 1 }) end,
        "all_gather: unknown option 'dim' (it takes no options)" },
      { "a DDP of a non-module", function() dist.DistributedDataParallel("net") end,
        "DistributedDataParallel: model must be an nn.Module, got string" },
      { "an unknown DDP option", function() dist.DistributedDataParallel(m, { bucket_cap = 1 }) end,
        "DistributedDataParallel: unknown option 'bucket_cap' (did you mean 'bucket_cap_mb'?)" },
      { "a zero bucket", function() dist.DistributedDataParallel(m, { bucket_cap_mb = 0 }) end,
        "DistributedDataParallel: option bucket_cap_mb must be a number in [0.001, 1000000], got 0" },
      { "a DDP before init", function() dist.DistributedDataParallel(m) end,
        "DistributedDataParallel: lunet.distributed is not initialized: call init() first (and run under mpirun)" },
      { "a distributed loader before init", function()
        lunet.data.DataLoader(lunet.data.TensorDataset { image = lunet.zeros(4, 1, 2, 2) }, { distributed = true })
      end, "DataLoader: distributed = true needs lunet.distributed.init() first (or give distributed = {rank =, world_size =})" },
      { "a rank outside the world", function()
        lunet.data.DataLoader(lunet.data.TensorDataset { image = lunet.zeros(4, 1, 2, 2) },
          { distributed = { rank = 2, world_size = 2 } })
      end, "DataLoader: distributed.rank must be an integer in [0, 1], got 2" },
      { "a misspelt shard option", function()
        lunet.data.DataLoader(lunet.data.TensorDataset { image = lunet.zeros(4, 1, 2, 2) },
          { distributed = { rank = 0, worldsize = 2 } })
      end, "DataLoader: unknown option 'worldsize' (did you mean 'world_size'?)" },
      { "a distributed flag of another type", function()
        lunet.data.DataLoader(lunet.data.TensorDataset { image = lunet.zeros(4, 1, 2, 2) }, { distributed = "yes" })
      end, "DataLoader: distributed must be true or a table {rank =, world_size =}, got 'yes'" },
      { "SyncBatchNorm(0)", function() nn.SyncBatchNorm(0) end,
        "SyncBatchNorm: num_features must be an integer >= 1, got 0" },
      { "a misspelt SyncBatchNorm option", function() nn.SyncBatchNorm(4, { momentun = 0.1 }) end,
        "SyncBatchNorm: unknown option 'momentun' (did you mean 'momentum'?)" },
      { "SyncBatchNorm of a wrong channel count", function() nn.SyncBatchNorm(4)(lunet.zeros(2, 3, 2, 2)) end,
        "SyncBatchNorm: input has 3 channels, expected 4 (input [2, 3, 2, 2])" },
      { "a 1-d SyncBatchNorm input", function() nn.SyncBatchNorm(4)(lunet.zeros(4)) end,
        "SyncBatchNorm: expected an input N x C x ... (2 or more dimensions), got [4]" },
      { "converting a non-module", function() nn.SyncBatchNorm.convert(3) end,
        "SyncBatchNorm.convert: model must be an nn.Module, got number" },
      { "fit{distributed = true} before init", function()
        lunet.train.fit { model = m, loss = function() end, optimizer = lunet.optim.SGD(m:parameters(), { lr = 1 }),
          train_loader = lunet.data.DataLoader(lunet.data.TensorDataset { image = lunet.zeros(2, 1, 2, 2) }),
          epochs = 1, distributed = true, progress = false }
      end, "fit: distributed = true needs lunet.distributed.init() first (and mpirun)" },
    }
  end)

  describe("shards a DataLoader as PyTorch's DistributedSampler", function()
    -- items are their own indices; the collate keeps them as a list
    local function ds(n)
      return { len = function() return n end, get = function(_, i) return i end }
    end
    local function shards(n, W, opts)
      local out = {}
      for r = 0, W - 1 do
        local o = { batch_size = opts.batch_size or 1, shuffle = opts.shuffle, seed = opts.seed,
          drop_last = opts.drop_last, distributed = { rank = r, world_size = W },
          collate = function(items) return items end }
        local loader = lunet.data.DataLoader(ds(n), o)
        local got = {}
        for batch in loader:iter() do
          for _, i in ipairs(batch) do got[#got + 1] = i end
        end
        out[r + 1] = { items = got, batches = #loader }
      end
      return out
    end
    for _, c in ipairs {
      -- n, W, drop_last, expected shards
      { 10, 3, false, { { 1, 4, 7, 10 }, { 2, 5, 8, 1 }, { 3, 6, 9, 2 } } },   -- padded by wrapping around
      { 10, 3, true, { { 1, 4, 7 }, { 2, 5, 8 }, { 3, 6, 9 } } },              -- cut to a multiple of W
      { 9, 3, false, { { 1, 4, 7 }, { 2, 5, 8 }, { 3, 6, 9 } } },
      { 2, 4, false, { { 1 }, { 2 }, { 1 }, { 2 } } },                          -- padding longer than the data
      { 1, 3, true, { {}, {}, {} } },
      { 0, 2, false, { {}, {} } },
    } do
      it(string.format("n = %d on %d ranks%s", c[1], c[2], c[3] and " with drop_last" or ""), function()
        local s = shards(c[1], c[2], { drop_last = c[3] })
        for r = 1, c[2] do assert.are.same(c[4][r], s[r].items) end
      end)
    end

    it("gives every rank the same number of batches and the same shuffle, in disjoint shards", function()
      local s = shards(23, 3, { shuffle = true, seed = 4, batch_size = 3 })
      local seen = {}
      for r = 1, 3 do
        assert.are.equal(8, #s[r].items)
        assert.are.equal(3, s[r].batches)             -- ceil(8 / 3)
        for _, i in ipairs(s[r].items) do seen[i] = (seen[i] or 0) + 1 end
      end
      local once, twice = 0, 0
      for i = 1, 23 do
        if seen[i] == 1 then once = once + 1 elseif seen[i] == 2 then twice = twice + 1 end
      end
      assert.are.same({ 22, 1 }, { once, twice })      -- 24 slots: one item padded in
      -- the order is a shuffle, the same for the same seed, and a new one each epoch
      local again = shards(23, 3, { shuffle = true, seed = 4, batch_size = 3 })
      assert.are.same(s[2].items, again[2].items)
      assert.are_not.same({ 2, 5, 8, 11, 14, 17, 20, 23 }, s[2].items)
      local loader = lunet.data.DataLoader(ds(23), { batch_size = 100, shuffle = true, seed = 4,
        distributed = { rank = 1, world_size = 3 }, collate = function(items) return items end })
      local e1, e2
      for b in loader:iter() do e1 = b end
      for b in loader:iter() do e2 = b end
      assert.are.same(s[2].items, { table.unpack(e1) })
      assert.are_not.same({ table.unpack(e1) }, { table.unpack(e2) })
    end)

    it("gives the same shards with worker processes (num_workers = 2)", function()
      local ds = lunet.data.TensorDataset { image = lunet.arange(0, 22):to("float32"):view(11, 1, 1, 2) }
      local got = {}
      for _, nw in ipairs { 0, 2 } do
        local seen = {}
        for r = 0, 2 do
          local loader = lunet.data.DataLoader(ds, { batch_size = 2, shuffle = true, seed = 9, num_workers = nw,
            distributed = { rank = r, world_size = 3 } })
          assert.are.equal(2, #loader)
          for batch in loader:iter() do
            for _, v in ipairs(H.flat(batch.image:select(4, 1))) do seen[#seen + 1] = math.tointeger(v / 2 + 1) end
          end
        end
        got[nw] = seen
      end
      assert.are.same(got[0], got[2])
      local count = {}
      for _, i in ipairs(got[0]) do count[i] = (count[i] or 0) + 1 end
      local twice = 0
      for i = 1, 11 do
        assert.is_not_nil(count[i])
        if count[i] == 2 then twice = twice + 1 end
      end
      assert.are.equal(1, twice)                         -- 12 slots for 11 items
    end)

    it("shuffles with Generator(0) when given no seed, as PyTorch's default seed", function()
      local a = shards(12, 2, { shuffle = true })
      local b = shards(12, 2, { shuffle = true, seed = 0 })
      assert.are.same(a, b)
    end)
  end)

  describe("SyncBatchNorm outside a distributed run", function()
    it("computes BatchNorm2d: forward, backward and running statistics", function()
      lunet.manual_seed(3)
      local x1 = lunet.randn(4, 3, 5, 6):mul(2):add(1)
      local x2 = x1:clone()
      x1:requires_grad(true)
      x2:requires_grad(true)
      local bn, sbn = nn.BatchNorm2d(3, { momentum = 0.3 }), nn.SyncBatchNorm(3, { momentum = 0.3 })
      lunet.no_grad(function()
        bn.weight:copy_(lunet.tensor { 0.5, 2, -1 })
        sbn.weight:copy_(lunet.tensor { 0.5, 2, -1 })
      end)
      local g = lunet.randn(4, 3, 5, 6)
      bn(x1):backward(g)
      sbn(x2):backward(g)
      assert.are.same(H.flat(x1.grad), H.flat(x2.grad))
      assert.are.same(H.flat(bn.weight.grad), H.flat(sbn.weight.grad))
      assert.are.same(H.flat(bn.running_var), H.flat(sbn.running_var))
      assert.are.equal(1, sbn.num_batches_tracked:item())
      sbn:eval()
      bn:eval()
      assert.are.same(H.flat(bn(x1)), H.flat(sbn(x1)))
    end)

    it("convert replaces every BatchNorm2d, sharing its tensors, and keeps the state-dict names", function()
      lunet.manual_seed(1)
      local inner = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4, { eps = 1e-3 }), nn.ReLU())
      local list = nn.ModuleList()
      list:append(nn.BatchNorm2d(4))
      list:append(nn.Conv2d(4, 4, 1))
      local model = nn.Sequential(inner, list, nn.BatchNorm2d(4, { momentum = 0.01, affine = false }))
      local names = {}
      for k in pairs(model:state_dict()) do names[#names + 1] = k end
      local w = inner[2].weight
      model:eval()
      local out = nn.SyncBatchNorm.convert(model)
      assert.are.equal(model, out)
      assert.are.equal("SyncBatchNorm", inner[2].__name)
      assert.are.equal("SyncBatchNorm", list[1].__name)
      assert.are.equal("SyncBatchNorm", model[3].__name)
      assert.are.equal(w, inner[2].weight)             -- the same tensor object
      assert.are.equal(1e-3, inner[2].eps)
      assert.are.equal(0.01, model[3].momentum)
      assert.is_false(model[3].affine)
      assert.is_false(list[1].training)
      assert.is_true(list[1]:is_instance_of(nn.BatchNorm2d))
      local after = {}
      for k in pairs(model:state_dict()) do after[#after + 1] = k end
      assert.are.same(names, after)
      assert.is_truthy(tostring(model):find("SyncBatchNorm(4, eps=0.001)", 1, true))
      local single = nn.SyncBatchNorm.convert(nn.BatchNorm2d(2))
      assert.are.equal("SyncBatchNorm", single.__name)
      assert.are.equal(single, nn.SyncBatchNorm.convert(single))
    end)
  end)

  it("runs callbacks queued during a backward after it (autograd.queue_callback)", function()
    local ag = lunet.autograd
    local x = lunet.tensor({ 1, 2 }):requires_grad(true)
    local y = x * 3
    local log = {}
    local z = y:detach()
    ag.record(z, { y }, function(g)
      ag.queue_callback(function() log[#log + 1] = x.grad and H.flat(x.grad) or "none" end)
      return g
    end)
    z:sum():backward()
    assert.are.same({ { 3, 3 } }, log)                 -- after the gradient reached x
    local w = (x * 2):sum()
    w:backward()
    assert.are.equal(1, #log)                          -- once
  end)

  describe("on 2 ranks (mpirun)", function()
    it("all_reduce, broadcast, all_gather, numbers and strings give every rank the right values", function()
      local out, rc = MPI.launch(2, "spec/dist/collectives.lua")
      assert.are.equal(0, rc, out)
      for r = 0, 1 do assert.is_truthy(out:find("rank " .. r .. " of 2: 71 checks passed", 1, true), out) end
    end)

    it("and on 3 ranks", function()
      local out, rc = MPI.launch(3, "spec/dist/collectives.lua")
      assert.are.equal(0, rc, out)
      for r = 0, 2 do assert.is_truthy(out:find("rank " .. r .. " of 3: 82 checks passed", 1, true), out) end
    end)

    for _, kind in ipairs { "bn", "plain" } do
      it("train 20 steps of batch 2 each to the weights of one process with batch 4 ("
        .. (kind == "bn" and "SyncBatchNorm" or "no batch norm") .. ")", function()
        local dir = MPI.tmpdir()
        local ok, err = pcall(function()
          local out, rc = MPI.lua("spec/dist/equiv.lua", { "single", kind, dir .. "/single.st" })
          assert.are.equal(0, rc, out)
          out, rc = MPI.launch(2, "spec/dist/equiv.lua", { "dist", kind, dir .. "/dist.st" })
          assert.are.equal(0, rc, out)
          local diff, n = max_rel_diff(dir .. "/single.st", dir .. "/dist.st")
          assert.are.equal(kind == "bn" and 16 or 6, n)
          assert.is_true(diff <= 1e-5, "relative difference " .. diff)
          -- a control: the same run on one rank of batch 2 (half the data) ends elsewhere
          out, rc = MPI.lua("spec/dist/equiv.lua", { "single", kind, dir .. "/half.st", "1" })
          assert.are.equal(0, rc, out)
          assert.is_true(max_rel_diff(dir .. "/half.st", dir .. "/dist.st") > 1e-2)
        end)
        os.execute("rm -rf " .. MPI.sh_quote(dir))
        if not ok then error(err, 0) end
      end)
    end

    describe("fit{distributed = true}", function()
      local dir = MPI.tmpdir()
      teardown(function() os.execute("rm -rf " .. MPI.sh_quote(dir)) end)
      local function lines(out, tag)
        local t = {}
        for l in out:gmatch("[^\n]+") do
          if l:sub(1, #tag + 1) == tag .. " " then t[#t + 1] = l end
        end
        return t
      end
      local straight, straight_history

      it("reduces the metrics exactly and writes output, log and checkpoints on rank 0 only", function()
        os.execute("mkdir -p " .. MPI.sh_quote(dir .. "/a"))
        local out, rc = MPI.launch(2, "spec/dist/fit.lua", { dir .. "/a", "2" })
        assert.are.equal(0, rc, out)
        local h = lines(out, "history")
        assert.are.equal(2, #h, out)
        local _, _, vloss, miou = h[2]:match("^history (%S+) (%S+) (%S+) (%S+)$")
        local wl, wm = lines(out, "whole")[1]:match("^whole (%S+) (%S+)$")
        assert.are.equal(tonumber(wm), tonumber(miou))   -- the summed confusion matrix is exact
        assert.is_true(math.abs(tonumber(wl) - tonumber(vloss)) <= 1e-6 * tonumber(wl))
        local f = io.open(dir .. "/a/out_rank1.txt")
        assert.are.equal("", f:read("a"))
        f:close()
        f = io.open(dir .. "/a/out_rank0.txt")
        local text = f:read("a")
        f:close()
        assert.is_truthy(text:find("epoch 2/2", 1, true), text)
        f = io.open(dir .. "/a/log.csv")
        assert.are.equal(3, select(2, f:read("a"):gsub("\n", "")))
        f:close()
        local tensors = lunet.load(dir .. "/a/ck.safetensors")
        assert.is_not_nil(tensors["rng.default"])
        assert.is_not_nil(tensors["rng.default.rank1"])
        assert.is_nil(tensors["rng.train_loader.rank2"])
        straight, straight_history = lines(out, "weights")[1], h
      end)

      it("resumes on 2 ranks as if never stopped", function()
        os.execute("mkdir -p " .. MPI.sh_quote(dir .. "/b"))
        local out, rc = MPI.launch(2, "spec/dist/fit.lua", { dir .. "/b", "1" })
        assert.are.equal(0, rc, out)
        out, rc = MPI.launch(2, "spec/dist/fit.lua", { dir .. "/b", "2" })
        assert.are.equal(0, rc, out)
        local f = io.open(dir .. "/b/out_rank0.txt")
        assert.is_truthy(f:read("a"):find("resumed from", 1, true))
        f:close()
        assert.is_not_nil(straight)
        assert.are.equal(straight, lines(out, "weights")[1])
      end)

      it("resumes a 2-rank checkpoint in one process and on 3 ranks", function()
        for _, np in ipairs { 1, 3 } do
          local d = dir .. "/c" .. np
          os.execute("mkdir -p " .. MPI.sh_quote(d) .. " && cp " .. MPI.sh_quote(dir .. "/a/ck.safetensors") .. " "
            .. MPI.sh_quote(d))
          local out, rc
          if np == 1 then out, rc = MPI.lua("spec/dist/fit.lua", { d, "3" })
          else out, rc = MPI.launch(np, "spec/dist/fit.lua", { d, "3" }) end
          assert.are.equal(0, rc, out)
          local h = lines(out, "history")
          assert.are.equal(3, #h, out)
          assert.are.same(straight_history, { h[1], h[2] })   -- epochs 1-2 come from the checkpoint
        end
      end)
    end)

    describe("faults: the job ends with a clear message instead of hanging", function()
      it("a rank that stops with an error: the other raises at once", function()
        local out, rc = MPI.launch(2, "spec/dist/fault.lua", { "error", "120" }, { guard = 100 })
        assert.are_not.equal(124, rc, out)               -- ended by itself, long before the timeout
        assert.are_not.equal(0, rc)
        assert.is_truthy(out:find("fault: rank 1 fails on purpose", 1, true), out)
        assert.is_truthy(out:find("all_reduce: rank 1 ended (called finalize() or its script stopped, e.g. on an "
          .. "error: see its output) while rank 0 waits for it in call 3 (all_reduce of 1000 float32 values (sum))",
          1, true), out)
      end)

      it("a rank that finalizes early: the other raises at once", function()
        local out, rc = MPI.launch(2, "spec/dist/fault.lua", { "finalize", "120" }, { guard = 100 })
        assert.are_not.equal(124, rc, out)
        assert.is_truthy(out:find("all_reduce: rank 1 ended", 1, true), out)
      end)

      it("a rank that is killed: mpirun stops the job and the survivor says where it was", function()
        local out, rc = MPI.launch(2, "spec/dist/fault.lua", { "kill", "120" }, { guard = 100 })
        assert.are_not.equal(124, rc, out)
        assert.are_not.equal(0, rc)
        assert.is_truthy(out:find("exited on signal 9", 1, true), out)
        assert.is_truthy(out:find("lunet.distributed: rank 0 of 2 received SIGTERM (mpirun stops every rank when one "
          .. "fails or the job is interrupted) in or after call ", 1, true), out)
      end)

      it("a rank that hangs: the other times out", function()
        local out, rc = MPI.launch(2, "spec/dist/fault.lua", { "hang", "2" }, { guard = 50 })
        assert.are_not.equal(124, rc, out)
        assert.are_not.equal(0, rc)
        assert.is_truthy(out:find("all_reduce: timed out after 2 s on rank 0 waiting for the other ranks to reach "
          .. "call 3 (all_reduce of 1000 float32 values (sum)): a rank has died, hangs, or is still busy elsewhere", 1,
          true), out)
        assert.is_truthy(out:find("lunet.distributed: rank 0 ends without MPI_Finalize (so mpirun stops the job)",
          1, true), out)
      end)

      it("a rank that exits without finalize: mpirun stops the job", function()
        local out, rc = MPI.launch(2, "spec/dist/fault.lua", { "exit", "120" }, { guard = 100 })
        assert.are_not.equal(124, rc, out)
        assert.are_not.equal(0, rc)
        assert.is_truthy(out:find("Exit code:    3", 1, true), out)
      end)
    end)
  end)
end)
