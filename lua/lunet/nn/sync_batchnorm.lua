-- lunet.nn.SyncBatchNorm: batch normalisation whose batch statistics span every rank of
-- lunet.distributed, as PyTorch's torch.nn.SyncBatchNorm.
--
--   local model = nn.SyncBatchNorm.convert(UNet{norm = "batch", ...})   -- every BatchNorm2d
--   model = dist.DistributedDataParallel(model)
--
-- In training, the mean and variance of each channel are those of the whole global batch
-- (every rank's N x ... values: local counts, means and squared deviations gathered and
-- combined in rank order, in double), the running statistics are updated with them
-- identically on every rank (variance unbiased with the global count), and the backward
-- all-reduces sum(dy) and sum(dy * (x - mean)) per channel, the global sums the gradient of
-- the global statistics needs. The weight and bias gradients are this rank's parts, which
-- DistributedDataParallel then averages. So W ranks with batch B compute what one process
-- with batch W * B does (spec/distributed_spec.lua checks it).
--
-- Every forward and backward in training is a collective: every rank must run it. In eval
-- mode (running statistics), or outside an initialised world of more than one rank, it is
-- exactly BatchNorm2d. Input: N x C x ... (2 or more dimensions). State-dict names are
-- BatchNorm2d's (weight, bias, running_mean, running_var, num_batches_tracked), so
-- checkpoints move between the two. SyncBatchNorm is a subclass of BatchNorm2d.
local lunet = require "lunet"
local core = require "lunet.core"
local ag = require "lunet.autograd"
local E = require "lunet.errors"
local nn = require "lunet.nn"

local type, ipairs, rawget, require, getmetatable = type, ipairs, rawget, require, getmetatable
local is_tensor = lunet.is_tensor
local Module = nn.Module

local SyncBatchNorm = nn.BatchNorm2d:extend("SyncBatchNorm")

local function shape_str(t) return "[" .. table.concat(t:shape(), ", ") .. "]" end

--- SyncBatchNorm(num_features, {eps = 1e-5, momentum = 0.1, affine = true,
--- track_running_stats = true}), or every argument by name in one table.
function SyncBatchNorm:__init(num_features, opts)
  local fn = "SyncBatchNorm"
  local known = { "num_features", "eps", "momentum", "affine", "track_running_stats" }
  if type(num_features) == "table" and opts == nil and getmetatable(num_features) == nil then
    opts = E.options(num_features, fn, known)
    num_features = opts.num_features
  else
    opts = E.options(opts, fn, { "eps", "momentum", "affine", "track_running_stats" })
  end
  local c = E.integer(fn, "num_features", num_features, 1)
  local eps = opts.eps == nil and 1e-5 or E.number(fn, "eps", opts.eps, 0)
  local momentum = opts.momentum == nil and 0.1 or E.number(fn, "momentum", opts.momentum, 0, 1)
  for _, k in ipairs({ "affine", "track_running_stats" }) do
    if opts[k] ~= nil and type(opts[k]) ~= "boolean" then E.fail(fn, "%s must be a boolean, got %s", k, E.show(opts[k])) end
  end
  nn.BatchNorm2d.__init(self, c, { eps = eps, momentum = momentum, affine = opts.affine ~= false,
                                   track_running_stats = opts.track_running_stats ~= false })
end

local dist
local function distributed()
  if not dist then dist = require "lunet.distributed" end
  return dist
end

function SyncBatchNorm:forward(x)
  local fn = "SyncBatchNorm"
  if not is_tensor(x) then E.fail(fn, "input must be a tensor, got %s", E.typename(x)) end
  if x:dim() < 2 then E.fail(fn, "expected an input N x C x ... (2 or more dimensions), got %s", shape_str(x)) end
  if x:size(2) ~= self.num_features then
    E.fail(fn, "input has %d channels, expected %d (input %s)", x:size(2), self.num_features, shape_str(x))
  end
  local batch_stats = self.training or not self.track_running_stats
  local track = self.training and self.track_running_stats
  local d = distributed()
  if not (batch_stats and d.is_initialized() and d.world_size() > 1) then
    local y = nn.functional.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
      { training = batch_stats, momentum = self.momentum, eps = self.eps })
    if track then self.num_batches_tracked:fill_(self.num_batches_tracked:item() + 1) end
    return y
  end
  local C = require "lunet.distributed.core"
  if x:dtype() ~= "float32" then E.fail(fn, "input must be float32, got %s", x:dtype()) end
  local xc = x:contiguous()
  local c = self.num_features
  local mean, var = lunet.empty(c), lunet.empty(c)
  local threads = lunet.get_num_threads()
  local count = C.sync_batch_norm_stats(xc, mean, var, track and self.running_mean or nil,
    track and self.running_var or nil, self.momentum, threads)
  if count <= 1 then
    E.fail(fn, "expected more than 1 value per channel when training, got %d over all ranks (input %s on rank %d)",
      count, shape_str(x), d.rank())
  end
  local w, b = self.weight, self.bias
  local y, m, invstd = core.nn.batch_norm_forward(xc, mean, var, w, b, { training = false, eps = self.eps })
  if track then self.num_batches_tracked:fill_(self.num_batches_tracked:item() + 1) end
  if ag.needs_grad(x, w, b) then
    local inputs = { x }
    if w ~= nil then inputs[#inputs + 1] = w end
    if b ~= nil then inputs[#inputs + 1] = b end
    ag.record(y, inputs, function(g)
      local dx = lunet.empty(xc:shape())
      local dw = w ~= nil and lunet.empty(c) or nil
      local db = b ~= nil and lunet.empty(c) or nil
      C.sync_batch_norm_backward(g:contiguous(), xc, m, invstd, w, count, dx, dw, db, threads)
      if w ~= nil and b ~= nil then return dx, dw, db end
      if w ~= nil then return dx, dw end
      if b ~= nil then return dx, db end
      return dx
    end, "SyncBatchNorm")
  end
  return y
end

-- A SyncBatchNorm holding bn's tensors (the same objects, as PyTorch's convert does).
local function from_batchnorm(bn)
  local s = SyncBatchNorm(bn.num_features, { eps = bn.eps, momentum = bn.momentum, affine = bn.affine,
                                             track_running_stats = bn.track_running_stats })
  if bn.affine then
    s.weight = bn.weight
    s.bias = bn.bias
  end
  if bn.track_running_stats then
    s.running_mean = bn.running_mean
    s.running_var = bn.running_var
    s.num_batches_tracked = bn.num_batches_tracked
  end
  s.training = bn.training
  return s
end

--- SyncBatchNorm.convert(model) -> model with every BatchNorm2d (at any depth) replaced by a
--- SyncBatchNorm sharing its parameters and buffers; a BatchNorm2d given alone is returned
--- converted. Other modules (and SyncBatchNorms) are kept as they are.
function SyncBatchNorm.convert(model)
  if not Module.is_module(model) then
    E.fail("SyncBatchNorm.convert", "model must be an nn.Module, got %s", E.typename(model))
  end
  local done = {}
  local function convert(m)
    if done[m] then return done[m] end
    local out = m
    if m:is_instance_of(nn.BatchNorm2d) and not m:is_instance_of(SyncBatchNorm) then
      out = from_batchnorm(m)
    else
      done[m] = m
      local mods = rawget(m, "_modules")
      for _, k in ipairs(rawget(m, "_order")) do
        local child = mods[k]
        if child ~= nil then
          local new = convert(child)
          if new ~= child then m[k] = new end
        end
      end
    end
    done[m] = out
    return out
  end
  return convert(model)
end

return SyncBatchNorm
