-- lunet.data.DataLoader: batches of a dataset, optionally shuffled with its own seeded
-- generator.
--
--   local loader = data.DataLoader(ds, {batch_size = 8, shuffle = true, seed = 1})
--   for epoch = 1, 10 do
--     for batch, i in loader:iter() do      -- one epoch; i = batch number 1..#loader
--       -- batch.image  float32 N x C x H x W, batch.mask int32 N x H x W
--     end
--   end
--   print(#loader)                          -- number of batches per epoch
--
-- Protocol: loader:iter() returns a generic-for iterator over one epoch, yielding
-- (batch, batch_number). Each call of iter() starts a new epoch; with shuffle=true it draws a
-- new order from the loader's generator (lunet.Generator(seed) when seed is given, else
-- opts.generator, else the default generator of lunet.manual_seed), so the same seed gives
-- the same sequence of epochs. drop_last drops a final incomplete batch.
--
-- Collation: the samples' image fields are stacked to N x C x H x W float32 (uint8 images
-- are divided by 255, int32 16-bit images by 65535, float32 kept as they are; an H x W image
-- becomes 1 x H x W); masks to N x H x W int32 (values kept, 255 stays 255; 1 x H x W masks
-- are squeezed). All items of a batch must have the same size. Other fields (name, index,
-- numbers) are gathered into lists. collate(samples, indices) gets the dataset indices of the
-- samples, and its errors name the item (dataset:get(i)) at fault: every sample must be a
-- table with an image tensor, all or none of a batch have a mask, and images (masks) agree in
-- shape and dtype. A get(i) that returns nil raises naming i, whatever the collate. A
-- dataset offering has_batch() / get_batch(indices) (TensorDataset without transform) is
-- batched without per-item copies.
--
-- Workers: DataLoader(ds, {num_workers = N, prefetch_factor = 2, persistent_workers = false,
-- worker_init_fn = fn, worker_threads = 1, timeout = 0}) loads, augments and collates in N
-- worker PROCESSES (defaults as PyTorch's; 0 = in this process), forked when an epoch
-- starts (once with persistent_workers), each with prefetch_factor batches in flight and
-- worker_init_fn(worker_id) (0-based) called in it. Processes, not threads with their own
-- Lua states: fork() shares the dataset with no serialization, OpenBLAS keeps one thread
-- count per process, and the C core had process-global scratch buffers and caches when the
-- workers were written. Batches come back through shared memory. The
-- same seed gives the same batches for every num_workers: each sample draws its
-- augmentation from a stream seeded by (epoch seed, dataset index), the epoch seed coming
-- from the loader's generator after the shuffle. Breaking out of the loop or an error stops
-- the workers (the loop's closing value). Details in lunet/data/workers.lua.
local type, pairs, ipairs, tostring, setmetatable = type, pairs, ipairs, tostring, setmetatable
local E = require "lunet.errors"
local getmetatable, floor = getmetatable, math.floor
local fmt, concat = string.format, table.concat

local M = {}

local lunet_mod
local function L()
  if not lunet_mod then lunet_mod = require "lunet" end
  return lunet_mod
end

local is_tensor = require("lunet.core").is_tensor
local workers = require "lunet.data.workers"

local function shape_str(t)
  return "[" .. concat(t:shape(), ", ") .. "]"
end

--- Length of a dataset: ds:len() or #ds.
local function dataset_len(ds, fn)
  local n
  if type(ds.len) == "function" then
    n = ds:len()
  else
    local mt = getmetatable(ds)
    if mt and mt.__len then n = #ds end
  end
  if type(n) ~= "number" or n < 0 or n % 1 ~= 0 then
    E.fail(fn, "dataset length must be a non-negative integer, got %s", E.show(n))
  end
  return floor(n)
end
M.dataset_len = dataset_len

local function to_image_float(t)
  local dt = t:dtype()
  if dt == "uint8" then return t:to("float32"):div(255) end
  if dt == "int32" then return t:to("float32"):div(65535) end
  return t
end

-- Sorted field names of a sample, for messages.
local function field_names(s)
  local keys = {}
  for k in pairs(s) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  return #keys > 0 and concat(keys, ", ") or "none"
end

--- collate(samples [, indices]) -> {image=N x C x H x W float32, mask=N x H x W int32, <key>={...}}
--- indices (the samples' dataset indices) name the item at fault in errors ("item 7" is
--- dataset:get(7)); without them an item is named by its position in samples.
function M.collate(samples, indices)
  local fn = "DataLoader"
  local lunet = L()
  local n = indices and #indices or #samples
  local function item(i) return indices and indices[i] or i end
  local images, masks, extra = {}, {}, {}
  for i = 1, n do
    local s = samples[i]
    if type(s) ~= "table" then
      E.fail(fn, "dataset:get(%d) returned %s, expected a table {image=, mask=}", item(i),
             s == nil and "nil" or "a " .. E.typename(s))
    end
    if s.image == nil then
      E.fail(fn, "item %d has no image (dataset:get(%d) gave a table with fields: %s)", item(i), item(i), field_names(s))
    end
    for k, v in pairs(s) do
      if k == "image" then
        if not is_tensor(v) then E.fail(fn, "item %d: image is not a tensor, got %s", item(i), E.typename(v)) end
        if v:dim() == 2 then v = v:unsqueeze(1) end
        if v:dim() ~= 3 then
          E.fail(fn, "item %d: image must be C x H x W (or H x W), got %s", item(i), shape_str(v))
        end
        images[i] = v
      elseif k == "mask" then
        if not is_tensor(v) then E.fail(fn, "item %d: mask is not a tensor, got %s", item(i), E.typename(v)) end
        if v:dim() == 3 and v:size(1) == 1 then v = v:select(1, 1) end
        if v:dim() ~= 2 then
          E.fail(fn, "item %d: mask must be H x W (or 1 x H x W), got %s", item(i), shape_str(v))
        end
        if v:dtype() == "float32" then
          E.fail(fn, "item %d: mask must hold class ids (int32 or uint8), got float32", item(i))
        end
        masks[i] = v
      else
        extra[k] = extra[k] or {}
        extra[k][i] = v
      end
    end
  end
  local batch = {}
  for k, list in pairs(extra) do batch[k] = list end
  -- every item has an image (checked above); masks: all items or none
  local with, without
  for i = 1, n do
    if masks[i] then with = with or i else without = without or i end
  end
  if with and without then
    E.fail(fn, "item %d has no mask but item %d has one (all items of a batch need one, or none)",
           item(without), item(with))
  end
  for _, pair in ipairs({{"image", images}, {"mask", masks}}) do
    local key, list = pair[1], pair[2]
    if list[1] ~= nil then
      local ref = list[1]
      for i = 2, n do
        local t = list[i]
        local same = t:dim() == ref:dim() and t:dtype() == ref:dtype()
        for d = 1, ref:dim() do same = same and t:size(d) == ref:size(d) end
        if not same then
          E.fail(fn, "%ss in a batch differ: item %d is %s %s, item %d is %s %s (resize or crop them to one size)",
                 key, item(1), shape_str(ref), ref:dtype(), item(i), shape_str(t), t:dtype())
        end
      end
      local st = lunet.stack(list, 1)
      if key == "image" then batch.image = to_image_float(st)
      else batch.mask = st:dtype() == "int32" and st or st:to("int32") end
    end
  end
  return batch
end

local DataLoader = {}
DataLoader.__index = DataLoader
DataLoader.__name = "lunet.data.DataLoader"

local loader_opts = {batch_size = true, shuffle = true, drop_last = true, seed = true,
                     generator = true, collate = true, distributed = true}
for _, k in ipairs(workers.option_names) do loader_opts[k] = true end

--- DataLoader(ds, {batch_size=1, shuffle=false, drop_last=false, seed=, generator=, collate=,
--- distributed=}): distributed = true (or {rank=, world_size=}) iterates this rank's shard of each
--- epoch, as PyTorch's DistributedSampler (lunet.distributed.sampler).
function M.DataLoader(ds, opts)
  local fn = "DataLoader"
  if (type(ds) ~= "table" and type(ds) ~= "userdata") or type(ds.get) ~= "function" then
    E.fail(fn, "dataset must have a get(i) method, got %s", E.typename(ds))
  end
  opts = E.options(opts, fn, loader_opts)
  local bs = E.integer(fn, "batch_size", opts.batch_size or 1, 1)
  for _, k in ipairs({"shuffle", "drop_last"}) do
    if opts[k] ~= nil and type(opts[k]) ~= "boolean" then
      E.fail(fn, "%s must be true or false, got %s", k, E.show(opts[k]))
    end
  end
  local g = opts.generator
  if g ~= nil and not (type(g) == "userdata" or type(g) == "table") then
    E.fail(fn, "generator must be a lunet.Generator, got %s", E.typename(g))
  end
  if opts.seed ~= nil then
    g = L().Generator(E.integer(fn, "seed", opts.seed))
  end
  if opts.collate ~= nil and type(opts.collate) ~= "function" then
    E.fail(fn, "collate must be a function, got %s", E.typename(opts.collate))
  end
  dataset_len(ds, fn)
  -- distributed: this rank's shard of each epoch (lunet.distributed's sampler)
  local sampler = opts.distributed and require("lunet.distributed").sampler(opts.distributed, fn) or nil
  if sampler and g == nil then g = sampler.generator end
  return workers.configure(setmetatable({
    dataset = ds, batch_size = bs, shuffle = opts.shuffle and true or false,
    drop_last = opts.drop_last and true or false, generator = g, collate = opts.collate or M.collate,
    distributed = sampler,
  }, DataLoader), opts)
end

--- Number of batches per epoch.
function DataLoader:len()
  local n = dataset_len(self.dataset, "DataLoader")
  if self.distributed then n = self.distributed:num_samples(n, self.drop_last) end
  if self.drop_last then return n // self.batch_size end
  return (n + self.batch_size - 1) // self.batch_size
end
DataLoader.__len = DataLoader.len

-- A permutation drawn from the loader's generator (or the default one): the same
-- generator state gives the same order everywhere.
local function permutation(n, g)
  local p = g and g:randperm(n) or L().randperm(n)
  return p:totable()
end

--- Item order of the next epoch (draws from the generator when shuffling); with distributed,
--- this rank's shard of it.
function DataLoader:order()
  local n = dataset_len(self.dataset, "DataLoader")
  local o
  if self.shuffle then o = permutation(n, self.generator)
  else
    o = {}
    for i = 1, n do o[i] = i end
  end
  if self.distributed then o = self.distributed:shard(o, self.drop_last) end
  return o
end

--- Collated batch of the given dataset indices; with seed (an epoch seed), each sample is
--- produced with its own random stream (workers.get).
function DataLoader:batch(indices, seed)
  local ds = self.dataset
  if self.collate == M.collate and type(ds.get_batch) == "function" and
     (type(ds.has_batch) ~= "function" or ds:has_batch()) then
    local b = ds:get_batch(indices)
    if b.image then
      if b.image:dim() == 3 then b.image = b.image:unsqueeze(2) end
      b.image = to_image_float(b.image)
    end
    if b.mask then
      if b.mask:dim() == 4 and b.mask:size(2) == 1 then b.mask = b.mask:select(2, 1) end
      if b.mask:dtype() ~= "int32" then b.mask = b.mask:to("int32") end
    end
    return b
  end
  local samples = {}
  for k, i in ipairs(indices) do
    local s = workers.get(ds, i, seed)
    if s == nil then
      E.fail("DataLoader", "dataset:get(%d) returned nil, expected a table {image=, mask=} (the dataset has %d items)",
             i, dataset_len(ds, "DataLoader"))
    end
    samples[k] = s
  end
  local b = self.collate(samples, indices)
  if b.index == nil then b.index = indices end
  return b
end

--- iter() -> iterator over one epoch yielding (batch, batch_number).
function DataLoader:iter()
  if self.num_workers > 0 then return workers.iter(self) end
  local order = self:order()
  local seed = workers.epoch_seed(self)
  local nb = self:len()
  local bs = self.batch_size
  local b = 0
  return function()
    b = b + 1
    if b > nb then return nil end
    local idx = {}
    for k = (b - 1) * bs + 1, math.min(b * bs, #order) do idx[#idx + 1] = order[k] end
    return self:batch(idx, seed), b
  end
end

--- Process ids of the running workers; stop persistent workers now.
function DataLoader:worker_pids() return workers.pids(self) end
function DataLoader:shutdown_workers() return workers.shutdown(self) end

function DataLoader:__tostring()
  return fmt("DataLoader(%d items, batch_size=%d, shuffle=%s, drop_last=%s, %d batches)",
             dataset_len(self.dataset, "DataLoader"), self.batch_size, tostring(self.shuffle),
             tostring(self.drop_last), self:len())
end

return M
