-- lunet.nn layers: Conv2d, ConvTranspose2d, Linear, BatchNorm2d, GroupNorm, pooling, Upsample,
-- the 3-D layers (Conv3d, ConvTranspose3d, MaxPool3d, AvgPool3d, MaxUnpool3d,
-- AdaptiveAvgPool3d, BatchNorm3d, InstanceNorm3d), PReLU,
-- dropout, activations, Identity, Sequential and ModuleList, with PyTorch's default
-- initialisation (drawn from the seeded generator).
--
-- Constructor arguments, one rule for every layer: first the layer's leading arguments in
-- PyTorch's order (Conv2d: in_channels, out_channels, kernel_size), then optionally one
-- table of named options; any argument may instead be given by name. So
--   nn.Conv2d(3, 16, 3, {padding = 1})
--   nn.Conv2d{in_channels = 3, out_channels = 16, kernel_size = 3, padding = 1}
--   nn.Conv2d{3, 16, 3, padding = 1}          -- a single table: array part = leading args
-- are the same layer. A trailing table is the option table when it has no array part or is
-- the only argument; otherwise it is a value (a {h, w} pair: nn.Conv2d(3, 16, {3, 5})). So a
-- pair for the FIRST argument must be named: nn.MaxPool2d{kernel_size = {3, 2}} (while
-- nn.MaxPool2d{3, 2} is kernel_size 3, stride 2). Unknown option names are errors.
-- Sizes, strides, paddings and dilations are a number or a {h, w} pair.
-- ReLU, LeakyReLU, Dropout and Dropout2d accept `inplace` for porting but always compute out
-- of place.
local lunet = require "lunet"
local E = require "lunet.errors"
local Module = require "lunet.nn.module"
local F = require "lunet.nn.functional"
local init = require "lunet.nn.init_"

local util = Module.util
local raise, is_tensor, typename, is_module = util.raise, util.is_tensor, util.typename, Module.is_module
local type, pairs, ipairs, select, tostring, rawget = type, pairs, ipairs, select, tostring, rawget
local format, concat = string.format, table.concat
local sqrt, mtype, tointeger = math.sqrt, math.type, math.tointeger

local nn = {}

-- F.<name>, looked up when called (the functional files may land after this one).
local function fn(name)
  local f = F[name]
  if f == nil then raise("lunet.nn.functional." .. name .. " is not available") end
  return f
end

local REQUIRED = setmetatable({}, { __tostring = function() return "<required>" end })
local NONE = setmetatable({}, { __tostring = function() return "<none>" end })  -- default: nil

-- The constructor rule of the file header. positional: ordered names; defaults: name ->
-- default (REQUIRED for none). Returns the table of all options.
local function parse(cls, positional, defaults, ...)
  local n = select("#", ...)
  local a = { ... }
  local pos, opts = {}, {}
  local last = a[n]
  if n >= 1 and type(last) == "table" and not is_module(last) and not is_tensor(last)
      and (n == 1 or #last == 0) then
    for k, v in pairs(last) do
      if type(k) == "string" then opts[k] = v
      elseif not (n == 1 and mtype(k) == "integer" and k >= 1 and k <= #last) then
        raise(format("%s: option names must be strings, got %s", cls, tostring(k)))
      end
    end
    if n == 1 then
      for i = 1, #last do pos[i] = last[i] end
      pos.n = #last
    end
    n = n - 1
  end
  if pos.n == nil then
    for i = 1, n do pos[i] = a[i] end
    pos.n = n
  end
  if pos.n > #positional then
    if #positional == 0 then
      raise(format("%s: takes only an option table, got %d positional argument%s",
        cls, pos.n, pos.n == 1 and "" or "s"))
    end
    raise(format("%s: too many positional arguments (%d given, at most %d: %s)",
      cls, pos.n, #positional, concat(positional, ", ")))
  end
  local known = {}
  for k in pairs(defaults) do known[#known + 1] = k end
  E.options(opts, cls, known)
  for i = 1, pos.n do
    local v = pos[i]
    if v ~= nil then
      if opts[positional[i]] ~= nil then
        raise(format("%s: %s given both positionally and by name", cls, positional[i]))
      end
      opts[positional[i]] = v
    end
  end
  for k, d in pairs(defaults) do
    if opts[k] == nil then
      if d == REQUIRED then raise(format("%s: %s is required", cls, k)) end
      if d ~= NONE then opts[k] = d end
    end
  end
  return opts
end

-- Value checks; each returns the value (integers normalised from floats like 3.0).
local function int_value(v)
  if mtype(v) == "integer" then return v end
  if mtype(v) == "float" then return tointeger(v) end
  return nil
end

local function show(v)
  if type(v) == "table" and not is_tensor(v) and not is_module(v) then
    local parts = {}
    for i = 1, #v do parts[i] = show(v[i]) end
    return "{" .. concat(parts, ", ") .. "}"
  end
  if type(v) == "string" then return '"' .. v .. '"' end
  if type(v) == "number" then return E.show(v) end
  if type(v) == "boolean" or v == nil then return tostring(v) end
  return typename(v)
end

local function check_int(cls, key, v, min)
  local i = int_value(v)
  if i == nil or i < min then
    raise(format("%s: %s must be an integer >= %d, got %s", cls, key, min, show(v)))
  end
  return i
end

-- A number or a table of n integers >= min ({h, w} for n = 2, {d, h, w} for n = 3); returned
-- as a table of n.
local function check_sizes(cls, key, v, min, n)
  local t = {}
  if type(v) == "table" and not is_tensor(v) and #v == n then
    for i = 1, n do t[i] = int_value(v[i]) end
  else
    local i = int_value(v)
    for j = 1, n do t[j] = i end
  end
  for i = 1, n do
    if t[i] == nil or t[i] < min then
      raise(format("%s: %s must be an integer >= %d or %s, got %s", cls, key, min,
        n == 2 and "a pair of them" or "a {d, h, w} table of them", show(v)))
    end
  end
  return t
end
local function check_pair(cls, key, v, min) return check_sizes(cls, key, v, min, 2) end
local function check_triple(cls, key, v, min) return check_sizes(cls, key, v, min, 3) end

local function check_bool(cls, key, v)
  if type(v) ~= "boolean" then raise(format("%s: %s must be a boolean, got %s", cls, key, show(v))) end
  return v
end

local function check_num(cls, key, v, lo, hi, what)
  if type(v) ~= "number" or v ~= v or (lo and v < lo) or (hi and v > hi) then
    raise(format("%s: %s must be %s, got %s", cls, key, what, show(v)))
  end
  return v
end

-- "3" for {3, 3}, "(1, 2)" for {1, 2}; any length.
local function sizes_str(p)
  for i = 2, #p do
    if p[i] ~= p[1] then return "(" .. concat(p, ", ") .. ")" end
  end
  return tostring(p[1])
end

-- p and q hold the same sizes; q may be a number standing for all of them.
local function same(p, q)
  for i = 1, #p do
    if p[i] ~= (type(q) == "table" and q[i] or q) then return false end
  end
  return true
end

local function check_4d(cls, x)
  if not is_tensor(x) then raise(format("%s: input must be a tensor, got %s", cls, typename(x))) end
  if x:dim() ~= 4 then
    raise(format("%s: expected a 4-D input (N, C, H, W), got %s", cls, util.shape_str(x)))
  end
end

local function new_param(...)
  return lunet.zeros(...):requires_grad(true)
end

-- PyTorch's _ConvNd / Linear reset_parameters: kaiming_uniform_(w, a=sqrt(5)), i.e.
-- U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight, and the same bound for the bias.
local function reset_kaiming(self)
  init.kaiming_uniform_(self.weight, { a = sqrt(5) })
  if self.bias ~= nil then
    local fan_in = init.calculate_fan_in_and_fan_out(self.weight)
    local bound = fan_in > 0 and 1 / sqrt(fan_in) or 0
    init.uniform_(self.bias, -bound, bound)
  end
end

---------------------------------------------------------------------------------------------
-- convolutions and linear
---------------------------------------------------------------------------------------------
-- The checks and parameters shared by Conv2d/3d and ConvTranspose2d/3d (n spatial dims).
local function conv_common(self, cls, o, transposed, n)
  self.in_channels = check_int(cls, "in_channels", o.in_channels, 1)
  self.out_channels = check_int(cls, "out_channels", o.out_channels, 1)
  self.kernel_size = check_sizes(cls, "kernel_size", o.kernel_size, 1, n)
  self.stride = check_sizes(cls, "stride", o.stride, 1, n)
  self.padding = check_sizes(cls, "padding", o.padding, 0, n)
  self.dilation = check_sizes(cls, "dilation", o.dilation, 1, n)
  self.groups = check_int(cls, "groups", o.groups, 1)
  check_bool(cls, "bias", o.bias)
  if o.padding_mode ~= nil and o.padding_mode ~= "zeros" then
    raise(format("%s: only padding_mode \"zeros\" is supported, got %s", cls, show(o.padding_mode)))
  end
  if self.in_channels % self.groups ~= 0 then
    raise(format("%s: in_channels (%d) must be divisible by groups (%d)", cls, self.in_channels, self.groups))
  end
  if self.out_channels % self.groups ~= 0 then
    raise(format("%s: out_channels (%d) must be divisible by groups (%d)", cls, self.out_channels, self.groups))
  end
  local k = self.kernel_size
  if transposed then
    self.weight = new_param(self.in_channels, self.out_channels // self.groups, table.unpack(k))
  else
    self.weight = new_param(self.out_channels, self.in_channels // self.groups, table.unpack(k))
  end
  if o.bias then self.bias = new_param(self.out_channels) end
  reset_kaiming(self)
end

local function conv_repr(self, extra)
  local s = { format("%d, %d, kernel_size=%s", self.in_channels, self.out_channels, sizes_str(self.kernel_size)) }
  if not same(self.stride, 1) then s[#s + 1] = "stride=" .. sizes_str(self.stride) end
  if not same(self.padding, 0) then s[#s + 1] = "padding=" .. sizes_str(self.padding) end
  if extra then s[#s + 1] = extra end
  if not same(self.dilation, 1) then s[#s + 1] = "dilation=" .. sizes_str(self.dilation) end
  if self.groups ~= 1 then s[#s + 1] = "groups=" .. self.groups end
  if self.bias == nil then s[#s + 1] = "bias=false" end
  return concat(s, ", ")
end

-- Conv2d(in_channels, out_channels, kernel_size, {stride=1, padding=0, dilation=1, groups=1,
-- bias=true}); weight (out, in/groups, kh, kw).
nn.Conv2d = Module:extend("Conv2d")
function nn.Conv2d:__init(...)
  local o = parse("Conv2d", { "in_channels", "out_channels", "kernel_size" }, {
    in_channels = REQUIRED, out_channels = REQUIRED, kernel_size = REQUIRED, stride = 1,
    padding = 0, dilation = 1, groups = 1, bias = true }, ...)
  conv_common(self, "Conv2d", o, false, 2)
end
function nn.Conv2d:forward(x)
  return fn("conv2d")(x, self.weight, self.bias, { stride = self.stride, padding = self.padding,
    dilation = self.dilation, groups = self.groups })
end
nn.Conv2d.extra_repr = function(self) return conv_repr(self) end

-- ConvTranspose2d(in_channels, out_channels, kernel_size, {stride=1, padding=0,
-- output_padding=0, groups=1, bias=true, dilation=1}); weight (in, out/groups, kh, kw).
nn.ConvTranspose2d = Module:extend("ConvTranspose2d")
function nn.ConvTranspose2d:__init(...)
  local o = parse("ConvTranspose2d", { "in_channels", "out_channels", "kernel_size" }, {
    in_channels = REQUIRED, out_channels = REQUIRED, kernel_size = REQUIRED, stride = 1,
    padding = 0, output_padding = 0, groups = 1, bias = true, dilation = 1 }, ...)
  self.output_padding = check_pair("ConvTranspose2d", "output_padding", o.output_padding, 0)
  conv_common(self, "ConvTranspose2d", o, true, 2)
end
function nn.ConvTranspose2d:forward(x)
  return fn("conv_transpose2d")(x, self.weight, self.bias, { stride = self.stride,
    padding = self.padding, output_padding = self.output_padding, dilation = self.dilation,
    groups = self.groups })
end
nn.ConvTranspose2d.extra_repr = function(self)
  local extra
  if not same(self.output_padding, 0) then extra = "output_padding=" .. sizes_str(self.output_padding) end
  return conv_repr(self, extra)
end

-- Linear(in_features, out_features, {bias=true}): y = x W^T + b over the last dim;
-- weight (out, in).
nn.Linear = Module:extend("Linear")
function nn.Linear:__init(...)
  local o = parse("Linear", { "in_features", "out_features" },
    { in_features = REQUIRED, out_features = REQUIRED, bias = true }, ...)
  self.in_features = check_int("Linear", "in_features", o.in_features, 1)
  self.out_features = check_int("Linear", "out_features", o.out_features, 1)
  check_bool("Linear", "bias", o.bias)
  self.weight = new_param(self.out_features, self.in_features)
  if o.bias then self.bias = new_param(self.out_features) end
  reset_kaiming(self)
end
function nn.Linear:forward(x)
  if not is_tensor(x) then raise(format("Linear: input must be a tensor, got %s", typename(x))) end
  if x:dim() < 1 or x:size(-1) ~= self.in_features then
    raise(format("Linear: input has %s features, expected %d (input %s)",
      x:dim() < 1 and "no" or tostring(x:size(-1)), self.in_features, util.shape_str(x)))
  end
  local y = x:matmul(self.weight:transpose(1, 2))
  if self.bias ~= nil then y = y + self.bias end
  return y
end
function nn.Linear:extra_repr()
  return format("%d, %d%s", self.in_features, self.out_features, self.bias == nil and ", bias=false" or "")
end

---------------------------------------------------------------------------------------------
-- normalisation
---------------------------------------------------------------------------------------------
-- The options, parameters and buffers of BatchNorm2d/3d and InstanceNorm3d (PyTorch's _NormBase);
-- on: the default of both affine and track_running_stats.
local function norm_init(self, cls, on, ...)
  local o = parse(cls, { "num_features", "eps", "momentum", "affine", "track_running_stats" }, {
    num_features = REQUIRED, eps = 1e-5, momentum = 0.1, affine = on, track_running_stats = on }, ...)
  self.num_features = check_int(cls, "num_features", o.num_features, 1)
  self.eps = check_num(cls, "eps", o.eps, 0, nil, "a number >= 0")
  self.momentum = check_num(cls, "momentum", o.momentum, 0, 1, "a number in [0, 1]")
  self.affine = check_bool(cls, "affine", o.affine)
  self.track_running_stats = check_bool(cls, "track_running_stats", o.track_running_stats)
  local c = self.num_features
  if self.affine then
    self.weight = lunet.ones(c):requires_grad(true)
    self.bias = new_param(c)
  end
  if self.track_running_stats then
    self:register_buffer("running_mean", lunet.zeros(c))
    self:register_buffer("running_var", lunet.ones(c))
    self:register_buffer("num_batches_tracked", lunet.tensor(0, { dtype = "int32" }))
  end
end

-- f(x, running_mean, running_var, weight, bias, opts) with a batch-norm module's state
-- (F.batch_norm, or a fused batch norm + ReLU), then the batch counted as PyTorch counts it.
local function run_norm(self, x, f)
  local training = self.training or not self.track_running_stats
  local y = f(x, self.running_mean, self.running_var, self.weight, self.bias,
    { training = training, momentum = self.momentum, eps = self.eps })
  if self.training and self.track_running_stats then
    local n = self.num_batches_tracked
    n:fill_(n:item() + 1)
  end
  return y
end

-- BatchNorm2d(num_features, {eps=1e-5, momentum=0.1, affine=true, track_running_stats=true}).
-- Buffers running_mean (zeros), running_var (ones), num_batches_tracked (0-d int32, counts
-- the training batches; PyTorch's is int64). In training mode (or without running statistics)
-- the batch statistics are used and the running ones updated; in eval mode the running ones.
nn.BatchNorm2d = Module:extend("BatchNorm2d")
function nn.BatchNorm2d:__init(...) norm_init(self, "BatchNorm2d", true, ...) end
function nn.BatchNorm2d:forward(x)
  check_4d("BatchNorm2d", x)
  if x:size(2) ~= self.num_features then
    raise(format("BatchNorm2d: input has %d channels, expected %d (input %s)",
      x:size(2), self.num_features, util.shape_str(x)))
  end
  return run_norm(self, x, fn("batch_norm"))
end
--- BatchNorm2d:forward_relu(x [, release]): relu(self(x)) as one autograd node and one kernel
-- pass each way (lunet.nn.functional.fused.bn_relu2d): the normalised tensor is never made;
-- same values, gradients and running statistics as the two modules in sequence. release =
-- true: fused.bn_relu instead, whose backward first collects the garbage of the layers above
-- (less peak memory in nets with many big activations, for a little time).
function nn.BatchNorm2d:forward_relu(x, release)
  -- subclasses (SyncBatchNorm: statistics over the ranks) and bad input take the plain path,
  -- which raises the usual messages
  if getmetatable(self).__class ~= nn.BatchNorm2d or not is_tensor(x) or x:dim() ~= 4
      or x:size(2) ~= self.num_features then
    return fn("relu")(self(x))
  end
  local fused = require "lunet.nn.functional.fused"
  return run_norm(self, x, release and fused.bn_relu or fused.bn_relu2d)
end
function nn.BatchNorm2d:extra_repr()
  local s = { tostring(self.num_features) }
  if self.eps ~= 1e-5 then s[#s + 1] = "eps=" .. self.eps end
  if self.momentum ~= 0.1 then s[#s + 1] = "momentum=" .. self.momentum end
  if not self.affine then s[#s + 1] = "affine=false" end
  if not self.track_running_stats then s[#s + 1] = "track_running_stats=false" end
  return concat(s, ", ")
end

-- GroupNorm(num_groups, num_channels, {eps=1e-5, affine=true}).
nn.GroupNorm = Module:extend("GroupNorm")
function nn.GroupNorm:__init(...)
  local cls = "GroupNorm"
  local o = parse(cls, { "num_groups", "num_channels", "eps", "affine" },
    { num_groups = REQUIRED, num_channels = REQUIRED, eps = 1e-5, affine = true }, ...)
  self.num_groups = check_int(cls, "num_groups", o.num_groups, 1)
  self.num_channels = check_int(cls, "num_channels", o.num_channels, 1)
  self.eps = check_num(cls, "eps", o.eps, 0, nil, "a number >= 0")
  self.affine = check_bool(cls, "affine", o.affine)
  if self.num_channels % self.num_groups ~= 0 then
    raise(format("GroupNorm: num_channels (%d) must be divisible by num_groups (%d)",
      self.num_channels, self.num_groups))
  end
  if self.affine then
    self.weight = lunet.ones(self.num_channels):requires_grad(true)
    self.bias = new_param(self.num_channels)
  end
end
function nn.GroupNorm:forward(x)
  return fn("group_norm")(x, self.num_groups, self.weight, self.bias, { eps = self.eps })
end
function nn.GroupNorm:extra_repr()
  local s = format("%d, %d", self.num_groups, self.num_channels)
  if self.eps ~= 1e-5 then s = s .. ", eps=" .. self.eps end
  if not self.affine then s = s .. ", affine=false" end
  return s
end

---------------------------------------------------------------------------------------------
-- pooling and resampling
---------------------------------------------------------------------------------------------
local function pool_repr(self)
  local s = { "kernel_size=" .. sizes_str(self.kernel_size) }
  if not same(self.stride, self.kernel_size) then s[#s + 1] = "stride=" .. sizes_str(self.stride) end
  if not same(self.padding, 0) then s[#s + 1] = "padding=" .. sizes_str(self.padding) end
  if self.dilation and not same(self.dilation, 1) then s[#s + 1] = "dilation=" .. sizes_str(self.dilation) end
  if self.ceil_mode then s[#s + 1] = "ceil_mode=true" end
  if self.return_indices then s[#s + 1] = "return_indices=true" end
  if self.count_include_pad == false then s[#s + 1] = "count_include_pad=false" end
  return concat(s, ", ")
end

-- The pooling modules' shared parts (n spatial dims; PyTorch's defaults: stride = kernel_size).
local function pool_sizes(self, cls, o, n)
  self.kernel_size = check_sizes(cls, "kernel_size", o.kernel_size, 1, n)
  self.stride = o.stride == nil and self.kernel_size or check_sizes(cls, "stride", o.stride, 1, n)
  self.padding = check_sizes(cls, "padding", o.padding, 0, n)
end

local function max_pool_init(self, cls, n, ...)
  local o = parse(cls, { "kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode" }, {
    kernel_size = REQUIRED, stride = NONE, padding = 0, dilation = 1, return_indices = false,
    ceil_mode = false }, ...)
  pool_sizes(self, cls, o, n)
  self.dilation = check_sizes(cls, "dilation", o.dilation, 1, n)
  self.return_indices = check_bool(cls, "return_indices", o.return_indices)
  self.ceil_mode = check_bool(cls, "ceil_mode", o.ceil_mode)
end

local function max_pool_forward(self, name, x)
  return fn(name)(x, { kernel = self.kernel_size, stride = self.stride, padding = self.padding,
    dilation = self.dilation, ceil_mode = self.ceil_mode, return_indices = self.return_indices })
end

local function max_unpool_init(self, cls, n, ...)
  local o = parse(cls, { "kernel_size", "stride", "padding" },
    { kernel_size = REQUIRED, stride = NONE, padding = 0 }, ...)
  pool_sizes(self, cls, o, n)
end

local function max_unpool_forward(self, name, x, indices, output_size)
  return fn(name)(x, indices, { kernel = self.kernel_size, stride = self.stride,
    padding = self.padding, output_size = output_size })
end

-- MaxPool2d(kernel_size, {stride=kernel_size, padding=0, dilation=1, return_indices=false,
-- ceil_mode=false}); with return_indices the call returns values, indices (1-based
-- positions in each H*W plane, for MaxUnpool2d).
nn.MaxPool2d = Module:extend("MaxPool2d")
function nn.MaxPool2d:__init(...) max_pool_init(self, "MaxPool2d", 2, ...) end
function nn.MaxPool2d:forward(x) return max_pool_forward(self, "max_pool2d", x) end
nn.MaxPool2d.extra_repr = pool_repr

-- AvgPool2d(kernel_size, {stride=kernel_size, padding=0, ceil_mode=false, count_include_pad=true}).
nn.AvgPool2d = Module:extend("AvgPool2d")
function nn.AvgPool2d:__init(...)
  local cls = "AvgPool2d"
  local o = parse(cls, { "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad" }, {
    kernel_size = REQUIRED, stride = NONE, padding = 0, ceil_mode = false, count_include_pad = true }, ...)
  pool_sizes(self, cls, o, 2)
  self.ceil_mode = check_bool(cls, "ceil_mode", o.ceil_mode)
  self.count_include_pad = check_bool(cls, "count_include_pad", o.count_include_pad)
end
function nn.AvgPool2d:forward(x)
  return fn("avg_pool2d")(x, { kernel = self.kernel_size, stride = self.stride, padding = self.padding,
    ceil_mode = self.ceil_mode, count_include_pad = self.count_include_pad })
end
nn.AvgPool2d.extra_repr = pool_repr

-- MaxUnpool2d(kernel_size, {stride=kernel_size, padding=0}); called as m(x, indices [, output_size]).
nn.MaxUnpool2d = Module:extend("MaxUnpool2d")
function nn.MaxUnpool2d:__init(...) max_unpool_init(self, "MaxUnpool2d", 2, ...) end
function nn.MaxUnpool2d:forward(x, indices, output_size)
  return max_unpool_forward(self, "max_unpool2d", x, indices, output_size)
end
nn.MaxUnpool2d.extra_repr = pool_repr

-- AdaptiveAvgPool2d(output_size): output_size a number or {h, w}.
nn.AdaptiveAvgPool2d = Module:extend("AdaptiveAvgPool2d")
function nn.AdaptiveAvgPool2d:__init(...)
  local o = parse("AdaptiveAvgPool2d", { "output_size" }, { output_size = REQUIRED }, ...)
  self.output_size = check_pair("AdaptiveAvgPool2d", "output_size", o.output_size, 1)
end
function nn.AdaptiveAvgPool2d:forward(x)
  return fn("adaptive_avg_pool2d")(x, self.output_size)
end
function nn.AdaptiveAvgPool2d:extra_repr() return "output_size=" .. sizes_str(self.output_size) end

-- Upsample{size= | scale_factor=, mode="nearest"|"bilinear", align_corners=} (positional
-- order as PyTorch: size, scale_factor, mode, align_corners); forwards to F.interpolate.
nn.Upsample = Module:extend("Upsample")
function nn.Upsample:__init(...)
  local cls = "Upsample"
  local o = parse(cls, { "size", "scale_factor", "mode", "align_corners" },
    { size = NONE, scale_factor = NONE, mode = "nearest", align_corners = NONE }, ...)
  if (o.size == nil) == (o.scale_factor == nil) then
    raise("Upsample: give exactly one of size and scale_factor")
  end
  if o.size ~= nil then self.size = check_pair(cls, "size", o.size, 1) end
  if o.scale_factor ~= nil then
    local s = o.scale_factor
    local function positive(v) return type(v) == "number" and v > 0 and v < math.huge end
    local ok = positive(s)
    if type(s) == "table" and #s == 2 then ok = positive(s[1]) and positive(s[2]) end
    if not ok then raise(format("Upsample: scale_factor must be a positive finite number or a pair of them, got %s", show(s))) end
    self.scale_factor = s
  end
  E.choice(cls, "mode", o.mode, { "nearest", "bilinear" })
  self.mode = o.mode
  if o.align_corners ~= nil then
    check_bool(cls, "align_corners", o.align_corners)
    if o.mode == "nearest" then raise("Upsample: align_corners only applies to mode \"bilinear\"") end
    self.align_corners = o.align_corners
  end
end
function nn.Upsample:forward(x)
  return fn("interpolate")(x, { size = self.size, scale_factor = self.scale_factor, mode = self.mode,
    align_corners = self.align_corners })
end
function nn.Upsample:extra_repr()
  local s = {}
  if self.size then s[#s + 1] = "size=" .. sizes_str(self.size) end
  if self.scale_factor then s[#s + 1] = "scale_factor=" .. show(self.scale_factor) end
  s[#s + 1] = "mode=" .. show(self.mode)
  if self.align_corners ~= nil then s[#s + 1] = "align_corners=" .. tostring(self.align_corners) end
  return concat(s, ", ")
end

---------------------------------------------------------------------------------------------
-- volumes (N, C, D, H, W): 3-D convolutions, pooling and normalisation
---------------------------------------------------------------------------------------------
local function check_vol_input(cls, x)
  if not is_tensor(x) then raise(format("%s: input must be a tensor, got %s", cls, typename(x))) end
  if x:dim() ~= 5 and x:dim() ~= 4 then
    raise(format("%s: expected a 5-D input (N, C, D, H, W) or 4-D (C, D, H, W), got %s", cls,
      util.shape_str(x)))
  end
end

-- Conv3d(in_channels, out_channels, kernel_size, {stride=1, padding=0, dilation=1, groups=1,
-- bias=true, padding_mode="zeros"}); weight (out, in/groups, kd, kh, kw); sizes a number or
-- {d, h, w}. Input (N, C, D, H, W) or (C, D, H, W).
nn.Conv3d = Module:extend("Conv3d")
function nn.Conv3d:__init(...)
  local o = parse("Conv3d", { "in_channels", "out_channels", "kernel_size", "stride", "padding",
    "dilation", "groups", "bias", "padding_mode" }, {
    in_channels = REQUIRED, out_channels = REQUIRED, kernel_size = REQUIRED, stride = 1,
    padding = 0, dilation = 1, groups = 1, bias = true, padding_mode = "zeros" }, ...)
  conv_common(self, "Conv3d", o, false, 3)
end
function nn.Conv3d:forward(x)
  return fn("conv3d")(x, self.weight, self.bias, { stride = self.stride, padding = self.padding,
    dilation = self.dilation, groups = self.groups })
end
nn.Conv3d.extra_repr = function(self) return conv_repr(self) end

-- ConvTranspose3d(in_channels, out_channels, kernel_size, {stride=1, padding=0,
-- output_padding=0, groups=1, bias=true, dilation=1}); weight (in, out/groups, kd, kh, kw).
nn.ConvTranspose3d = Module:extend("ConvTranspose3d")
function nn.ConvTranspose3d:__init(...)
  local o = parse("ConvTranspose3d", { "in_channels", "out_channels", "kernel_size", "stride",
    "padding", "output_padding", "groups", "bias", "dilation", "padding_mode" }, {
    in_channels = REQUIRED, out_channels = REQUIRED, kernel_size = REQUIRED, stride = 1,
    padding = 0, output_padding = 0, groups = 1, bias = true, dilation = 1,
    padding_mode = "zeros" }, ...)
  self.output_padding = check_triple("ConvTranspose3d", "output_padding", o.output_padding, 0)
  conv_common(self, "ConvTranspose3d", o, true, 3)
end
function nn.ConvTranspose3d:forward(x)
  return fn("conv_transpose3d")(x, self.weight, self.bias, { stride = self.stride,
    padding = self.padding, output_padding = self.output_padding, dilation = self.dilation,
    groups = self.groups })
end
nn.ConvTranspose3d.extra_repr = function(self)
  local extra
  if not same(self.output_padding, 0) then extra = "output_padding=" .. sizes_str(self.output_padding) end
  return conv_repr(self, extra)
end

-- MaxPool3d(kernel_size, {stride=kernel_size, padding=0, dilation=1, return_indices=false,
-- ceil_mode=false}); with return_indices the call returns values, indices (1-based
-- positions in each D*H*W volume, for MaxUnpool3d).
nn.MaxPool3d = Module:extend("MaxPool3d")
function nn.MaxPool3d:__init(...) max_pool_init(self, "MaxPool3d", 3, ...) end
function nn.MaxPool3d:forward(x) return max_pool_forward(self, "max_pool3d", x) end
nn.MaxPool3d.extra_repr = pool_repr

-- AvgPool3d(kernel_size, {stride=kernel_size, padding=0, ceil_mode=false,
-- count_include_pad=true, divisor_override=nil}).
nn.AvgPool3d = Module:extend("AvgPool3d")
function nn.AvgPool3d:__init(...)
  local cls = "AvgPool3d"
  local o = parse(cls, { "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
    "divisor_override" }, { kernel_size = REQUIRED, stride = NONE, padding = 0, ceil_mode = false,
    count_include_pad = true, divisor_override = NONE }, ...)
  pool_sizes(self, cls, o, 3)
  self.ceil_mode = check_bool(cls, "ceil_mode", o.ceil_mode)
  self.count_include_pad = check_bool(cls, "count_include_pad", o.count_include_pad)
  if o.divisor_override ~= nil then
    self.divisor_override = check_int(cls, "divisor_override", o.divisor_override, 1)
  end
end
function nn.AvgPool3d:forward(x)
  return fn("avg_pool3d")(x, { kernel = self.kernel_size, stride = self.stride, padding = self.padding,
    ceil_mode = self.ceil_mode, count_include_pad = self.count_include_pad,
    divisor_override = self.divisor_override })
end
nn.AvgPool3d.extra_repr = pool_repr

-- MaxUnpool3d(kernel_size, {stride=kernel_size, padding=0}); called as m(x, indices [, output_size]).
nn.MaxUnpool3d = Module:extend("MaxUnpool3d")
function nn.MaxUnpool3d:__init(...) max_unpool_init(self, "MaxUnpool3d", 3, ...) end
function nn.MaxUnpool3d:forward(x, indices, output_size)
  return max_unpool_forward(self, "max_unpool3d", x, indices, output_size)
end
nn.MaxUnpool3d.extra_repr = pool_repr

-- AdaptiveAvgPool3d(output_size): output_size a number or {d, h, w}.
nn.AdaptiveAvgPool3d = Module:extend("AdaptiveAvgPool3d")
function nn.AdaptiveAvgPool3d:__init(...)
  local o = parse("AdaptiveAvgPool3d", { "output_size" }, { output_size = REQUIRED }, ...)
  self.output_size = check_triple("AdaptiveAvgPool3d", "output_size", o.output_size, 1)
end
function nn.AdaptiveAvgPool3d:forward(x)
  return fn("adaptive_avg_pool3d")(x, self.output_size)
end
function nn.AdaptiveAvgPool3d:extra_repr() return "output_size=" .. sizes_str(self.output_size) end

-- BatchNorm3d(num_features, {eps=1e-5, momentum=0.1, affine=true, track_running_stats=true}):
-- BatchNorm2d on (N, C, D, H, W) input; the same parameters and buffers.
nn.BatchNorm3d = nn.BatchNorm2d:extend("BatchNorm3d")
function nn.BatchNorm3d:__init(...) norm_init(self, "BatchNorm3d", true, ...) end
function nn.BatchNorm3d:forward(x)
  if not is_tensor(x) then raise(format("BatchNorm3d: input must be a tensor, got %s", typename(x))) end
  if x:dim() ~= 5 then
    raise(format("BatchNorm3d: expected a 5-D input (N, C, D, H, W), got %s", util.shape_str(x)))
  end
  if x:size(2) ~= self.num_features then
    raise(format("BatchNorm3d: input has %d channels, expected %d (input %s)",
      x:size(2), self.num_features, util.shape_str(x)))
  end
  return run_norm(self, x, fn("batch_norm"))
end

--- BatchNorm3d:forward_relu(x): relu(self(x)) as one autograd node (lunet.nn.functional.fused),
-- which keeps the normalised tensor out of memory; same values, gradients and statistics.
function nn.BatchNorm3d:forward_relu(x)
  if not is_tensor(x) or x:dim() ~= 5 or x:size(2) ~= self.num_features then
    return fn("relu")(self(x))   -- the plain path raises the usual messages
  end
  return run_norm(self, x, require("lunet.nn.functional.fused").bn_relu)
end

--- ConvTranspose3d:forward_cat(x, skip): cat({self(x), skip}, 2) as one autograd node
-- (lunet.nn.functional.fused), which keeps the up-sampled tensor out of memory.
function nn.ConvTranspose3d:forward_cat(x, skip)
  return require("lunet.nn.functional.fused").conv_transpose3d_cat(x, self.weight, self.bias, skip,
    { stride = self.stride, padding = self.padding, output_padding = self.output_padding,
      dilation = self.dilation, groups = self.groups })
end

-- InstanceNorm3d(num_features, {eps=1e-5, momentum=0.1, affine=false,
-- track_running_stats=false}) as PyTorch: per-(sample, channel) statistics; with
-- track_running_stats the buffers running_mean, running_var, num_batches_tracked are kept
-- and used in eval mode. Input (N, C, D, H, W) or (C, D, H, W).
nn.InstanceNorm3d = Module:extend("InstanceNorm3d")
function nn.InstanceNorm3d:__init(...) norm_init(self, "InstanceNorm3d", false, ...) end
function nn.InstanceNorm3d:forward(x)
  check_vol_input("InstanceNorm3d", x)
  local unbatched = x:dim() == 4
  if unbatched then x = x:unsqueeze(1) end
  if x:size(2) ~= self.num_features and (self.affine or self.track_running_stats) then
    raise(format("InstanceNorm3d: input has %d channels, expected %d (input %s)",
      x:size(2), self.num_features, util.shape_str(x)))
  end
  local use_input_stats = self.training or not self.track_running_stats
  local y = fn("instance_norm")(x, { running_mean = self.running_mean, running_var = self.running_var,
    weight = self.weight, bias = self.bias, use_input_stats = use_input_stats,
    momentum = self.momentum, eps = self.eps })
  if self.training and self.track_running_stats then
    local n = self.num_batches_tracked
    n:fill_(n:item() + 1)
  end
  if unbatched then y = y:squeeze(1) end
  return y
end
nn.InstanceNorm3d.extra_repr = nn.BatchNorm2d.extra_repr

-- PReLU({num_parameters=1, init=0.25}): max(0, x) + weight * min(0, x), weight one value
-- or one per channel (dim 2).
nn.PReLU = Module:extend("PReLU")
function nn.PReLU:__init(...)
  local cls = "PReLU"
  local o = parse(cls, { "num_parameters", "init" }, { num_parameters = 1, init = 0.25 }, ...)
  self.num_parameters = check_int(cls, "num_parameters", o.num_parameters, 1)
  local v = check_num(cls, "init", o.init, nil, nil, "a number")
  self.weight = lunet.full({ self.num_parameters }, v):requires_grad(true)
end
function nn.PReLU:forward(x) return fn("prelu")(x, self.weight) end
function nn.PReLU:extra_repr() return "num_parameters=" .. self.num_parameters end

---------------------------------------------------------------------------------------------
-- dropout and activations
---------------------------------------------------------------------------------------------
local function dropout_class(name, fname)
  local C = Module:extend(name)
  function C:__init(...)
    local o = parse(name, { "p", "inplace" }, { p = 0.5, inplace = false }, ...)
    self.p = check_num(name, "p", o.p, 0, 1, "a number in [0, 1]")
    check_bool(name, "inplace", o.inplace)
  end
  function C:forward(x)
    return fn(fname)(x, { p = self.p, training = self.training })
  end
  function C:extra_repr() return "p=" .. self.p end
  return C
end
-- Dropout(p=0.5): zeroes elements with probability p in training mode, scaling by 1/(1-p).
nn.Dropout = dropout_class("Dropout", "dropout")
-- Dropout2d(p=0.5): zeroes whole channels.
nn.Dropout2d = dropout_class("Dropout2d", "dropout2d")

local function simple(name, fname)
  local C = Module:extend(name)
  function C:__init(...) parse(name, {}, {}, ...) end
  function C:forward(x) return fn(fname)(x) end
  return C
end

nn.ReLU = Module:extend("ReLU")
function nn.ReLU:__init(...)
  local o = parse("ReLU", { "inplace" }, { inplace = false }, ...)
  check_bool("ReLU", "inplace", o.inplace)
end
function nn.ReLU:forward(x) return fn("relu")(x) end

-- LeakyReLU(negative_slope=0.01).
nn.LeakyReLU = Module:extend("LeakyReLU")
function nn.LeakyReLU:__init(...)
  local o = parse("LeakyReLU", { "negative_slope", "inplace" }, { negative_slope = 0.01, inplace = false }, ...)
  self.negative_slope = check_num("LeakyReLU", "negative_slope", o.negative_slope, nil, nil, "a number")
  check_bool("LeakyReLU", "inplace", o.inplace)
end
function nn.LeakyReLU:forward(x) return fn("leaky_relu")(x, self.negative_slope) end
function nn.LeakyReLU:extra_repr() return "negative_slope=" .. self.negative_slope end

nn.Sigmoid = simple("Sigmoid", "sigmoid")
nn.Tanh = simple("Tanh", "tanh")

local function softmax_class(name, fname)
  local C = Module:extend(name)
  function C:__init(...)
    local o = parse(name, { "dim" }, { dim = REQUIRED }, ...)
    local d = int_value(o.dim)
    if d == nil or d == 0 then
      raise(format("%s: dim must be a non-zero integer (1-based, negative from the end), got %s", name, show(o.dim)))
    end
    self.dim = d
  end
  function C:forward(x) return fn(fname)(x, self.dim) end
  function C:extra_repr() return "dim=" .. self.dim end
  return C
end
-- Softmax(dim) / LogSoftmax(dim): dim is required (1-based; 2 is the class dim of NCHW).
nn.Softmax = softmax_class("Softmax", "softmax")
nn.LogSoftmax = softmax_class("LogSoftmax", "log_softmax")

-- Identity(): returns its input.
nn.Identity = Module:extend("Identity")
function nn.Identity:__init(...) parse("Identity", {}, {}, ...) end
function nn.Identity:forward(x) return x end

---------------------------------------------------------------------------------------------
-- containers
---------------------------------------------------------------------------------------------
-- Modules from (m1, m2, ...) or ({m1, m2, ...}).
local function module_list(cls, ...)
  local n = select("#", ...)
  local a = { ... }
  if n == 1 and type(a[1]) == "table" and not is_module(a[1]) then
    local t = a[1]
    for k in pairs(t) do
      if mtype(k) ~= "integer" or k < 1 or k > #t then
        raise(format("%s: expects a list of modules, got key %s", cls, show(k)))
      end
    end
    a, n = t, #t
  end
  for i = 1, n do
    if not is_module(a[i]) then
      raise(format("%s: item %d is not a module (%s)", cls, i, typename(a[i])))
    end
  end
  return a, n
end

local function append(self, m)
  if not is_module(m) then
    raise(format("%s:append: expects a module, got %s", self.__name, typename(m)))
  end
  self[#self + 1] = m
  return self
end

-- Sequential(m1, m2, ...) or Sequential{m1, m2, ...}: calls its children in order. Children
-- are seq[1], seq[2], ... and named "1", "2", ... in state dicts; #seq is their number.
nn.Sequential = Module:extend("Sequential")
function nn.Sequential:__init(...)
  local a, n = module_list("Sequential", ...)
  for i = 1, n do self[i] = a[i] end
end
function nn.Sequential:forward(x, ...)
  local mods = rawget(self, "_modules")
  local i = 1
  local m = mods[1]
  if m == nil then return x, ... end
  while m ~= nil do
    if i == 1 then x = m(x, ...) else x = m(x) end
    i = i + 1
    m = mods[i]
  end
  return x
end
nn.Sequential.append = append

-- ModuleList{m1, m2, ...} / ModuleList(m1, ...): holds submodules (named "1", "2", ...)
-- without a forward; index with list[i], iterate with ipairs(list), add with :append(m).
nn.ModuleList = Module:extend("ModuleList")
function nn.ModuleList:__init(...)
  if select("#", ...) == 0 then return end
  local a, n = module_list("ModuleList", ...)
  for i = 1, n do self[i] = a[i] end
end
nn.ModuleList.append = append
function nn.ModuleList:forward()
  raise("ModuleList: has no forward; call its modules (list[i](x), or ipairs(list))")
end

-- Leaf layers run their forward through util.call, so an error of the functional op (C or
-- Lua) reports the user's line, never a path inside lunet. The containers call the user's
-- modules and are left alone (their errors keep their own positions and tracebacks).
for name, cls in pairs(nn) do
  local f = rawget(cls, "forward")
  if f and name ~= "Sequential" and name ~= "ModuleList" then
    cls.forward = function(self, ...) return util.call(f, self, ...) end
  end
end

return nn
