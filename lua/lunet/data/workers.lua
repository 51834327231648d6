-- lunet.data.workers: DataLoader{num_workers = N} — worker processes that load, augment and
-- collate batches while the training thread computes, and the per-sample random streams
-- that make the batches the same for every num_workers (lua/lunet/data/loader.lua calls in).
--
--   local loader = data.DataLoader(ds, {batch_size = 16, shuffle = true, seed = 1,
--                                       num_workers = 2, prefetch_factor = 2,
--                                       persistent_workers = true,
--                                       worker_init_fn = function(id) ... end})
--   for batch, i in loader:iter() do ... end      -- breaking out or an error stops the
--                                                 -- workers (the loop's closing value)
--   data.get_worker_info()    -- in a worker: {id=, num_workers=, seed=, dataset=}; else nil
--
-- Why processes and not threads with their own Lua states: fork() hands each worker the
-- dataset, its transforms and every closure as they are, with no serialization (Lua values
-- cannot cross states); OpenBLAS keeps one thread count per process, so single-threaded
-- workers beside a multithreaded training thread need their own processes; and the C core
-- had process-global scratch buffers and caches when this was written (it has one context
-- per Lua state since). The pool (lua_workers.c) forks N workers when an epoch starts (once,
-- with persistent_workers); each one runs loader:batch(indices) for the batches dealt to it
-- (batch b goes to worker (b - 1) % N, as PyTorch deals them), writes the collated batch
-- into one of its prefetch_factor shared-memory slots and sends a small header; the loader
-- copies the tensors out, in batch order, and deals the next batch to the worker that just
-- delivered. Other batch fields (index lists, names, numbers, strings, booleans, nested
-- tables) travel in the same slot, encoded below.
--
-- Random streams: at each iter() the loader draws an epoch seed from its generator (seed=,
-- generator=, else lunet's default generator), after the shuffle. While sample i is
-- produced, lunet's default generator is reseeded with splitmix64(epoch seed ~
-- splitmix64(i)) and every transform (Compose or a lone transform) draws from it, whatever
-- generator the transform holds; the loader's process restores its default generator after
-- each sample. So sample i of an epoch gets the same augmentation with 0, 1 or N workers, in
-- any worker. Each worker also seeds its default generator from (epoch seed, worker id) when
-- it starts, so draws outside samples (worker_init_fn) differ between workers.
--
-- Errors: a failure in dataset:get (or in collate) is raised in the loader's process as
--   DataLoader: worker 1 (pid 4242) failed on sample 17 of batch 3: <message>
--   worker stack traceback: ...
-- A worker that dies is reported with its signal or exit status; timeout = s (default 0:
-- none) bounds the wait for one batch. Workers run lunet with worker_threads compute threads
-- (default 1, so N workers never oversubscribe the cores the training thread uses).
local core = require "lunet.core"
local E = require "lunet.errors"
local B = require "lunet.transforms.base"

local CW = core.workers
local type, pairs, setmetatable, tostring, error = type, pairs, setmetatable, tostring, error
local xpcall, pcall, traceback = xpcall, pcall, debug.traceback
local math_type, min = math.type, math.min
local fmt, spack, sunpack, concat = string.format, string.pack, string.unpack, table.concat
local is_tensor = core.is_tensor

local W = {}

local lunet_mod
local function L()
  if not lunet_mod then lunet_mod = require "lunet" end
  return lunet_mod
end

W.option_names = { "num_workers", "prefetch_factor", "persistent_workers", "worker_init_fn",
                   "worker_threads", "timeout" }

--- Reads and checks the worker options of DataLoader(ds, opts) into the loader.
function W.configure(loader, opts)
  local fn = "DataLoader"
  local n = opts.num_workers
  n = n == nil and 0 or E.integer(fn, "num_workers", n, 0, 256)
  if n == 0 and opts.prefetch_factor ~= nil then
    E.fail(fn, "prefetch_factor needs num_workers > 0 (got prefetch_factor = %s with num_workers = 0)",
           E.show(opts.prefetch_factor))
  end
  if n == 0 and opts.persistent_workers then
    E.fail(fn, "persistent_workers needs num_workers > 0")
  end
  local pf = opts.prefetch_factor
  pf = pf == nil and 2 or E.integer(fn, "prefetch_factor", pf, 1, 64)
  local pw = opts.persistent_workers
  if pw ~= nil and type(pw) ~= "boolean" then
    E.fail(fn, "persistent_workers must be a boolean, got %s", E.show(pw))
  end
  local init = opts.worker_init_fn
  if init ~= nil and type(init) ~= "function" then
    E.fail(fn, "worker_init_fn must be a function, got %s", E.show(init))
  end
  local wt = opts.worker_threads
  wt = wt == nil and 1 or E.integer(fn, "worker_threads", wt, 1, 4096)
  local timeout = opts.timeout
  timeout = timeout == nil and 0 or E.number(fn, "timeout", timeout, 0)
  loader.num_workers, loader.prefetch_factor = n, pf
  loader.persistent_workers = pw or false
  loader.worker_init_fn, loader.worker_threads, loader.timeout = init, wt, timeout
  return loader
end

-- ------------------------------------------------------------------ random streams

-- splitmix64's output function (Lua integers wrap like uint64; >> is logical).
local function mix(x)
  x = x + 0x9E3779B97F4A7C15
  x = (x ~ (x >> 30)) * 0xBF58476D1CE4E5B9
  x = (x ~ (x >> 27)) * 0x94D049BB133111EB
  return x ~ (x >> 31)
end

--- The seed of sample i (a dataset index) in the epoch whose seed is base.
function W.sample_seed(base, i) return mix(base ~ mix(i)) end
--- The seed of worker w's default generator (negative keys never meet a sample index).
function W.worker_seed(base, w) return mix(base ~ mix(-1 - w)) end

--- Draws the epoch seed from the loader's generator (or the default one).
function W.epoch_seed(loader)
  local g = loader.generator or L().default_generator()
  return g:random(0, (1 << 62) - 1)
end

local current_index        -- the dataset index being produced (error reports)

local restore_mt = { __close = function(c)
  c.gen:set_state(c.state)
  B.sample_rng = c.prev
  current_index = c.prev_index
end }

--- ds:get(i) with sample i's random stream active (seed = the epoch seed; nil: plain get).
function W.get(ds, i, seed)
  if seed == nil then return ds:get(i) end
  local gen = L().default_generator()
  local c <close> = setmetatable({ gen = gen, state = gen:get_state(), prev = B.sample_rng,
                                   prev_index = current_index }, restore_mt)
  gen:manual_seed(W.sample_seed(seed, i))
  B.sample_rng = { generator = gen }
  current_index = i
  return ds:get(i)
end

local worker_info

--- In a worker: {id = 0-based worker id, num_workers =, seed =, dataset =}; nil elsewhere.
function W.get_worker_info() return worker_info end

-- ------------------------------------------------------------------ batch encoding

-- Values of a batch table as bytes; tensors go to a list (their bytes go to the slot).
local function encode(v, out, tensors, tindex, seen, path)
  local t = type(v)
  if t == "number" then
    if math_type(v) == "integer" then out[#out + 1] = spack("<c1j", "i", v)
    else out[#out + 1] = spack("<c1n", "n", v) end
  elseif t == "string" then
    out[#out + 1] = spack("<c1s4", "s", v)
  elseif t == "boolean" then
    out[#out + 1] = v and "T" or "F"
  elseif is_tensor(v) then
    local k = tindex[v]
    if not k then
      k = #tensors + 1
      tensors[k], tindex[v] = v, k
    end
    out[#out + 1] = spack("<c1I4", "x", k)
  elseif t == "table" then
    if seen[v] then error(fmt("%s holds itself (a cycle)", path), 0) end
    seen[v] = true
    local n = 0
    for _ in pairs(v) do n = n + 1 end
    out[#out + 1] = spack("<c1I4", "t", n)
    for k, x in pairs(v) do
      local kt = type(k)
      if kt ~= "number" and kt ~= "string" and kt ~= "boolean" then
        error(fmt("%s has a %s key; a worker sends tables with number, string or boolean keys", path, kt), 0)
      end
      encode(k, out, tensors, tindex, seen, path)
      encode(x, out, tensors, tindex, seen, path .. "." .. tostring(k))
    end
    seen[v] = nil
  else
    error(fmt("%s is a %s; a worker sends tensors, numbers, strings, booleans and tables of them",
              path, t == "userdata" and E.typename(v) or t), 0)
  end
end

local function decode(s, pos, tensors)
  local tag = s:sub(pos, pos)
  pos = pos + 1
  if tag == "i" then return sunpack("<j", s, pos)
  elseif tag == "n" then return sunpack("<n", s, pos)
  elseif tag == "s" then return sunpack("<s4", s, pos)
  elseif tag == "T" then return true, pos
  elseif tag == "F" then return false, pos
  elseif tag == "x" then
    local k
    k, pos = sunpack("<I4", s, pos)
    return tensors[k], pos
  elseif tag == "t" then
    local n
    n, pos = sunpack("<I4", s, pos)
    local r = {}
    for _ = 1, n do
      local k, v
      k, pos = decode(s, pos, tensors)
      v, pos = decode(s, pos, tensors)
      r[k] = v
    end
    return r, pos
  end
  error(fmt("DataLoader: corrupt batch encoding (tag %q at byte %d)", tag, pos - 1), 0)
end

W.encode = function(v)
  local out, tensors = {}, {}
  encode(v, out, tensors, {}, {}, "the batch")
  return concat(out), tensors
end
W.decode = function(s, tensors) return (decode(s, 1, tensors or {})) end

-- ------------------------------------------------------------------ the worker process

-- Keeps the worker's own frames of a traceback (below them is the loader's stack at fork).
local function worker_frames(tb)
  local cut = tb:find("\n%s*%[C%]: in function 'xpcall'")
  if cut then tb = tb:sub(1, cut - 1) end
  return tb
end

local function worker_main(pool, loader, seed, w)
  local pid = CW.getpid()
  local wseed = W.worker_seed(seed, w)
  worker_info = { id = w, num_workers = loader.num_workers, seed = wseed, dataset = loader.dataset }
  L().manual_seed(wseed)
  local failure   -- { where =, msg =, tb = } from the handler
  local function handler(e)
    failure = {
      where = current_index and fmt("on sample %d", current_index) or "collating",
      msg = type(e) == "string" and e or tostring(e),
      tb = worker_frames(traceback("", 2)),
    }
    return e
  end
  local init_err
  if loader.worker_init_fn then
    failure = nil
    if not xpcall(loader.worker_init_fn, handler, w) then
      init_err = fmt("worker %d (pid %d) failed in worker_init_fn: %s\nworker %s", w, pid, failure.msg,
                     (failure.tb:gsub("^\n", "")))
    end
  end
  while true do
    local msg = pool:recv()
    if msg == nil then return end
    local b, slot, eseed, idx = sunpack("<jjjs4", msg)
    local indices = W.decode(idx)
    local delivered
    if init_err then
      delivered = pool:put_error(b, slot, init_err)
    else
      failure, current_index = nil, nil
      local ok, batch = xpcall(loader.batch, handler, loader, indices, eseed)
      if ok then
        local ok2, err = pcall(function()
          local meta, tensors = W.encode(batch)
          delivered = pool:put(b, slot, meta, tensors)
        end)
        if not ok2 then
          delivered = pool:put_error(b, slot, fmt("worker %d (pid %d) cannot send batch %d: %s", w, pid, b, tostring(err)))
        end
      else
        delivered = pool:put_error(b, slot, fmt("worker %d (pid %d) failed %s of batch %d: %s\nworker %s", w, pid,
                                                failure.where, b, failure.msg, (failure.tb:gsub("^\n", ""))))
      end
    end
    if not delivered then return end   -- the loader stopped listening
  end
end

-- ------------------------------------------------------------------ the loader's side

local function start_pool(loader, seed)
  local pool = CW.pool(loader.num_workers, loader.prefetch_factor)
  pool:start(function(w) worker_main(pool, loader, seed, w) end, loader.worker_threads)
  return { pool = pool, pending = {}, head = 1, tail = 0 }
end

-- Waits for batch b of worker w; a signal (Ctrl-C) returns to Lua between waits, so the
-- interpreter's hook can raise "interrupted!".
local function take(P, w, b, timeout)
  while true do
    local kind, x, y = P.pool:take(w, b, timeout)
    if kind ~= "intr" then return kind, x, y end
  end
end

-- Reads and drops what a persistent pool still owes from an epoch left early.
local function drain(P, timeout)
  while P.head <= P.tail do
    local e = P.pending[P.head]
    P.pending[P.head], P.head = nil, P.head + 1
    local kind = take(P, e.w, e.b, timeout)
    if kind == "dead" or kind == "timeout" then return false end
  end
  return true
end

local function stop(loader, P)
  P.pool:stop()
  if loader._workers == P then loader._workers = nil end
end

local function pid_of(P, w)
  return P.pids[w + 1] or 0
end

--- One epoch with worker processes: returns the generic-for iterator, nil, nil and a
--- closing value that stops (or, with persistent workers, keeps) the pool.
function W.iter(loader)
  local order = loader:order()
  local seed = W.epoch_seed(loader)
  local nb, bs = loader:len(), loader.batch_size
  local N, pf = loader.num_workers, loader.prefetch_factor
  local timeout = loader.timeout
  if nb == 0 then return function() return nil end end
  local P = loader._workers
  if P and (P.pool:stopped() or not drain(P, timeout)) then
    stop(loader, P)
    P = nil
  end
  if not P then
    P = start_pool(loader, seed)
    P.pids = P.pool:pids()
    if loader.persistent_workers then loader._workers = P end
  end
  loader._current = setmetatable({ P = P }, { __mode = "v" })   -- for pids(), not kept alive
  local epoch = {}
  P.epoch = epoch                    -- a newer iter() on a persistent pool takes it over
  local sent, b, done = 0, 0, false
  local function send_next()
    if sent >= nb then return end
    sent = sent + 1
    local w, slot = (sent - 1) % N, ((sent - 1) // N) % pf
    local idx = {}
    for k = (sent - 1) * bs + 1, min(sent * bs, #order) do idx[#idx + 1] = order[k] end
    P.pool:send(w, spack("<jjjs4", sent, slot, seed, (W.encode(idx))))   -- a dead worker shows in take
    P.tail = P.tail + 1
    P.pending[P.tail] = { w = w, b = sent }
  end
  local function finish(broken)
    if done or P.epoch ~= epoch then return end
    done = true
    if broken or not loader.persistent_workers then stop(loader, P) end
  end
  for _ = 1, N * pf do send_next() end
  local closer = setmetatable({}, { __close = function() finish(false) end })
  return function()
    if b >= nb then
      finish(false)
      return nil
    end
    if P.epoch ~= epoch then
      E.fail("DataLoader", "this iterator was superseded by a newer iter() of the same loader (persistent workers serve one epoch at a time)")
    end
    b = b + 1
    local e = P.pending[P.head]
    P.pending[P.head], P.head = nil, P.head + 1
    local kind, x, y = take(P, e.w, e.b, timeout)
    if kind == "ok" then
      local batch = W.decode(x, y)
      send_next()
      return batch, b
    end
    local w = e.w
    if kind == "error" then
      finish(false)
      E.raise("DataLoader: " .. x)
    elseif kind == "timeout" then
      finish(true)
      E.fail("DataLoader", "timed out after %s s waiting for batch %d from worker %d (pid %d)",
             E.show(timeout), b, w, pid_of(P, w))
    else
      finish(true)
      E.fail("DataLoader", "worker %d (pid %d) %s while batch %d was due", w, pid_of(P, w), x, b)
    end
  end, nil, nil, closer
end

--- Process ids of the loader's running workers: the persistent pool's, else those of the
--- epoch in progress ({} when none runs).
function W.pids(loader)
  local P = loader._workers or (loader._current and loader._current.P)
  if not P or P.pool:stopped() then return {} end
  return P.pool:pids()
end

--- Stops the persistent workers now (the next iter() starts new ones).
function W.shutdown(loader)
  local P = loader._workers
  if P then stop(loader, P) end
end

return W
