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
-- numbers) are gathered into lists. A dataset offering has_batch() / get_batch(indices)
-- (TensorDataset without transform) is batched without per-item copies.
local type, error, pairs, ipairs, tostring, setmetatable = type, error, pairs, ipairs, tostring, setmetatable
local getmetatable, floor = getmetatable, math.floor
local fmt, concat = string.format, table.concat

local M = {}

local lunet_mod
local function L()
  if not lunet_mod then lunet_mod = require "lunet" end
  return lunet_mod
end

local is_tensor = require("lunet.core").is_tensor

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
    error(fmt("%s: dataset length must be a non-negative integer, got %s", fn, tostring(n)), 3)
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

--- collate(samples) -> {image=N x C x H x W float32, mask=N x H x W int32, <key>={...}}
function M.collate(samples)
  local fn = "DataLoader"
  local lunet = L()
  local n = #samples
  local images, masks, extra = {}, {}, {}
  for i, s in ipairs(samples) do
    if type(s) ~= "table" then
      error(fmt("%s: dataset item must be a table {image=, mask=}, got %s", fn, type(s)), 3)
    end
    for k, v in pairs(s) do
      if k == "image" then
        if not is_tensor(v) then error(fmt("%s: item %d: image is not a tensor", fn, i), 3) end
        if v:dim() == 2 then v = v:unsqueeze(1) end
        if v:dim() ~= 3 then
          error(fmt("%s: item %d: image must be C x H x W, got %s", fn, i, shape_str(v)), 3)
        end
        images[i] = v
      elseif k == "mask" then
        if not is_tensor(v) then error(fmt("%s: item %d: mask is not a tensor", fn, i), 3) end
        if v:dim() == 3 and v:size(1) == 1 then v = v:select(1, 1) end
        if v:dim() ~= 2 then
          error(fmt("%s: item %d: mask must be H x W, got %s", fn, i, shape_str(v)), 3)
        end
        if v:dtype() == "float32" then
          error(fmt("%s: item %d: mask must hold class ids (int32 or uint8), got float32", fn, i), 3)
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
  for _, pair in ipairs({{"image", images}, {"mask", masks}}) do
    local key, list = pair[1], pair[2]
    local cnt = 0
    for _ in pairs(list) do cnt = cnt + 1 end
    if cnt > 0 then
      if cnt ~= n then error(fmt("%s: some items of the batch have no %s", fn, key), 3) end
      local ref = list[1]
      for i = 2, n do
        local t = list[i]
        local same = t:dim() == ref:dim() and t:dtype() == ref:dtype()
        for d = 1, ref:dim() do same = same and t:size(d) == ref:size(d) end
        if not same then
          error(fmt("%s: %ss in a batch differ: item 1 is %s %s, item %d is %s %s (resize or crop them to one size)",
                    fn, key, shape_str(ref), ref:dtype(), i, shape_str(t), t:dtype()), 3)
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

--- DataLoader(ds, {batch_size=1, shuffle=false, drop_last=false, seed=, generator=, collate=,
--- distributed=}): distributed = true (or {rank=, world_size=}) iterates this rank's shard of each
--- epoch, as PyTorch's DistributedSampler (lunet.distributed.sampler).
function M.DataLoader(ds, opts)
  local fn = "DataLoader"
  if (type(ds) ~= "table" and type(ds) ~= "userdata") or type(ds.get) ~= "function" then
    error(fmt("%s: dataset must have a get(i) method, got %s", fn, type(ds)), 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then error(fmt("%s: options must be a table, got %s", fn, type(opts)), 2) end
  for k in pairs(opts) do
    if not loader_opts[k] then
      error(fmt("%s: unknown option '%s' (allowed: batch_size, collate, distributed, drop_last, generator, seed, shuffle)", fn, tostring(k)), 2)
    end
  end
  local bs = opts.batch_size or 1
  if type(bs) ~= "number" or bs < 1 or bs % 1 ~= 0 then
    error(fmt("%s: batch_size must be a positive integer, got %s", fn, tostring(bs)), 2)
  end
  local g = opts.generator
  if opts.seed ~= nil then
    if type(opts.seed) ~= "number" or opts.seed % 1 ~= 0 then
      error(fmt("%s: seed must be an integer, got %s", fn, tostring(opts.seed)), 2)
    end
    g = L().Generator(opts.seed)
  end
  if opts.collate ~= nil and type(opts.collate) ~= "function" then
    error(fmt("%s: collate must be a function, got %s", fn, type(opts.collate)), 2)
  end
  dataset_len(ds, fn)
  -- distributed: this rank's shard of each epoch (lunet.distributed's sampler)
  local sampler = opts.distributed and require("lunet.distributed").sampler(opts.distributed, fn) or nil
  if sampler and g == nil then g = sampler.generator end
  return setmetatable({
    dataset = ds, batch_size = floor(bs), shuffle = opts.shuffle and true or false,
    drop_last = opts.drop_last and true or false, generator = g, collate = opts.collate or M.collate,
    distributed = sampler,
  }, DataLoader)
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

--- Item order of the next epoch (draws from the generator when shuffling).
function DataLoader:order()
  local n = dataset_len(self.dataset, "DataLoader")
  if self.shuffle then return permutation(n, self.generator) end
  local o = {}
  for i = 1, n do o[i] = i end
  return o
end

--- Collated batch of the given dataset indices.
function DataLoader:batch(indices)
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
  for k, i in ipairs(indices) do samples[k] = ds:get(i) end
  local b = self.collate(samples)
  if b.index == nil then b.index = indices end
  return b
end

--- iter() -> iterator over one epoch yielding (batch, batch_number).
function DataLoader:iter()
  local order = self:order()
  if self.distributed then order = self.distributed:shard(order, self.drop_last) end
  local nb = self:len()
  local bs = self.batch_size
  local b = 0
  return function()
    b = b + 1
    if b > nb then return nil end
    local idx = {}
    for k = (b - 1) * bs + 1, math.min(b * bs, #order) do idx[#idx + 1] = order[k] end
    return self:batch(idx), b
  end
end

function DataLoader:__tostring()
  return fmt("DataLoader(%d items, batch_size=%d, shuffle=%s, drop_last=%s, %d batches)",
             dataset_len(self.dataset, "DataLoader"), self.batch_size, tostring(self.shuffle),
             tostring(self.drop_last), self:len())
end

return M
