-- lunet.distributed: data-parallel training across processes and machines on Open MPI.
--
--   -- mpirun -np 4 lua5.4 train.lua        (one process per rank; see the README)
--   local lunet = require "lunet"
--   local dist = require "lunet.distributed"
--   local rank, world = dist.init()                          -- ranks are 0-based, as MPI's
--   local model = lunet.nn.SyncBatchNorm.convert(UNet{...})  -- optional: batch statistics over all ranks
--   model = dist.DistributedDataParallel(model)              -- rank 0's weights everywhere
--   local loader = lunet.data.DataLoader(ds, {batch_size = 8, shuffle = true, distributed = true})
--   local opt = lunet.optim.Adam(model:parameters(), {lr = 1e-3})
--   for batch in loader:iter() do                            -- this rank's shard of the epoch
--     opt:zero_grad()
--     loss_fn(model(batch.image), batch.mask):backward()     -- gradients averaged over the ranks
--     opt:step()                                             -- identical step on every rank
--   end
--   dist.finalize()
-- or lunet.train.fit{..., distributed = true}, which does the wrapping, reduces the metrics and
-- writes output on rank 0 only.
--
-- Collectives (tensors float32 or int32 for all_reduce, any dtype otherwise; in place):
--   init([{timeout = 600, threads =}]) -> rank, world_size   is_initialized(), rank(), world_size()
--   barrier()   broadcast(t, {root = 0}) -> t   all_reduce(t, {op = "sum"|"mean"|"max"|"min"}) -> t
--   all_gather(t) -> list of world_size tensors (views of one world_size x ... tensor)
--   finalize()   set_timeout(seconds)   get_timeout()   is_available()   version()
-- A non-contiguous tensor is reduced or broadcast through a contiguous copy written back; an
-- int32 sum that overflows int32 raises. Every rank must make the same calls in the same
-- order with tensors of the same shapes; a rank that calls something else gets an error
-- naming both calls instead of a hang or mixed-up buffers.
--
-- Faults. Every collective first checks that all ranks arrived (polling, see
-- csrc/mpi/lt_dist.h). A rank that stops with an error (or returns early) sends a leave
-- notice as its Lua state closes, and the others raise "rank k ended ... while rank j waits
-- for it in call n (...)" at once. A rank that hangs makes the others raise "timed out after
-- T s" after the timeout (default 600 s; init{timeout =}, set_timeout, or the environment
-- variable LUNET_DIST_TIMEOUT); a rank left with a failed collective ends the job with
-- MPI_Abort when its state closes. A rank killed outright is seen by mpirun, which stops the
-- others at once (each prints which call it was in when the SIGTERM came).
--
-- Randomness: DistributedDataParallel broadcasts rank 0's parameters and buffers, so the
-- seeds of the ranks only matter for dropout and augmentation, which may differ per rank.
-- A distributed DataLoader shuffles with its seed (or generator; Generator(0) by default, as
-- PyTorch's DistributedSampler), the same permutation on every rank.
local lunet = require "lunet"
local E = require "lunet.errors"
local ag = require "lunet.autograd"

local type, pairs, ipairs, tostring, pcall, error, require = type, pairs, ipairs, tostring, pcall, error, require
local getmetatable, setmetatable, select = getmetatable, setmetatable, select
local fmt, concat, sort = string.format, table.concat, table.sort
local floor, mtype = math.floor, math.type
local is_tensor = lunet.is_tensor

local M = {}

-- The C module, loaded on first use so that the sampler works without MPI.
local C, C_err
local function core(fn)
  if C then return C end
  if C_err == nil then
    local ok, mod = pcall(require, "lunet.distributed.core")
    if ok then C = mod return C end
    C_err = tostring(mod)
  end
  local why = C_err:find("module 'lunet.distributed.core' not found", 1, true) and "it was not built"
    or C_err:gsub("\n.*", "")
  E.fail(fn or "lunet.distributed", "the MPI module lunet.distributed.core is not available (%s; build lunet "
    .. "where Open MPI is installed: apt-get install openmpi-bin libopenmpi-dev, then make)", why)
end

-- The C module, after checking that init() ran.
local function ready(fn)
  local c = core(fn)
  if not c.is_initialized() then
    E.fail(fn, "lunet.distributed is not initialized: call init() first (and run under mpirun)")
  end
  return c
end

--- True when the MPI module is built (MPI itself is only started by init()).
function M.is_available()
  if C then return true end
  local ok = pcall(core)
  return ok
end

--- init([{timeout = 600, threads =}]) -> rank, world_size. Starts MPI (under mpirun, or as a
--- world of one without it). When several ranks share this machine and lunet's thread count is
--- still its default (every core), it becomes cores / (ranks on this machine), at least 1, as
--- torchrun limits OpenMP threads: ranks that each use every core slow each other down.
--- threads = n sets it instead.
function M.init(opts)
  local fn = "init"
  opts = E.options(opts, fn, { "timeout", "threads" })
  local threads = opts.threads ~= nil and E.integer(fn, "option threads", opts.threads, 1) or nil
  local c = core(fn)
  local rank, world = c.init({ timeout = opts.timeout })
  local cores = c.cores()
  local here = math.tointeger(tonumber(os.getenv("OMPI_COMM_WORLD_LOCAL_SIZE") or "")) or 1
  if threads then
    lunet.set_num_threads(threads)
  elseif here > 1 and lunet.get_num_threads() == cores then
    lunet.set_num_threads(math.max(1, cores // here))
  end
  return rank, world
end
function M.is_initialized() return M.is_available() and C.is_initialized() end
function M.rank() return core("rank").rank() end
function M.world_size() return core("world_size").world_size() end
function M.barrier(opts) return core("barrier").barrier(opts) end
function M.finalize() return core("finalize").finalize() end
function M.get_timeout() return core("get_timeout").get_timeout() end
function M.set_timeout(s) return core("set_timeout").set_timeout(s) end
function M.version() return core("version").version() end

-- Runs the in-place collective f on t, through a contiguous copy when t is a strided view.
local function in_place(fn, f, t, opts)
  if is_tensor(t) and not t:is_freed() and not t:is_contiguous() then
    local shape, stride = t:shape(), t:stride()
    for d = 1, #shape do
      if stride[d] == 0 and shape[d] > 1 then
        E.fail(fn, "tensor is an expanded view (dimension %d has stride 0): its elements overlap, so it "
          .. "cannot be written in place", d)
      end
    end
    local c = t:contiguous()
    f(c, opts)
    lunet.no_grad(function() t:copy_(c) end)
    return t
  end
  return f(t, opts)
end

function M.all_reduce(t, opts)
  local c = core("all_reduce")
  return in_place("all_reduce", c.all_reduce, t, opts)
end

function M.broadcast(t, opts)
  local c = core("broadcast")
  return in_place("broadcast", c.broadcast, t, opts)
end

--- all_gather(t) -> {t from rank 0, t from rank 1, ...}: views of one W x (t's shape) tensor.
function M.all_gather(t, opts)
  local fn = "all_gather"
  E.options(opts, fn, {})
  local c = ready(fn)
  if not is_tensor(t) then E.fail(fn, "tensor must be a tensor, got %s", E.typename(t)) end
  if t:is_freed() then E.fail(fn, "tensor was released with free()") end
  if not t:is_contiguous() then t = t:contiguous() end
  local shape = t:shape()
  local W = c.world_size()
  local out = lunet.empty({ W, table.unpack(shape) }, { dtype = t:dtype() })
  c.all_gather_into(out, t)
  local list = {}
  for k = 1, W do list[k] = out:select(1, k) end
  return list
end

--- all_reduce_numbers(list, {op = "sum"|"max"|"min"}) -> new list: integers reduced exactly
--- (int64), other numbers as doubles. For counts and loss sums.
function M.all_reduce_numbers(list, opts)
  return core("all_reduce_numbers").all_reduce_numbers(list, opts)
end

--- broadcast_string(s, {root = 0}) -> the root's string on every rank.
function M.broadcast_string(s, opts)
  return core("broadcast_string").broadcast_string(s, opts)
end

---------------------------------------------------------------------------------------------
-- sharding (DataLoader{distributed = true})
---------------------------------------------------------------------------------------------
-- PyTorch's DistributedSampler: the epoch's order (the same on every rank) is padded by
-- wrapping around to a multiple of the world size (or cut to one with drop_last), and rank r
-- takes positions r + 1, r + 1 + W, ... So every rank has the same number of items and the
-- shards of one epoch are disjoint (apart from the padding).
local Sampler = {}
Sampler.__index = Sampler

--- Items per rank and epoch for a data set of n items.
function Sampler:num_samples(n, drop_last)
  local W = self.world_size
  if drop_last and n % W ~= 0 then return n // W end
  return (n + W - 1) // W
end

--- This rank's part of the full order (a list of item indices).
function Sampler:shard(order, drop_last)
  local n, W = #order, self.world_size
  local per = self:num_samples(n, drop_last)
  local total = per * W
  local full = {}
  for i = 1, math.min(n, total) do full[i] = order[i] end
  local i = n
  while i < total do   -- pad by wrapping around (n > 0 here: total > n needs per >= 1)
    i = i + 1
    full[i] = order[(i - 1) % n + 1]
  end
  self.last_full = order
  local h = 14695981039346656
  for k = 1, n do h = (h * 31 + order[k]) % 9007199254740881 end
  self.last_hash = h
  local mine = {}
  for k = self.rank + 1, total, W do mine[#mine + 1] = full[k] end
  return mine
end

--- sampler(spec, fn) -> sampler for DataLoader's distributed option: spec is true (this
--- process's rank and world size, after init()) or {rank =, world_size =} (explicit).
function M.sampler(spec, fn)
  fn = fn or "DataLoader"
  local rank, world
  if spec == true then
    local c = core(fn)
    if not c.is_initialized() then
      E.fail(fn, "distributed = true needs lunet.distributed.init() first (or give distributed = "
        .. "{rank =, world_size =})")
    end
    rank, world = c.rank(), c.world_size()
  elseif type(spec) == "table" and getmetatable(spec) == nil then
    E.options(spec, fn, { "rank", "world_size" })
    world = E.integer(fn, "distributed.world_size", spec.world_size, 1)
    rank = E.integer(fn, "distributed.rank", spec.rank, 0, world - 1)
  else
    E.fail(fn, "distributed must be true or a table {rank =, world_size =}, got %s", E.show(spec))
  end
  return setmetatable({ rank = rank, world_size = world, generator = lunet.Generator(0) }, Sampler)
end

---------------------------------------------------------------------------------------------
-- DistributedDataParallel
---------------------------------------------------------------------------------------------
local nn = require "lunet.nn"
local Module = nn.Module
local requires_grad = Module.util.requires_grad

local DDP = Module:extend("DistributedDataParallel")
M.DistributedDataParallel = DDP

--- DistributedDataParallel(model, {bucket_cap_mb = 25, broadcast_buffers = true}):
--- rank 0's parameters and buffers are copied to every rank now; in training, every backward
--- through the wrapper's output ends with the gradients averaged over the ranks (flattened
--- into buckets of bucket_cap_mb, one all-reduce each), and with broadcast_buffers the
--- buffers (batch-norm running statistics) are copied from rank 0 before each forward.
--- A parameter without a gradient on some ranks gets the average of the others' (zeros
--- counted); one without a gradient on every rank keeps none. state_dict, load_state_dict,
--- named_parameters and named_buffers are the wrapped model's (same names).
function DDP:__init(model, opts)
  local fn = "DistributedDataParallel"
  if not Module.is_module(model) then E.fail(fn, "model must be an nn.Module, got %s", E.typename(model)) end
  if model:is_instance_of(DDP) then E.fail(fn, "model is already a DistributedDataParallel") end
  opts = E.options(opts, fn, { "bucket_cap_mb", "broadcast_buffers" })
  local cap = opts.bucket_cap_mb == nil and 25 or E.number(fn, "option bucket_cap_mb", opts.bucket_cap_mb, 1e-3, 1e6)
  if opts.broadcast_buffers ~= nil and type(opts.broadcast_buffers) ~= "boolean" then
    E.fail(fn, "option broadcast_buffers must be a boolean, got %s", E.show(opts.broadcast_buffers))
  end
  local c = ready(fn)
  self.module = model
  self.config = model.config
  self.bucket_bytes = math.max(4, floor(cap * 1048576))
  self.broadcast_buffers = opts.broadcast_buffers ~= false
  self.world_size = c.world_size()
  self.rank = c.rank()
  self.require_sync = true
  self.sync_queued = false
  local state = {}
  for _, t in ipairs(model:parameters()) do state[#state + 1] = t end
  for _, t in ipairs(model:buffers()) do state[#state + 1] = t end
  if self.world_size > 1 then c.broadcast_coalesced(state, { root = 0, bucket_bytes = self.bucket_bytes }, fn) end
end

function DDP:extra_repr()
  return fmt("world_size=%d, rank=%d", self.world_size, self.rank)
end

function DDP:state_dict(opts) return self.module:state_dict(opts) end
function DDP:load_state_dict(sd, opts) return self.module:load_state_dict(sd, opts) end
function DDP:named_parameters() return self.module:named_parameters() end
function DDP:named_buffers() return self.module:named_buffers() end

--- Averages the gradients of the trainable parameters over the ranks now (what the backward
--- does at its end; call it yourself after gradients made without the wrapper's forward).
function DDP:sync_gradients()
  self.sync_queued = false
  if self.world_size == 1 then return end
  local fn = "DistributedDataParallel"
  local params, list, flags, missing = {}, {}, {}, {}
  for _, p in ipairs(self.module:parameters()) do
    if requires_grad(p) then params[#params + 1] = p end
  end
  for i, p in ipairs(params) do
    local g = p.grad
    if g == nil then
      g = lunet.zeros(p:shape())
      missing[i] = g
      flags[i] = 0
    else
      if not g:is_contiguous() or g:dtype() ~= "float32" then
        g = g:contiguous():to("float32")
        p.grad = g
      end
      flags[i] = 1
    end
    list[i] = g
  end
  local ft = lunet.tensor(#flags > 0 and flags or { 0 })
  list[#list + 1] = ft
  C.all_reduce_coalesced(list, { op = "mean", bucket_bytes = self.bucket_bytes }, fn)
  local any = ft:totable()
  for i, g in pairs(missing) do
    if any[i] > 0 then params[i].grad = g end
  end
end

--- no_sync(fn, ...): runs fn (forward and backward passes) without averaging gradients, for
--- gradient accumulation; the next backward outside it averages what was accumulated.
function DDP:no_sync(f, ...)
  local old = self.require_sync
  self.require_sync = false
  local res = table.pack(pcall(f, ...))
  self.require_sync = old
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

-- y: out with a node whose backward (run first in a backward pass) queues the averaging.
function DDP:hook(out)
  if not is_tensor(out) or not ag.tracked(out) then return out end
  local y = out:detach()
  ag.record(y, { out }, function(g)
    if not self.sync_queued then
      self.sync_queued = true
      ag.queue_callback(function() self:sync_gradients() end)
    end
    return g
  end, "DistributedDataParallel")
  return y
end

function DDP:forward(...)
  local training = self.training and ag.is_enabled()
  self.sync_queued = false   -- also after a backward that failed before its end
  if training and self.broadcast_buffers and self.world_size > 1 then
    local bufs = self.module:buffers()
    if #bufs > 0 then
      C.broadcast_coalesced(bufs, { root = 0, bucket_bytes = self.bucket_bytes }, "DistributedDataParallel")
    end
  end
  local out = self.module(...)
  if training and self.require_sync then
    if type(out) == "table" and not is_tensor(out) then
      for k, v in pairs(out) do out[k] = self:hook(v) end
    else
      out = self:hook(out)
    end
  end
  return out
end

---------------------------------------------------------------------------------------------
-- train.fit{distributed = true}
---------------------------------------------------------------------------------------------
-- What fit needs on top of the single-process loop (lua/lunet/train/init.lua calls these):
-- the model wrapped in DistributedDataParallel, output on rank 0 only, sums over the ranks,
-- exact validation over disjoint shards, and checkpoints that resume on any number of ranks.
--
-- Checkpoints are written by rank 0 and hold rank 0's state plus, for every generator fit
-- checkpoints, each rank's state ("rng.<name>.rank<r>" for r >= 1). On resume rank 0 reads
-- the file and sends its bytes to the others (no shared file system needed); each rank
-- restores its own generators. Resumed on the same number of ranks, a run continues as if
-- never stopped. On a different number of ranks the shards differ anyway: the loaders'
-- generators (the shuffle, the same on every rank) take rank 0's state, and a rank with no
-- saved state seeds its other generators from rank 0's state and its rank.
local Fit = {}
Fit.__index = Fit

local shared_generators = { train_loader = true, val_loader = true }

local function is_lunet_loader(v)
  local mt = type(v) == "table" and getmetatable(v)
  return mt and mt.__name == "lunet.data.DataLoader"
end

--- fit_support(opts) -> the helper fit uses (opts are fit's, already checked).
function M.fit_support(opts)
  local fn = "fit"
  if opts.distributed ~= true then
    E.raise("fit: distributed must be true or nil, got " .. E.show(opts.distributed))
  end
  local c = core(fn)
  if not c.is_initialized() then
    E.raise("fit: distributed = true needs lunet.distributed.init() first (and mpirun)")
  end
  local model = opts.model
  if not Module.is_module(model) then
    E.raise("fit: distributed = true needs model to be an nn.Module (it is wrapped in DistributedDataParallel), got "
      .. E.typename(model))
  end
  if is_lunet_loader(opts.train_loader) and not opts.train_loader.distributed and c.world_size() > 1 then
    E.raise("fit: distributed = true but train_loader is not sharded: every rank would train on the whole data set; "
      .. "build it with DataLoader(ds, {distributed = true, ...})")
  end
  if not model:is_instance_of(DDP) then model = DDP(model) end
  return setmetatable({ model = model, rank = c.rank(), world_size = c.world_size() }, Fit)
end

--- The progress mode for this rank: rank 0 shows fit's, the others stay silent.
function Fit:progress(mode)
  return self.rank == 0 and mode or "none"
end

--- (loss_sum, items) of this rank -> the sums over every rank; also checks that the ranks
--- shuffled the train loader identically (disjoint shards).
function Fit:sum_epoch(loss_sum, items, train_loader)
  local s = C.all_reduce_numbers({ loss_sum + 0.0, items }, { op = "sum" })
  local sampler = type(train_loader) == "table" and train_loader.distributed
  if type(sampler) == "table" and sampler.last_hash then
    local h = C.all_reduce_numbers({ sampler.last_hash, -sampler.last_hash }, { op = "max" })
    if h[1] ~= -h[2] then
      E.raise("fit: the ranks' train_loader drew different orders, so their shards overlap: give the "
        .. "loader the same seed (or generator state) on every rank")
    end
  end
  return s[1], s[2]
end

-- An iterator over this rank's exact share of the loader's epoch (no padding).
local function exact_shard(loader, rank, world)
  local order = loader:order()   -- this rank's shard when the loader is sharded
  local sampler = loader.distributed
  local full = type(sampler) == "table" and sampler.last_full or order
  local mine = {}
  for k = rank + 1, #full, world do mine[#mine + 1] = full[k] end
  local bs = loader.batch_size
  return {
    n = #mine,
    iter = function()
      local b = 0
      return function()
        b = b + 1
        local first = (b - 1) * bs + 1
        if first > #mine then return nil end
        local idx = {}
        for k = first, math.min(b * bs, #mine) do idx[#idx + 1] = mine[k] end
        return loader:batch(idx), b
      end
    end,
  }
end

--- evaluate(evaluate_fn, model, loader, eopts) -> global ConfusionMatrix, mean loss: every
--- rank evaluates a disjoint share of the loader's data (each item exactly once over the
--- ranks, whether or not the loader is sharded), then the confusion matrices and loss sums
--- are summed, so the metrics are those of one process on the whole set. A loader that is not
--- an lunet DataLoader is evaluated whole on every rank (no reduction needed).
function Fit:evaluate(evaluate_fn, model, loader, eopts)
  if not is_lunet_loader(loader) or type(loader.batch) ~= "function" or type(loader.order) ~= "function" then
    return evaluate_fn(model, loader, eopts)
  end
  local shard = exact_shard(loader, self.rank, self.world_size)
  local cm, vloss = evaluate_fn(model, shard, eopts)
  local nc = C.all_reduce_numbers({ cm and cm.num_classes or 0 }, { op = "max" })[1]
  if nc == 0 then return nil, nil end
  if cm == nil then cm = require("lunet.metrics").ConfusionMatrix(nc, { ignore_index = eopts.ignore_index }) end
  if cm.num_classes ~= nc or type(cm.cells) ~= "table" then
    E.raise(fmt("fit: the ranks' confusion matrices differ in size (%d and %d classes)", cm.num_classes, nc))
  end
  local vals = {}
  local cells = cm.cells
  for i = 1, nc * nc do vals[i] = cells[i] end
  vals[#vals + 1] = (vloss or 0.0) * shard.n + 0.0
  vals[#vals + 1] = shard.n
  local s = C.all_reduce_numbers(vals, { op = "sum" })
  for i = 1, nc * nc do cells[i] = s[i] end
  local n = s[#s]
  return cm, (vloss ~= nil and n > 0) and s[#s - 1] / n or nil
end

--- Does the checkpoint exist (as rank 0 sees it)?
function Fit:exists(path)
  local e = 0
  if self.rank == 0 then
    local f = io.open(path, "rb")
    if f then f:close(); e = 1 end
  end
  return C.all_reduce_numbers({ e }, { op = "max" })[1] == 1
end

--- load(ckpt, path) -> the checkpoint read by rank 0, its bytes sent to every rank.
function Fit:load(ckpt, path)
  local bytes
  if self.rank == 0 then
    local f, msg = io.open(path, "rb")
    if not f then E.raise("fit: cannot read the checkpoint: " .. tostring(msg)) end
    bytes = f:read("a")
    f:close()
  end
  bytes = C.broadcast_string(bytes, { root = 0 })
  if self.rank == 0 then return ckpt.load(path) end
  local tmp = os.tmpname()
  local f = assert(io.open(tmp, "wb"))
  f:write(bytes)
  f:close()
  local ok, c = pcall(ckpt.load, tmp)
  os.remove(tmp)
  if not ok then error(c, 0) end
  c.path = path
  return c
end

-- A generator state (int32 tensor) for a rank that has none saved: rank 0's, reseeded from
-- its values and the rank.
local function derived_state(base, rank)
  local h = 1469598103934665
  for _, v in ipairs(base:totable()) do h = (h * 31 + v) % 9007199254740881 end
  local g = lunet.Generator(h + rank)
  return g:get_state()
end

--- restore(ckpt, c, parts): model, optimizer, scheduler as fit does, and each rank's generators.
function Fit:restore(ckpt, c, parts)
  ckpt.restore(c, { model = parts.model, optimizer = parts.optimizer, scheduler = parts.scheduler })
  local names = {}
  for name in pairs(parts.generators or {}) do names[#names + 1] = name end
  sort(names)
  for _, name in ipairs(names) do
    local base = c.rng[name]
    if base == nil then
      E.raise(fmt("fit: resume from '%s': the checkpoint holds no state for generator '%s'", tostring(c.path), name))
    end
    local st = base
    if self.rank > 0 and not shared_generators[name] then
      st = c.rng[name .. ".rank" .. self.rank] or derived_state(base, self.rank)
    end
    parts.generators[name]:set_state(st)
  end
end

--- generators(gens) -> what rank 0 saves: every rank's state of each generator (a
--- collective: every rank calls it).
function Fit:generators(gens)
  local names = {}
  for name in pairs(gens) do names[#names + 1] = name end
  sort(names)
  local out = {}
  for _, name in ipairs(names) do
    local states = M.all_gather(gens[name]:get_state())
    local function proxy(t) return { get_state = function() return t end } end
    out[name] = proxy(states[1])
    for r = 2, #states do out[name .. ".rank" .. (r - 1)] = proxy(states[r]) end
  end
  return out
end

return M
