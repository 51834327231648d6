-- lunet.nn.init: in-place weight initialisers with PyTorch's gains and fans, all drawn from the
-- seeded generator (lunet.manual_seed) or opts.generator. Each returns its tensor.
--
--   nn.init.kaiming_normal_(conv.weight, {mode = "fan_out", nonlinearity = "relu"})
--   nn.init.uniform_(w, -0.1, 0.1)          -- or nn.init.uniform_(w, {a = -0.1, b = 0.1})
--   nn.init.constant_(bn.weight, 1)
--
-- Fans as torch.nn.init._calculate_fan_in_and_fan_out: for a weight (out, in, k1, k2, ...)
-- fan_in = in * k1 * k2 * ..., fan_out = out * k1 * k2 * ... (so a transposed-conv weight
-- (in, out/groups, kh, kw) has fan_in = out/groups * kh * kw, as in PyTorch).
local lunet = require "lunet"
local E = require "lunet.errors"
local Module = require "lunet.nn.module"

local util = Module.util
local raise, is_tensor, typename = util.raise, util.is_tensor, util.typename
local type, select, format, sqrt, tostring = type, select, string.format, math.sqrt, tostring

local init = {}

local function check_tensor(fn, t)
  if not is_tensor(t) then raise(format("%s: tensor expected, got %s", fn, typename(t))) end
  if t:dtype() ~= "float32" then
    raise(format("%s: tensor must be float32, got %s", fn, t:dtype()))
  end
end

-- Reads (t, v1, v2, ..., [opts]) or (t, {name1=, name2=, ...}) into one table.
local function args(fn, names, defaults, ...)
  local n = select("#", ...)
  local a = { ... }
  local opts = {}
  if n >= 1 and type(a[n]) == "table" and not is_tensor(a[n]) then
    opts = a[n]
    n = n - 1
  end
  local allowed = { generator = true }
  for _, k in ipairs(names) do allowed[k] = true end
  for k in pairs(defaults) do allowed[k] = true end
  opts = E.options(opts, fn, allowed)
  local gmt = type(opts.generator) == "userdata" and getmetatable(opts.generator)
  if opts.generator ~= nil and not (type(gmt) == "table" and gmt.__name == "lunet.Generator") then
    raise(format("%s: generator must be a lunet.Generator, got %s", fn, typename(opts.generator)))
  end
  local out = {}
  for k, v in pairs(opts) do out[k] = v end
  if n > #names then
    raise(format("%s: too many arguments (%d values after the tensor, at most %d)", fn, n, #names))
  end
  for i = 1, n do
    if a[i] ~= nil then
      if out[names[i]] ~= nil then
        raise(format("%s: %s given both positionally and by name", fn, names[i]))
      end
      out[names[i]] = a[i]
    end
  end
  for k, v in pairs(defaults) do
    if out[k] == nil then out[k] = v end
  end
  return out
end

-- A finite number (NaN and infinities make no sense as a bound, a mean or a gain).
local function check_number(fn, key, v)
  if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then
    raise(format("%s: %s must be a finite number, got %s", fn, key, E.show(v)))
  end
  return v
end

-- Returns fan_in, fan_out of a weight tensor (at least 2 dimensions).
function init.calculate_fan_in_and_fan_out(t, fn)
  fn = fn or "calculate_fan_in_and_fan_out"
  if not is_tensor(t) then raise(format("%s: tensor expected, got %s", fn, typename(t))) end
  local shape = t:shape()
  if #shape < 2 then
    raise(format("%s: fan in and fan out need a tensor of at least 2 dimensions, got %s",
      fn, util.shape_str(t)))
  end
  local rf = 1
  for i = 3, #shape do rf = rf * shape[i] end
  return shape[2] * rf, shape[1] * rf
end

-- PyTorch's torch.nn.init.calculate_gain.
function init.calculate_gain(nonlinearity, param, fn)
  fn = fn or "calculate_gain"
  local linear = { linear = 1, conv1d = 1, conv2d = 1, conv3d = 1, conv_transpose1d = 1,
                   conv_transpose2d = 1, conv_transpose3d = 1, sigmoid = 1 }
  if linear[nonlinearity] then return 1 end
  if nonlinearity == "tanh" then return 5 / 3 end
  if nonlinearity == "relu" then return sqrt(2) end
  if nonlinearity == "selu" then return 3 / 4 end
  if nonlinearity == "leaky_relu" then
    local slope = param
    if slope == nil then slope = 0.01 end
    if type(slope) ~= "number" or slope ~= slope or slope == math.huge or slope == -math.huge then
      raise(format("%s: negative slope must be a finite number, got %s", fn, E.show(slope)))
    end
    return sqrt(2 / (1 + slope * slope))
  end
  raise(format("%s: unsupported nonlinearity %s", fn, E.show(nonlinearity)))
end

-- Fills t in place (no autograd) with uniform [lo, hi) / normal(mean, std) values.
local function fill_uniform(t, lo, hi, gen)
  local shape = t:shape()
  local r = gen and gen:rand(shape) or lunet.rand(shape)
  lunet.no_grad(function() t:copy_(r * (hi - lo) + lo) end)
  return t
end

local function fill_normal(t, mean, std, gen)
  local shape = t:shape()
  local r = gen and gen:randn(shape) or lunet.randn(shape)
  lunet.no_grad(function() t:copy_(r * std + mean) end)
  return t
end

local function fill_constant(t, v)
  lunet.no_grad(function() t:fill_(v) end)
  return t
end

function init.uniform_(t, ...)
  check_tensor("uniform_", t)
  local o = args("uniform_", { "a", "b" }, { a = 0, b = 1 }, ...)
  check_number("uniform_", "a", o.a); check_number("uniform_", "b", o.b)
  if o.a > o.b then raise(format("uniform_: a (%s) must not exceed b (%s)", E.show(o.a), E.show(o.b))) end
  return fill_uniform(t, o.a, o.b, o.generator)
end

function init.normal_(t, ...)
  check_tensor("normal_", t)
  local o = args("normal_", { "mean", "std" }, { mean = 0, std = 1 }, ...)
  check_number("normal_", "mean", o.mean); check_number("normal_", "std", o.std)
  if o.std < 0 then raise(format("normal_: std must be >= 0, got %s", E.show(o.std))) end
  return fill_normal(t, o.mean, o.std, o.generator)
end

function init.constant_(t, ...)
  check_tensor("constant_", t)
  local o = args("constant_", { "val" }, {}, ...)
  if o.val == nil then raise("constant_: val is required") end
  check_number("constant_", "val", o.val)
  return fill_constant(t, o.val)
end

function init.zeros_(t)
  check_tensor("zeros_", t)
  return fill_constant(t, 0)
end

function init.ones_(t)
  check_tensor("ones_", t)
  return fill_constant(t, 1)
end

local function kaiming_std(fn, t, o)
  check_number(fn, "a", o.a)
  local fan_in, fan_out = init.calculate_fan_in_and_fan_out(t, fn)
  local fan
  if o.mode == "fan_in" then fan = fan_in
  elseif o.mode == "fan_out" then fan = fan_out
  else E.choice(fn, "mode", o.mode, { "fan_in", "fan_out" }) end
  local gain = init.calculate_gain(o.nonlinearity, o.a, fn)
  if fan == 0 then return nil end
  return gain / sqrt(fan)
end

-- kaiming_uniform_(t, {a=0, mode="fan_in", nonlinearity="leaky_relu"}): U(-b, b) with
-- b = gain * sqrt(3 / fan). Positional form: kaiming_uniform_(t, a, mode, nonlinearity).
function init.kaiming_uniform_(t, ...)
  check_tensor("kaiming_uniform_", t)
  local o = args("kaiming_uniform_", { "a", "mode", "nonlinearity" },
    { a = 0, mode = "fan_in", nonlinearity = "leaky_relu" }, ...)
  local std = kaiming_std("kaiming_uniform_", t, o)
  if std == nil then return t end   -- zero-element tensor, as PyTorch
  local bound = sqrt(3) * std
  return fill_uniform(t, -bound, bound, o.generator)
end

-- kaiming_normal_(t, {a=0, mode="fan_in", nonlinearity="leaky_relu"}): N(0, gain^2 / fan).
function init.kaiming_normal_(t, ...)
  check_tensor("kaiming_normal_", t)
  local o = args("kaiming_normal_", { "a", "mode", "nonlinearity" },
    { a = 0, mode = "fan_in", nonlinearity = "leaky_relu" }, ...)
  local std = kaiming_std("kaiming_normal_", t, o)
  if std == nil then return t end
  return fill_normal(t, 0, std, o.generator)
end

-- xavier_uniform_(t, {gain=1}): U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).
function init.xavier_uniform_(t, ...)
  check_tensor("xavier_uniform_", t)
  local o = args("xavier_uniform_", { "gain" }, { gain = 1 }, ...)
  check_number("xavier_uniform_", "gain", o.gain)
  local fan_in, fan_out = init.calculate_fan_in_and_fan_out(t, "xavier_uniform_")
  local bound = o.gain * sqrt(2 / (fan_in + fan_out)) * sqrt(3)
  return fill_uniform(t, -bound, bound, o.generator)
end

-- xavier_normal_(t, {gain=1}): N(0, gain^2 * 2 / (fan_in + fan_out)).
function init.xavier_normal_(t, ...)
  check_tensor("xavier_normal_", t)
  local o = args("xavier_normal_", { "gain" }, { gain = 1 }, ...)
  check_number("xavier_normal_", "gain", o.gain)
  local fan_in, fan_out = init.calculate_fan_in_and_fan_out(t, "xavier_normal_")
  return fill_normal(t, 0, o.gain * sqrt(2 / (fan_in + fan_out)), o.generator)
end

return init
