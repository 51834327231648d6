-- lunet.tensor: autograd-aware tensor methods and operators on top of the raw C methods
-- of lunet.core, tostring, gradcheck, and the tensor constructors re-exported by lunet.
-- Every differentiable method records its backward beside its forward, here, in one
-- place; gradients of broadcast operands are summed back to the operand's shape.
local core = require "lunet.core"
local ag = require "lunet.autograd"
local E = require "lunet.errors"

local is_tensor, needs, record = core.is_tensor, ag.needs_grad, ag.record
local type, error, select, ipairs, pairs, tostring = type, error, select, ipairs, pairs, tostring
local math_abs, math_floor, math_huge, math_max, math_min = math.abs, math.floor, math.huge, math.max, math.min
local string_format, string_rep, concat, table_unpack = string.format, string.rep, table.concat, table.unpack

local methods, meta = core.methods, core.meta
local raw = {}
for k, v in pairs(methods) do raw[k] = v end

local M = {}

local function shape_str(t) return "[" .. concat(raw.shape(t), ", ") .. "]" end

-- Sum a gradient back to the shape of a broadcast operand (no-op when shapes match).
local function unbroadcast(g, like)
  if not is_tensor(like) then return nil end
  return raw.sum_to(g, raw.shape(like))
end

------------------------------------------------------------------------ binary ops

local function def_binary(name, grad)
  local f = raw[name]
  methods[name] = function(a, b)
    local out = f(a, b)
    if needs(a, b) then
      record(out, { a, b }, function(g) return grad(g, a, b, out) end, name)
    end
    return out
  end
end

def_binary("add", function(g, a, b)
  return unbroadcast(g, a), unbroadcast(g, b)
end)
def_binary("sub", function(g, a, b)
  return unbroadcast(g, a), is_tensor(b) and unbroadcast(raw.neg(g), b) or nil
end)
def_binary("mul", function(g, a, b)
  return is_tensor(a) and unbroadcast(raw.mul(g, b), a) or nil,
         is_tensor(b) and unbroadcast(raw.mul(g, a), b) or nil
end)
def_binary("div", function(g, a, b, out)
  local ga = is_tensor(a) and unbroadcast(raw.div(g, b), a) or nil
  local gb = is_tensor(b) and unbroadcast(raw.neg(raw.div(raw.mul(g, out), b)), b) or nil
  return ga, gb
end)
def_binary("pow", function(g, a, b, out)
  local ga, gb
  if is_tensor(a) then
    -- d/da a^b = b * a^(b-1)
    ga = unbroadcast(raw.mul(g, raw.mul(raw.pow(a, is_tensor(b) and raw.sub(b, 1) or b - 1), b)), a)
  end
  if is_tensor(b) then
    -- d/db a^b = a^b * log(a)
    local la = is_tensor(a) and raw.log(a) or math.log(a)
    gb = unbroadcast(raw.mul(raw.mul(g, out), la), b)
  end
  return ga, gb
end)
local function minmax_grad(cmp)
  return function(g, a, b)
    -- the gradient goes to the selected operand; ties split evenly as PyTorch does
    local ta = is_tensor(a) and a or nil
    local tb = is_tensor(b) and b or nil
    local x, y = ta or a, tb or b
    local win = raw[cmp](x, y)
    local tie = raw.eq(x, y)
    local wa = raw.sub(raw.to(win, "float32"), raw.mul(raw.to(tie, "float32"), 0.5))
    local ga = ta and unbroadcast(raw.mul(g, wa), ta) or nil
    local gb = tb and unbroadcast(raw.mul(g, raw.sub(1, wa)), tb) or nil
    return ga, gb
  end
end
def_binary("maximum", minmax_grad("ge"))
def_binary("minimum", minmax_grad("le"))

------------------------------------------------------------------------ unary ops

local function def_unary(name, grad)
  local f = raw[name]
  methods[name] = function(a, ...)
    local out = f(a, ...)
    if needs(a) then
      local extra = table.pack(...)
      record(out, { a }, function(g) return grad(g, a, out, table_unpack(extra, 1, extra.n)) end, name)
    end
    return out
  end
end

def_unary("neg", function(g) return raw.neg(g) end)
def_unary("exp", function(g, _, out) return raw.mul(g, out) end)
def_unary("log", function(g, a) return raw.div(g, a) end)
def_unary("sqrt", function(g, _, out) return raw.div(raw.mul(g, 0.5), out) end)
def_unary("abs", function(g, a) return raw.mul(g, raw.sign(a)) end)
def_unary("relu", function(g, a) return raw.mul(g, raw.gt(a, 0)) end)
def_unary("sigmoid", function(g, _, out) return raw.mul(g, raw.mul(out, raw.sub(1, out))) end)
def_unary("tanh", function(g, _, out) return raw.mul(g, raw.sub(1, raw.square(out))) end)
def_unary("square", function(g, a) return raw.mul(g, raw.mul(a, 2)) end)
def_unary("reciprocal", function(g, _, out) return raw.neg(raw.mul(g, raw.square(out))) end)
def_unary("sin", function(g, a) return raw.mul(g, raw.cos(a)) end)
def_unary("cos", function(g, a) return raw.neg(raw.mul(g, raw.sin(a))) end)
def_unary("log1p", function(g, a) return raw.div(g, raw.add(a, 1)) end)
def_unary("expm1", function(g, _, out) return raw.mul(g, raw.add(out, 1)) end)
def_unary("clamp", function(g, a, _, lo, hi)
  local mask = core.ones(raw.shape(a))
  if lo then mask = raw.mul(mask, raw.ge(a, lo)) end
  if hi then mask = raw.mul(mask, raw.le(a, hi)) end
  return raw.mul(g, mask)
end)
for _, name in ipairs { "sign", "floor", "ceil", "round" } do
  def_unary(name, function(g) return raw.mul(g, 0) end)
end

------------------------------------------------------------------------ reductions

-- Brings a reduced gradient back to the input's shape.
local function expand_back(g, a, d, keepdim)
  if d ~= nil and not keepdim and raw.dim(a) > 0 then g = raw.unsqueeze(g, d) end
  return raw.expand(g, raw.shape(a))
end

methods.sum = function(a, d, keepdim)
  local out = raw.sum(a, d, keepdim)
  if needs(a) then
    record(out, { a }, function(g) return raw.contiguous(expand_back(g, a, d, keepdim)) end, "sum")
  end
  return out
end

methods.mean = function(a, d, keepdim)
  local out = raw.mean(a, d, keepdim)
  if needs(a) then
    local n = d == nil and raw.numel(a) or raw.size(a, d)
    record(out, { a }, function(g)
      return raw.contiguous(expand_back(raw.div(g, n), a, d, keepdim))
    end, "mean")
  end
  return out
end

methods.prod = function(a, d, keepdim)
  local out = raw.prod(a, d, keepdim)
  if needs(a) then
    record(out, { a }, function(g)
      return raw.div(raw.mul(expand_back(g, a, d, keepdim), expand_back(out, a, d, keepdim)), a)
    end, "prod")
  end
  return out
end

local function def_minmax(name)
  local f = raw[name]
  methods[name] = function(a, d, keepdim)
    local v, idx = f(a, d, keepdim)
    if needs(a) then
      record(v, { a }, function(g)
        if raw.dim(a) == 0 then return raw.clone(g) end   -- the one element took the gradient
        local z = core.zeros(raw.shape(a))
        if d == nil then
          -- all-reduce: the gradient goes to the first extreme element
          local flat = raw.view(z, -1)
          local pos = (name == "max" and raw.argmax or raw.argmin)(a)
          flat:set(flat:get(pos) + g:item(), pos)
          return z
        end
        local ix, gg = idx, g
        if not keepdim then
          ix, gg = raw.unsqueeze(idx, d), raw.unsqueeze(g, d)
        end
        return raw.scatter_add_(z, d, ix, gg)
      end, name)
    end
    return v, idx
  end
end
def_minmax("max")
def_minmax("min")

------------------------------------------------------------------------ views and copies

local function def_view(name, grad)
  local f = raw[name]
  methods[name] = function(a, ...)
    local out = f(a, ...)
    -- contiguous() of a contiguous tensor returns the tensor itself: nothing to record
    if out ~= a and needs(a) then
      local args = table.pack(...)
      record(out, { a }, function(g) return grad(g, a, args) end, name)
    end
    return out
  end
end

def_view("view", function(g, a) return raw.reshape(g, raw.shape(a)) end)
def_view("reshape", function(g, a) return raw.reshape(g, raw.shape(a)) end)
def_view("contiguous", function(g) return g end)
def_view("clone", function(g) return g end)
def_view("expand", function(g, a) return raw.sum_to(g, raw.shape(a)) end)
def_view("squeeze", function(g, a) return raw.reshape(raw.contiguous(g), raw.shape(a)) end)
def_view("unsqueeze", function(g, a) return raw.reshape(raw.contiguous(g), raw.shape(a)) end)
def_view("transpose", function(g, _, args) return raw.transpose(g, args[1], args[2]) end)
def_view("permute", function(g, a, args)
  local perm = type(args[1]) == "table" and args[1] or args
  local n = raw.dim(a)
  local inv = {}
  for i = 1, n do
    local p = perm[i]
    if p < 0 then p = n + p + 1 end
    inv[p] = i
  end
  return raw.permute(g, inv)
end)
def_view("narrow", function(g, a, args)
  local z = core.zeros(raw.shape(a))
  raw.copy_(raw.narrow(z, args[1], args[2], args[3]), g)
  return z
end)
def_view("select", function(g, a, args)
  local z = core.zeros(raw.shape(a))
  raw.copy_(raw.select(z, args[1], args[2]), g)
  return z
end)
def_view("flip", function(g, _, args) return raw.flip(g, table_unpack(args, 1, args.n)) end)
def_view("index_select", function(g, a, args)
  return raw.index_add_(core.zeros(raw.shape(a)), args[1], args[2], g)
end)
def_view("gather", function(g, a, args)
  return raw.scatter_add_(core.zeros(raw.shape(a)), args[1], args[2], g)
end)

methods.to = function(a, dtype)
  local out = raw.to(a, dtype)
  if out ~= a and needs(a) and raw.dtype(out) == "float32" and raw.dtype(a) == "float32" then
    record(out, { a }, function(g) return g end, "to")
  end
  return out
end

methods.matmul = function(a, b)
  local out = raw.matmul(a, b)
  if needs(a, b) then
    record(out, { a, b }, function(g)
      -- work with at least 2-D operands, then reshape gradients back
      local a2 = raw.dim(a) == 1 and raw.unsqueeze(a, 1) or a
      local b2 = raw.dim(b) == 1 and raw.unsqueeze(b, 2) or b
      local g2 = g
      if raw.dim(a) == 1 then g2 = raw.unsqueeze(g2, -2) end
      if raw.dim(b) == 1 then g2 = raw.unsqueeze(g2, -1) end
      local ga = raw.matmul(g2, raw.transpose(b2, -1, -2))
      local gb = raw.matmul(raw.transpose(a2, -1, -2), g2)
      ga = raw.reshape(raw.sum_to(ga, raw.shape(a2)), raw.shape(a))
      gb = raw.reshape(raw.sum_to(gb, raw.shape(b2)), raw.shape(b))
      return ga, gb
    end, "matmul")
  end
  return out
end

-- split(size, d): list of narrow views of at most `size` along d (last may be shorter).
local function positive_int(fn, what, v)
  local i = type(v) == "number" and math.tointeger(v)
  if not i or i < 1 then E.fail(fn, "%s must be a positive integer, got %s", what, E.show(v)) end
  return i
end

-- A 1-based (or negative) dimension of a, checked as the C core checks it.
local function check_dim(fn, a, d)
  if d == nil then return 1 end
  local n = math_max(raw.dim(a), 1)
  local i = type(d) == "number" and math.tointeger(d)
  if not i then E.fail(fn, "dimension must be an integer, got %s", E.show(d)) end
  if i == 0 or i > n or i < -n then
    E.fail(fn, "dimension %d out of range for a %d-d tensor (use 1..%d or -%d..-1)", i, n, n, n)
  end
  return i
end

local function split(a, size, d)
  local n = raw.size(a, d)
  if n == 0 then return { methods.narrow(a, d, 1, 0) } end   -- PyTorch: one empty part
  local parts = {}
  for start = 1, n, size do
    parts[#parts + 1] = methods.narrow(a, d, start, math_min(size, n - start + 1))
  end
  return parts
end

local function check_self(fn, a)
  if not is_tensor(a) then E.fail(fn, "self must be a tensor, got %s", E.typename(a)) end
  if raw.dim(a) == 0 then E.fail(fn, "cannot split a 0-d tensor") end
end

methods.split = function(a, size, d)
  check_self("split", a)
  size = positive_int("split", "size", size)
  return split(a, size, check_dim("split", a, d))
end

-- chunk(n, d): at most n parts of ceil(size / n) along d, as PyTorch (fewer when they run out).
methods.chunk = function(a, n, d)
  check_self("chunk", a)
  n = positive_int("chunk", "chunks", n)
  d = check_dim("chunk", a, d)
  local len = raw.size(a, d)
  local size = len // n + (len % n ~= 0 and 1 or 0)   -- ceil in integers
  return split(a, math_max(size, 1), d)
end

methods.expand_as = function(a, b) return methods.expand(a, raw.shape(b)) end
methods.view_as = function(a, b) return methods.view(a, raw.shape(b)) end
methods.float = function(a) return methods.to(a, "float32") end
methods.int = function(a) return raw.to(a, "int32") end
methods.byte = function(a) return raw.to(a, "uint8") end
methods.t = function(a) return methods.transpose(a, 1, 2) end
-- flatten(d): dims d.. merged into one (a view when the strides allow, as PyTorch's).
methods.flatten = function(a, d)
  d = d or 1
  local s = raw.shape(a)
  local shape = {}
  for i = 1, d - 1 do shape[i] = s[i] end
  shape[#shape + 1] = -1
  return methods.reshape(a, shape)
end

------------------------------------------------------------------------ module-level ops

function M.cat(list, d)
  local out = core.cat(list, d)
  if needs(table_unpack(list)) then
    local dd = d or 1
    record(out, list, function(g)
      local grads, pos = {}, 1
      for i, t in ipairs(list) do
        local len = raw.size(t, dd)
        grads[i] = raw.contiguous(raw.narrow(g, dd, pos, len))
        pos = pos + len
      end
      return table_unpack(grads, 1, #list)
    end, "cat")
  end
  return out
end

function M.stack(list, d)
  local out = core.stack(list, d)
  if needs(table_unpack(list)) then
    local dd = d or 1
    record(out, list, function(g)
      local grads = {}
      for i = 1, #list do grads[i] = raw.contiguous(raw.select(g, dd, i)) end
      return table_unpack(grads, 1, #list)
    end, "stack")
  end
  return out
end

function M.where(c, a, b)
  local out = core.where(c, a, b)
  if needs(a, b) then
    record(out, { c, a, b }, function(g)
      local ga = is_tensor(a) and unbroadcast(core.where(c, g, 0), a) or nil
      local gb = is_tensor(b) and unbroadcast(core.where(c, 0, g), b) or nil
      return nil, ga, gb
    end, "where")
  end
  return out
end
methods.where = function(c, a, b) return M.where(c, a, b) end

------------------------------------------------------------------------ in-place guard

-- In-place ops are not recorded; on a tensor that autograd tracks they raise.
for _, name in ipairs { "add_", "sub_", "mul_", "div_", "pow_", "addcmul_", "addcdiv_", "clamp_",
                        "copy_", "fill_", "zero_", "index_add_", "scatter_add_", "set" } do
  local f = raw[name]
  methods[name] = function(a, ...)
    if ag.is_enabled() and is_tensor(a) and ag.tracked(a) then
      error(name .. ": in-place operation on a tensor that requires grad (wrap it in "
        .. "lunet.no_grad or use detach())", 2)
    end
    return f(a, ...)
  end
end

------------------------------------------------------------------------ autograd methods

-- x:requires_grad([flag=true]) sets the flag on a leaf and returns x.
methods.requires_grad = function(a, flag)
  if flag == nil then flag = true end
  if a._node then
    error("requires_grad: only leaf tensors can change requires_grad (this tensor is the output of '"
      .. a._node.name .. "'; use detach())", 2)
  end
  if flag and raw.dtype(a) ~= "float32" then
    error("requires_grad: only float32 tensors can require gradients, got " .. raw.dtype(a), 2)
  end
  a._rg = flag and true or nil
  return a
end
-- x:needs_grad(): does autograd track x (a leaf with requires_grad, or an op output)?
methods.needs_grad = function(a) return ag.tracked(a) end
methods.is_leaf = function(a) return a._node == nil end
methods.backward = function(a, grad, opts) return ag.backward(a, grad, opts) end
methods.grad_fn = function(a) return a._node and a._node.name or nil end

------------------------------------------------------------------------ printing

local function fmt_number(v, dtype, style)
  if dtype ~= "float32" then return string_format("%d", v) end
  if v ~= v then return "nan" end
  if v == math_huge then return "inf" end
  if v == -math_huge then return "-inf" end
  if style == "int" then return string_format("%.0f.", v) end
  if style == "sci" then return string_format("%.4e", v) end
  return string_format("%.4f", v)
end

-- Indices shown along a dim of size n: all, or the first and last 3 with a gap.
local function shown(n, summarize)
  if not summarize or n <= 6 then
    local r = {}
    for i = 1, n do r[i] = i end
    return r
  end
  return { 1, 2, 3, false, n - 2, n - 1, n }
end

local function tensor_tostring(t)
  if raw.is_freed(t) then return "tensor(<freed>)" end
  local shape, dtype = raw.shape(t), raw.dtype(t)
  local summarize = raw.numel(t) > 1000
  -- gather shown values to choose one format and width
  local values = {}
  local function collect(v, d)
    if d > #shape then values[#values + 1] = raw.item(v) return end
    for _, i in ipairs(shown(shape[d], summarize)) do
      if i then collect(raw.select(v, 1, i), d + 1) end
    end
  end
  if raw.numel(t) > 0 then collect(t, 1) end
  local style = "fixed"
  if dtype == "float32" then
    local allint, big, small = true, 0, math_huge
    for _, v in ipairs(values) do
      if v == v and math_abs(v) ~= math_huge then
        if v ~= math_floor(v) then allint = false end
        big = math_max(big, math_abs(v))
        if v ~= 0 then small = math.min(small, math_abs(v)) end
      end
    end
    if allint and big < 1e8 then style = "int"
    elseif big >= 1e8 or small < 1e-4 then style = "sci" end
  end
  local width = 0
  for i, v in ipairs(values) do
    values[i] = fmt_number(v, dtype, style)
    width = math_max(width, #values[i])
  end
  local k = 0
  local function render(d, indent)
    if d > #shape then
      k = k + 1
      return string_rep(" ", width - #values[k]) .. values[k]
    end
    local parts = {}
    for _, i in ipairs(shown(shape[d], summarize)) do
      parts[#parts + 1] = i and render(d + 1, indent + 1) or "..."
    end
    if d == #shape then return "[" .. concat(parts, ", ") .. "]" end
    local sep = "," .. string_rep("\n", #shape - d) .. string_rep(" ", indent + 1)
    return "[" .. concat(parts, sep) .. "]"
  end
  local body
  if #shape == 0 then body = values[1]
  elseif raw.numel(t) == 0 then body = "[]"
  else body = render(1, 7) end
  local extra = ", shape=" .. shape_str(t)
  if dtype ~= "float32" then extra = extra .. ", dtype=" .. dtype end
  if t._node then extra = extra .. ", grad_fn=" .. t._node.name
  elseif t._rg then extra = extra .. ", requires_grad=true" end
  return "tensor(" .. body .. extra .. ")"
end
meta.__tostring = tensor_tostring

------------------------------------------------------------------------ operators

local function operand_check(op, a, b)
  if not is_tensor(a) and type(a) ~= "number" or not is_tensor(b) and type(b) ~= "number" then
    error("operator " .. op .. ": operands must be tensors or numbers, got " .. type(a) .. " and "
      .. type(b), 3)
  end
end
meta.__add = function(a, b) operand_check("+", a, b) return methods.add(a, b) end
meta.__sub = function(a, b) operand_check("-", a, b) return methods.sub(a, b) end
meta.__mul = function(a, b) operand_check("*", a, b) return methods.mul(a, b) end
meta.__div = function(a, b) operand_check("/", a, b) return methods.div(a, b) end
meta.__pow = function(a, b) operand_check("^", a, b) return methods.pow(a, b) end
meta.__unm = function(a) return methods.neg(a) end

------------------------------------------------------------------------ gradcheck

-- gradcheck(fn, inputs, {eps=1e-3, atol=1e-3, rtol=1e-2, seed=}): compares backward of a
-- random projection of fn(inputs...) with central differences, for every input that
-- requires grad. Returns true, or false and a message naming input, element and values.
function M.gradcheck(fn, inputs, opts)
  opts = opts or {}
  local eps, atol, rtol = opts.eps or 1e-3, opts.atol or 1e-3, opts.rtol or 1e-2
  local gen = core.Generator(opts.seed or 1234)
  local out = fn(table_unpack(inputs))
  if not is_tensor(out) then error("gradcheck: fn must return a tensor, got " .. type(out), 2) end
  local v = gen:randn(raw.shape(out))
  local checked = {}
  for i, x in ipairs(inputs) do
    if is_tensor(x) and x._rg then
      x.grad = nil
      checked[#checked + 1] = i
    end
  end
  if #checked == 0 then error("gradcheck: no input requires grad", 2) end
  ag.backward(out, v)
  local function objective()
    return ag.no_grad(function() return core.dot64(fn(table_unpack(inputs)), v) end)
  end
  for _, i in ipairs(checked) do
    local x = inputs[i]
    local analytic = x.grad and raw.reshape(x.grad, -1) or core.zeros(raw.numel(x))
    if not raw.is_contiguous(x) then error("gradcheck: input " .. i .. " must be contiguous", 2) end
    local flat = raw.view(x, -1)
    for j = 1, raw.numel(x) do
      local orig = raw.get(flat, j)
      raw.set(flat, orig + eps, j)
      local fp = objective()
      raw.set(flat, orig - eps, j)
      local fm = objective()
      raw.set(flat, orig, j)
      local numeric = (fp - fm) / (2 * eps)
      local a = raw.get(analytic, j)
      if not (math_abs(a - numeric) <= atol + rtol * math_abs(numeric)) then
        return false, string_format("gradcheck: input %d element %d: analytic %.6g, numeric %.6g "
          .. "(atol %g, rtol %g)", i, j, a, numeric, atol, rtol)
      end
    end
  end
  return true
end

------------------------------------------------------------------------ constructors

for _, name in ipairs { "tensor", "zeros", "ones", "full", "empty", "arange", "rand", "randn",
                        "randint", "randperm", "manual_seed", "Generator", "default_generator",
                        "is_tensor", "allclose", "set_num_threads", "get_num_threads", "now",
                        "empty_cache", "memory_stats" } do
  M[name] = core[name]
end
M.no_grad, M.enable_grad = ag.no_grad, ag.enable_grad
M.is_grad_enabled, M.set_grad_enabled = ag.is_enabled, ag.set_enabled
M.zeros_like = function(t, opts) return core.zeros(raw.shape(t), opts or { dtype = raw.dtype(t) }) end
M.ones_like = function(t, opts) return core.ones(raw.shape(t), opts or { dtype = raw.dtype(t) }) end
M.full_like = function(t, v, opts) return core.full(raw.shape(t), v, opts or { dtype = raw.dtype(t) }) end

return M
