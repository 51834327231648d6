-- lunet.optim.Optimizer: the base of SGD, Adam, AdamW and RMSprop: parameter groups,
-- per-parameter state, zero_grad, and the flat state dict savable with lunet.save.
--
-- Parameters: a list of tensors, a module (its parameters()), or a list of groups
-- {params = list_or_tensor, lr = ..., ...}; a group's missing options come from the
-- optimizer's options (opts), whose missing ones come from the class defaults.
--
-- Flat state-dict scheme (every value is a tensor, so lunet.save takes the table as is):
--   state.<i>.<name>            tensor state of parameter i (1-based, numbering the
--                               parameters of all groups in order): momentum_buffer,
--                               exp_avg, exp_avg_sq, max_exp_avg_sq, square_avg, grad_avg
--   state.<i>.step              a scalar (step count)
--   param_groups.<g>.params     int32 tensor: the indices i of group g's parameters
--   param_groups.<g>.<option>   a scalar: lr, momentum, weight_decay, ..., and what
--                               schedulers add (initial_lr, max_lr, ...); booleans are 0/1,
--                               pairs such as betas are <option>.1, <option>.2
-- A scalar is stored as a float32 tensor of shape {3} whose three elements, summed in double
-- in order, give the Lua number exactly (the first element alone is the value rounded to
-- float32). load_state_dict accepts such tensors or plain Lua numbers.
local lunet = require "lunet"
local core = require "lunet.core"
local E = require "lunet.errors"
local Module = require "lunet.nn.module"

local util = Module.util
local raise, is_tensor, typename = util.raise, util.is_tensor, util.typename
local type, pairs, ipairs, next, tostring, setmetatable = type, pairs, ipairs, next, tostring, setmetatable
local getmetatable = getmetatable
local format, concat, sort = string.format, table.concat, table.sort
local pack, unpack, tointeger, huge = string.pack, string.unpack, math.tointeger, math.huge

local Optimizer = {}
Optimizer.__index = Optimizer
Optimizer.__name = "Optimizer"

---------------------------------------------------------------------------------------------
-- scalars as float32 {3} tensors
---------------------------------------------------------------------------------------------
local function f32(x) return (unpack("<f", pack("<f", x))) end

function Optimizer.encode_scalar(x)
  if x ~= x or x == huge or x == -huge or x > 3.4e38 or x < -3.4e38 then
    return lunet.tensor({ x, 0, 0 })
  end
  local hi = f32(x)
  local r = x - hi
  local mid = f32(r)
  return lunet.tensor({ hi, mid, f32(r - mid) })
end

-- A Lua number, or a tensor as written by encode_scalar (any number of elements, summed).
function Optimizer.decode_scalar(v, fn, key)
  if type(v) == "number" then return v end
  if type(v) == "boolean" then return v and 1 or 0 end
  if not is_tensor(v) then
    raise(format("%s: %s must be a number or a scalar tensor, got %s", fn, key, typename(v)))
  end
  local t = v:to("float32"):contiguous():view(v:numel()):totable()
  if #t == 0 then raise(format("%s: %s is an empty tensor", fn, key)) end
  local s = t[1]
  if s ~= s or s == huge or s == -huge then return s end
  for i = 2, #t do s = s + t[i] end
  return s
end
local encode, decode = Optimizer.encode_scalar, Optimizer.decode_scalar

---------------------------------------------------------------------------------------------
-- option value checks shared by the optimizers (where: " (parameter group 2)" or "")
---------------------------------------------------------------------------------------------
local function finite(v) return type(v) == "number" and v == v and v > -huge and v < huge end
Optimizer.finite = finite

-- v must be a finite number >= lo (when lo), <= hi (when hi; < hi when hi_open).
function Optimizer.check_number(fn, where, key, v, lo, hi, hi_open)
  if finite(v) and not (lo and v < lo) and not (hi and (v > hi or (hi_open and v == hi))) then return v end
  local want
  if lo and hi then want = format("in [%s, %s%s", E.show(lo), E.show(hi), hi_open and ")" or "]")
  elseif lo then want = ">= " .. E.show(lo)
  elseif hi then want = "<= " .. E.show(hi) end
  raise(format("%s: %s must be a finite number%s, got %s%s", fn, key, want and " " .. want or "", E.show(v), where))
end

function Optimizer.check_bool(fn, where, key, v)
  if type(v) ~= "boolean" then
    raise(format("%s: %s must be a boolean, got %s%s", fn, key, E.show(v), where))
  end
  return v
end

-- Raises unless self is an optimizer (opt.step() written for opt:step()).
local function need_self(self, fn)
  local mt = type(self) == "table" and getmetatable(self)
  if not (mt and type(self.param_groups) == "table" and type(mt.update) == "function") then
    raise(format("%s: self must be an optimizer, got %s (call it with a colon: opt:%s(...))", fn,
      typename(self), fn))
  end
end
Optimizer.need_self = need_self

-- Unknown keys of a group table (params allowed), with the group named in the message.
local function check_group_keys(fn, g, known, where)
  local msg = core.check_options(g, fn, known)
  if msg then raise(msg .. where) end
end

---------------------------------------------------------------------------------------------
-- construction
---------------------------------------------------------------------------------------------
-- Defines an optimizer class: name, defaults (option -> default; lunet.optim.REQUIRED for
-- none), validate(cls_name, group, where) checking one group's values, update(self, group,
-- p, grad, state) updating one parameter (called under no_grad), and the names of the
-- tensor states (for load_state_dict).
function Optimizer.class(name, spec)
  local cls = setmetatable({}, { __index = Optimizer, __call = function(c, params, opts)
    return Optimizer.new(c, params, opts)
  end, __tostring = function() return "optimizer class " .. name end })
  cls.__name = name
  cls.__index = cls
  cls.__tostring = Optimizer.__tostring
  cls.defaults_spec = spec.defaults
  cls.validate = spec.validate
  cls.update = spec.update
  cls._update_group = spec._update_group
  cls.tensor_states = spec.tensor_states
  return cls
end

Optimizer.REQUIRED = setmetatable({}, { __tostring = function() return "<required>" end })

local function collect_tensors(fn, list, where)
  if is_tensor(list) then return { list } end
  if Module.is_module(list) then list = list:parameters() end
  if type(list) ~= "table" then
    raise(format("%s: params%s must be a list of tensors, got %s", fn, where, typename(list)))
  end
  local out = {}
  for k in pairs(list) do
    if tointeger(k) == nil or k < 1 or k > #list then
      raise(format("%s: params%s must be a list of tensors (found key %s)", fn, where, tostring(k)))
    end
  end
  for i = 1, #list do
    local p = list[i]
    if not is_tensor(p) then
      raise(format("%s: params%s item %d is a %s, expected a tensor", fn, where, i, typename(p)))
    end
    if p:dtype() ~= "float32" then
      raise(format("%s: params%s item %d is %s, expected a float32 tensor", fn, where, i, p:dtype()))
    end
    out[i] = p
  end
  return out
end

function Optimizer.new(cls, params, opts)
  local fn = cls.__name
  local spec = cls.defaults_spec
  local allowed = {}
  for k in pairs(spec) do allowed[k] = true end
  opts = E.options(opts, fn, allowed)
  local defaults = {}
  for k, d in pairs(spec) do
    local v = opts[k]
    if v == nil then
      if d == Optimizer.REQUIRED then raise(format("%s: %s is required", fn, k)) end
      v = d
    end
    defaults[k] = v
  end
  cls.validate(fn, defaults, "")

  if Module.is_module(params) then params = params:parameters() end
  if type(params) ~= "table" and not is_tensor(params) then
    raise(format("%s: params must be a list of tensors or of parameter groups, got %s", fn, typename(params)))
  end
  local raw_groups
  if is_tensor(params) or #params == 0 or is_tensor(params[1]) or Module.is_module(params[1]) then
    raw_groups = { { params = params } }
  else
    raw_groups = params
  end
  local groups, seen = {}, {}
  for gi, rg in ipairs(raw_groups) do
    local where = #raw_groups > 1 and format(" (parameter group %d)", gi) or ""
    if type(rg) ~= "table" or is_tensor(rg) or rg.params == nil then
      raise(format("%s: params item %d is a %s, expected a tensor or a group {params = ..., ...}",
        fn, gi, is_tensor(rg) and "tensor" or typename(rg)))
    end
    local g = { params = collect_tensors(fn, rg.params, where) }
    if #g.params == 0 then raise(format("%s: params%s is an empty list", fn, where)) end
    local known = { params = true }
    for k in pairs(allowed) do known[k] = true end
    check_group_keys(fn, rg, known, format(" (parameter group %d)", gi))
    for k, v in pairs(rg) do
      if k ~= "params" then g[k] = v end
    end
    for k, v in pairs(defaults) do
      if g[k] == nil then g[k] = v end
    end
    cls.validate(fn, g, where)
    for _, p in ipairs(g.params) do
      if seen[p] then raise(format("%s: a parameter appears more than once%s", fn, where)) end
      seen[p] = true
    end
    groups[gi] = g
  end
  return setmetatable({ param_groups = groups, defaults = defaults, state = {} }, cls)
end

-- Adds a group {params = ..., option = ...} (e.g. for a layer unfrozen later).
function Optimizer:add_param_group(group)
  need_self(self, "add_param_group")
  local fn = self.__name .. ":add_param_group"
  if type(group) ~= "table" or is_tensor(group) or group.params == nil then
    raise(format("%s: expects a table {params = ..., ...}, got %s", fn, typename(group)))
  end
  local g = { params = collect_tensors(fn, group.params, "") }
  if #g.params == 0 then raise(format("%s: params is an empty list", fn)) end
  local known = { params = true }
  for k in pairs(self.defaults) do known[k] = true end
  check_group_keys(fn, group, known, "")
  for k, v in pairs(group) do
    if k ~= "params" then g[k] = v end
  end
  for k, v in pairs(self.defaults) do if g[k] == nil then g[k] = v end end
  self.validate(self.__name, g, "")
  for _, og in ipairs(self.param_groups) do
    for _, p in ipairs(og.params) do
      for _, q in ipairs(g.params) do
        if p == q then raise(fn .. ": a parameter is already in another group") end
      end
    end
  end
  self.param_groups[#self.param_groups + 1] = g
end

---------------------------------------------------------------------------------------------
-- stepping
---------------------------------------------------------------------------------------------
-- Updates every parameter that has a gradient. closure (optional) re-evaluates the model and
-- returns the loss; it is called first, with grad mode on, and its loss returned.
function Optimizer:step(closure)
  need_self(self, "step")
  local loss
  if closure ~= nil then
    if type(closure) ~= "function" then
      raise(format("%s:step: closure must be a function, got %s", self.__name, typename(closure)))
    end
    loss = closure()
  end
  local state = self.state
  -- _update_group(self, group, params, grads, states) (optional, per class; an instance may
  -- set it to false): the parameters of a group that have gradients, updated in one call
  local update_group = self._update_group
  lunet.no_grad(function()
    for _, g in ipairs(self.param_groups) do
      if update_group then
        local ps, gs, sts, n = {}, {}, {}, 0
        for _, p in ipairs(g.params) do
          local grad = p.grad
          if grad ~= nil then
            local st = state[p]
            if st == nil then st = {}; state[p] = st end
            n = n + 1
            ps[n], gs[n], sts[n] = p, grad, st
          end
        end
        if n > 0 then update_group(self, g, ps, gs, sts) end
      else
        for _, p in ipairs(g.params) do
          local grad = p.grad
          if grad ~= nil then
            local st = state[p]
            if st == nil then st = {}; state[p] = st end
            self:update(g, p, grad, st)
          end
        end
      end
    end
  end)
  return loss
end

-- Clears the gradient of every parameter (sets it to nil).
function Optimizer:zero_grad()
  need_self(self, "zero_grad")
  for _, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do util.clear_grad(p) end
  end
end

function Optimizer:__tostring()
  local lines = { self.__name .. " (" }
  for gi, g in ipairs(self.param_groups) do
    local keys = {}
    for k in pairs(g) do if k ~= "params" then keys[#keys + 1] = k end end
    sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do
      local v = g[k]
      if type(v) == "table" then v = "{" .. concat(v, ", ") .. "}" end
      parts[#parts + 1] = k .. "=" .. tostring(v)
    end
    lines[#lines + 1] = format("  group %d: %d parameters, %s", gi, #g.params, concat(parts, ", "))
  end
  lines[#lines + 1] = ")"
  return concat(lines, "\n")
end

---------------------------------------------------------------------------------------------
-- state dicts
---------------------------------------------------------------------------------------------
-- The flat table of the file header (tensor states are copies).
function Optimizer:state_dict()
  need_self(self, "state_dict")
  local sd, index = {}, 0
  for gi, g in ipairs(self.param_groups) do
    local pre = "param_groups." .. gi .. "."
    local ids = {}
    for _, p in ipairs(g.params) do
      index = index + 1
      ids[#ids + 1] = index
      local st = self.state[p]
      if st then
        for k, v in pairs(st) do
          local key = "state." .. index .. "." .. k
          if is_tensor(v) then sd[key] = v:clone() else sd[key] = encode(v) end
        end
      end
    end
    sd[pre .. "params"] = lunet.tensor(ids, { dtype = "int32" })
    for k, v in pairs(g) do
      if k ~= "params" then
        if type(v) == "boolean" then sd[pre .. k] = encode(v and 1 or 0)
        elseif type(v) == "number" then sd[pre .. k] = encode(v)
        elseif type(v) == "table" then
          for j, x in ipairs(v) do sd[pre .. k .. "." .. j] = encode(x) end
        end
      end
    end
  end
  return sd
end

-- Restores a table written by state_dict (possibly through lunet.save/lunet.load) into an
-- optimizer built over the same parameters in the same groups. Checks everything before
-- changing anything.
function Optimizer:load_state_dict(sd)
  need_self(self, "load_state_dict")
  local fn = self.__name .. ":load_state_dict"
  if type(sd) ~= "table" then raise(format("%s: expects a table, got %s", fn, typename(sd))) end
  local ngroups = 0
  while sd["param_groups." .. (ngroups + 1) .. ".params"] ~= nil do ngroups = ngroups + 1 end
  if ngroups ~= #self.param_groups then
    raise(format("%s: the state dict has %d parameter groups, the optimizer %d", fn, ngroups, #self.param_groups))
  end
  local params, index = {}, 0
  local new_groups = {}
  for gi, g in ipairs(self.param_groups) do
    local pre = "param_groups." .. gi .. "."
    local ids = sd[pre .. "params"]
    local n = is_tensor(ids) and ids:numel() or (type(ids) == "table" and #ids or -1)
    if n ~= #g.params then
      raise(format("%s: parameter group %d has %d parameters, the state dict's has %s",
        fn, gi, #g.params, n < 0 and "none" or tostring(n)))
    end
    local ng = {}
    for k, v in pairs(g) do
      if k ~= "params" then
        if type(v) == "table" then
          local t = {}
          for j = 1, #v do
            local x = sd[pre .. k .. "." .. j]
            t[j] = x ~= nil and decode(x, fn, pre .. k .. "." .. j) or v[j]
          end
          ng[k] = t
        else
          local x = sd[pre .. k]
          if x == nil then ng[k] = v
          elseif type(v) == "boolean" then ng[k] = decode(x, fn, pre .. k) ~= 0
          else ng[k] = decode(x, fn, pre .. k) end
        end
      end
    end
    -- options the saving side had but this one lacks (initial_lr, max_lr, ... of schedulers)
    for key, x in pairs(sd) do
      if type(key) == "string" and key:sub(1, #pre) == pre then
        local k = key:sub(#pre + 1)
        if k ~= "params" and not k:find(".", 1, true) and ng[k] == nil then
          ng[k] = decode(x, fn, key)
        end
      end
    end
    self.validate(self.__name, ng, format(" (parameter group %d of the state dict)", gi))
    new_groups[gi] = ng
    for _, p in ipairs(g.params) do
      index = index + 1
      params[index] = p
    end
  end
  local tensor_states = {}
  for _, k in ipairs(self.tensor_states) do tensor_states[k] = true end
  local new_state = {}
  local keys = {}
  for key in pairs(sd) do
    if type(key) == "string" and key:sub(1, 6) == "state." then
      local i, name = key:match("^state%.(%d+)%.([%w_]+)$")
      keys[#keys + 1] = { key, tointeger(i) or 0, name }
    end
  end
  sort(keys, function(a, b)     -- deterministic: the first problem by parameter index
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[1] < b[1]
  end)
  for _, e in ipairs(keys) do
    local key, i, name = e[1], e[2], e[3]
    local v, p = sd[key], params[i]
    if p == nil or name == nil then raise(format("%s: %s names no parameter of this optimizer", fn, key)) end
    local st = new_state[p] or {}
    new_state[p] = st
    if tensor_states[name] then
      if not is_tensor(v) then raise(format("%s: %s must be a tensor, got %s", fn, key, typename(v))) end
      if not util.same_shape(v, p) then
        raise(format("%s: %s has shape %s, its parameter %s", fn, key, util.shape_str(v), util.shape_str(p)))
      end
      st[name] = v:to("float32"):clone()
    else
      local x = decode(v, fn, key)
      st[name] = tointeger(x) or x
    end
  end
  for gi, g in ipairs(self.param_groups) do
    for k, v in pairs(new_groups[gi]) do g[k] = v end
  end
  self.state = new_state
end

return Optimizer
