-- lunet.nn.Module: the base class of every layer and user model, with the class machinery
-- (Module:extend), registration of parameters, buffers and submodules by field assignment,
-- recursive traversal, state dicts and the printed module tree.
--
--   local M = nn.Module:extend("Net")
--   function M:__init(opts)
--     self.conv = nn.Conv2d(3, 8, 3, {padding = 1})   -- a submodule
--     self.scale = lunet.ones(1):requires_grad(true)   -- a parameter
--     self:register_buffer("count", lunet.zeros(1))    -- a buffer (saved, not trained)
--   end
--   function M:forward(x) return self.conv(x) * self.scale end
--   local m = M{}; local y = m(x)
--
-- Registration rules. Assigning to a field of a module instance registers the value when it
-- is a module (submodule), or a tensor that requires grad at assignment time (parameter), or a
-- tensor assigned to a name already registered as a parameter or buffer (replacement). Any
-- other value (numbers, strings, plain tables, tensors without requires_grad) is a plain
-- attribute, not part of the state. Assigning nil unregisters. Plain Lua tables of modules are
-- not registered (as a Python list in PyTorch): use nn.ModuleList or nn.Sequential.
--
-- Names and order. named_parameters() and state_dict() give PyTorch's dotted names and
-- PyTorch's order: a module's own parameters (definition order), then (state_dict only) its
-- own buffers, then each child in definition order, recursively. Children of Sequential and
-- ModuleList are named 1, 2, 3, ... (1-based like Lua indices, so `seq[1]` is "1"), where
-- PyTorch writes 0, 1, 2: PyTorch's "features.0.weight" is "features.1.weight" here.
-- state_dict{index_base = 0} and load_state_dict(sd, {index_base = 0}) write / read names
-- whose numeric components count from 0, for exchanging state dicts with PyTorch.
--
-- Errors are raised through lunet.errors: at the first stack frame outside lunet's own files,
-- so a misuse reports the user's file and line.
local lunet = require "lunet"
local E = require "lunet.errors"

local type, pairs, ipairs, next, select, rawget, rawset = type, pairs, ipairs, next, select, rawget, rawset
local setmetatable, getmetatable, tostring, error = setmetatable, getmetatable, tostring, error
local getinfo, pcall, pack, unpack = debug.getinfo, pcall, table.pack, table.unpack
local concat, sort, remove = table.concat, table.sort, table.remove
local format, mtype, tointeger = string.format, math.type, math.tointeger

local Module = {}

---------------------------------------------------------------------------------------------
-- helpers shared by the nn and optim files (exported as Module.util)
---------------------------------------------------------------------------------------------
local util = {}

-- raise(msg) / fail(fn, fmt, ...): errors at the user's level (lunet.errors).
local raise = E.raise
util.raise = raise
util.fail = E.fail

-- Raises unless self is a module: catches m.parameters() written for m:parameters().
local function need_module(self, fn)
  if not Module.is_module(self) then
    raise(format("%s: self must be a module, got %s (call it with a colon: m:%s(...))", fn,
      util.typename(self), fn))
  end
end
util.need_module = need_module

local core_is_tensor = lunet.is_tensor
function util.is_tensor(v)
  return type(v) == "userdata" and core_is_tensor(v)
end
local is_tensor = util.is_tensor

-- Does t require grad (a leaf marked with requires_grad)? (x:requires_grad() SETS the flag.)
function util.requires_grad(t)
  return t._rg == true
end

-- Drops the gradient of a parameter (the next backward allocates a fresh one).
function util.clear_grad(p)
  p.grad = nil
end

function util.shape_str(t)
  return "[" .. concat(t:shape(), ", ") .. "]"
end

function util.same_shape(a, b)
  local sa, sb = a:shape(), b:shape()
  if #sa ~= #sb then return false end
  for i = 1, #sa do if sa[i] ~= sb[i] then return false end end
  return true
end

-- Lua type name with modules and tensors told apart, for error messages.
function util.typename(v)
  if is_tensor(v) then return "tensor" end
  if Module.is_module(v) then return "module " .. v.__name end
  return type(v)
end

-- util.call(f, ...): f(...), with errors brought to the user's level: a message that carries
-- the position of one of lunet's own Lua files ("lua/lunet/nn/functional/conv.lua:25: ...",
-- as error(msg, 2) or a C function's luaL_where writes it) loses it, and a message with no
-- position gets the user's; both are raised again at the first frame outside lunet. A
-- message that already points outside lunet (lunet.errors put it at the user's line, or the
-- user's own code raised it) passes unchanged, as do non-string errors. util.rethrow(err)
-- is the same for an error caught by pcall.
local roots, exists_cache = nil, {}
local function exists(path)
  local e = exists_cache[path]
  if e == nil then
    local f = io.open(path, "rb")
    e = f ~= nil
    if f then f:close() end
    exists_cache[path] = e
  end
  return e
end

-- Is p (a chunk's short_src as error messages print it: the path, or "..." and its last
-- characters when long) one of lunet's own Lua files?
local function internal_path(p)
  if not roots then
    roots = { (getinfo(1, "S").source:match("^@(.*[/\\])nn[/\\]module%.lua$")) }
    local path = package.searchpath("lunet.models.unet", package.path)
    roots[#roots + 1] = path and path:match("^(.*[/\\])models[/\\]unet%.lua$")
  end
  for i = 1, 2 do
    local r = roots[i]
    if r then
      if p:sub(1, #r) == r then return true end
      if p:sub(1, 3) == "..." then   -- the tail of root .. relative path
        local tail = p:sub(4)
        for k = 1, #r do
          local piece = r:sub(k)
          if tail:sub(1, #piece) == piece and exists(r .. tail:sub(#piece + 1)) then return true end
        end
      end
    end
  end
  return false
end

local function rethrow(e)
  if type(e) ~= "string" then error(e, 0) end
  local path, rest = e:match("^([^\n:]+):%d+: ()")
  if path == nil then raise(e) end
  if internal_path(path) then raise(e:sub(rest)) end
  error(e, 0)
end
util.rethrow = rethrow

function util.call(f, ...)
  local r = pack(pcall(f, ...))
  if r[1] then return unpack(r, 2, r.n) end
  rethrow(r[2])
end

function util.set(list)
  local s = {}
  for _, k in ipairs(list) do s[k] = true end
  return s
end

---------------------------------------------------------------------------------------------
-- classes
---------------------------------------------------------------------------------------------
local INTERNAL = { _parameters = true, _buffers = true, _modules = true, _order = true,
                   _attrs = true, _nonpersistent = true }

local function remove_name(order, k)
  for i = 1, #order do
    if order[i] == k then remove(order, i); return end
  end
end

-- The registration rules of the file header.
local function inst_newindex(self, k, v)
  if INTERNAL[k] then return rawset(self, k, v) end
  local params, bufs, mods, attrs = rawget(self, "_parameters"), rawget(self, "_buffers"),
      rawget(self, "_modules"), rawget(self, "_attrs")
  local registered = params[k] ~= nil or bufs[k] ~= nil or mods[k] ~= nil
  local function clear()
    params[k], bufs[k], mods[k] = nil, nil, nil
    rawget(self, "_nonpersistent")[k] = nil
  end
  if Module.is_module(v) then
    if mods[k] == nil then
      if registered then clear(); remove_name(self._order, k) end
      self._order[#self._order + 1] = k
    end
    attrs[k] = nil; mods[k] = v
  elseif is_tensor(v) and (bufs[k] ~= nil or params[k] ~= nil or util.requires_grad(v)) then
    if bufs[k] ~= nil then bufs[k] = v
    elseif params[k] ~= nil then params[k] = v
    else
      if registered then clear(); remove_name(self._order, k) end
      self._order[#self._order + 1] = k
      attrs[k] = nil; params[k] = v
    end
  else
    if registered then clear(); remove_name(self._order, k) end
    attrs[k] = v
  end
end

local function make_instance_mt(cls)
  return {
    __index = function(self, k)
      local v = rawget(self, "_attrs")[k]
      if v ~= nil then return v end
      v = rawget(self, "_modules")[k]
      if v ~= nil then return v end
      v = rawget(self, "_parameters")[k]
      if v ~= nil then return v end
      v = rawget(self, "_buffers")[k]
      if v ~= nil then return v end
      return cls[k]
    end,
    __newindex = inst_newindex,
    __call = function(self, ...) return self:forward(...) end,
    __tostring = function(self) return self:__tostring() end,
    __len = function(self)
      local n, mods = 0, rawget(self, "_modules")
      while mods[n + 1] ~= nil do n = n + 1 end
      return n
    end,
    __lunet_module = true,
    __class = cls,
  }
end

local function construct(cls, ...)
  local self = { _parameters = {}, _buffers = {}, _modules = {}, _order = {}, _attrs = {},
                 _nonpersistent = {} }
  setmetatable(self, cls.__instance_mt)
  self.training = true
  self:__init(...)
  return self
end

local class_mt = {
  __call = construct,
  __tostring = function(cls) return "class " .. cls.__name end,
}

Module.__name = "Module"
Module.__instance_mt = make_instance_mt(Module)
setmetatable(Module, class_mt)

-- Creates a subclass: `local M = nn.Module:extend("Name")`; M(...) constructs and calls
-- M.__init(self, ...); instances are called as m(x) -> m:forward(x).
function Module.extend(parent, name)
  if type(parent) ~= "table" or rawget(parent, "__instance_mt") == nil then
    raise(format("Module:extend: call it on a class with a colon (nn.Module:extend(\"Name\")), got %s",
      util.typename(parent)))
  end
  if type(name) ~= "string" or name == "" then
    raise(format("Module:extend: name must be a non-empty string, got %s", util.typename(name)))
  end
  local cls = { __name = name, __super = parent }
  cls.__instance_mt = make_instance_mt(cls)
  return setmetatable(cls, { __index = parent, __call = construct, __tostring = class_mt.__tostring })
end

function Module.is_module(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__lunet_module") == true
end

-- True when the instance's class is cls or a subclass of it.
function Module:is_instance_of(cls)
  need_module(self, "is_instance_of")
  local c = getmetatable(self).__class
  while c do
    if c == cls then return true end
    c = rawget(c, "__super")
  end
  return false
end

function Module:__init() end

function Module:forward()
  need_module(self, "forward")
  raise(format("%s: no forward method defined (define function %s:forward(...))",
    self.__name, self.__name))
end

---------------------------------------------------------------------------------------------
-- registration
---------------------------------------------------------------------------------------------
local function check_name(self, fn, name)
  if type(name) ~= "string" and mtype(name) ~= "integer" then
    raise(format("%s: name must be a string or an integer, got %s", fn, util.typename(name)))
  end
  if type(name) == "string" and (name == "" or name:find(".", 1, true)) then
    raise(format("%s: invalid name '%s' (empty or containing '.')", fn, name))
  end
end

-- Registers t as a buffer (state that is saved but not trained, e.g. running_mean).
-- opts.persistent=false keeps it out of the state dict. t may be nil (an absent buffer).
function Module:register_buffer(name, t, opts)
  need_module(self, "register_buffer")
  check_name(self, "register_buffer", name)
  opts = E.options(opts, "register_buffer", { "persistent" })
  if opts.persistent ~= nil and type(opts.persistent) ~= "boolean" then
    raise(format("register_buffer: persistent must be a boolean, got %s", E.show(opts.persistent)))
  end
  if t ~= nil and not is_tensor(t) then
    raise(format("register_buffer: buffer '%s' must be a tensor or nil, got %s", name, util.typename(t)))
  end
  self[name] = nil
  if t ~= nil then
    local bufs = rawget(self, "_buffers")
    bufs[name] = t
    self._order[#self._order + 1] = name
    if opts.persistent == false then rawget(self, "_nonpersistent")[name] = true end
  end
  return t
end

-- Registers t as a parameter (sets requires_grad) even if it did not require grad.
function Module:register_parameter(name, t)
  need_module(self, "register_parameter")
  check_name(self, "register_parameter", name)
  if t ~= nil and not is_tensor(t) then
    raise(format("register_parameter: parameter '%s' must be a tensor or nil, got %s", name, util.typename(t)))
  end
  if t ~= nil and t:dtype() ~= "float32" then
    raise(format("register_parameter: parameter '%s' must be a float32 tensor, got %s", name, t:dtype()))
  end
  self[name] = nil
  if t ~= nil then
    t:requires_grad(true)
    self[name] = t
  end
  return t
end

function Module:add_module(name, m)
  need_module(self, "add_module")
  check_name(self, "add_module", name)
  if m ~= nil and not Module.is_module(m) then
    raise(format("add_module: '%s' must be a module, got %s", tostring(name), util.typename(m)))
  end
  self[name] = m
  return m
end

---------------------------------------------------------------------------------------------
-- traversal
---------------------------------------------------------------------------------------------
local function join(prefix, k)
  if prefix == "" then return tostring(k) end
  return prefix .. "." .. tostring(k)
end

-- Calls visit(module, prefix) for self and every descendant, pre-order, each module once.
local function walk(self, prefix, visit, seen)
  if seen[self] then return end
  seen[self] = true
  visit(self, prefix)
  local mods = rawget(self, "_modules")
  for _, k in ipairs(rawget(self, "_order")) do
    local m = mods[k]
    if m ~= nil then walk(m, join(prefix, k), visit, seen) end
  end
end

-- Ordered list of {name, tensor} for one kind ("_parameters" or "_buffers").
local function named_tensors(self, kind, persistent_only)
  local out, seen = {}, {}
  walk(self, "", function(m, prefix)
    local dict, np = rawget(m, kind), rawget(m, "_nonpersistent")
    for _, k in ipairs(rawget(m, "_order")) do
      local t = dict[k]
      if t ~= nil and not seen[t] and not (persistent_only and np[k]) then
        seen[t] = true
        out[#out + 1] = { join(prefix, k), t }
      end
    end
  end, {})
  return out
end

local function iter(list)
  local i = 0
  return function()
    i = i + 1
    local e = list[i]
    if e then return e[1], e[2] end
  end
end

-- `for name, p in m:named_parameters() do ... end` (names in PyTorch order, shared once).
function Module:named_parameters()
  need_module(self, "named_parameters")
  return iter(named_tensors(self, "_parameters"))
end
function Module:named_buffers()
  need_module(self, "named_buffers")
  return iter(named_tensors(self, "_buffers"))
end

-- List of the parameter tensors (what optimizers take).
function Module:parameters()
  need_module(self, "parameters")
  local out = {}
  for i, e in ipairs(named_tensors(self, "_parameters")) do out[i] = e[2] end
  return out
end

function Module:buffers()
  need_module(self, "buffers")
  local out = {}
  for i, e in ipairs(named_tensors(self, "_buffers")) do out[i] = e[2] end
  return out
end

-- `for name, child in m:named_children()`; children() is the list of direct submodules.
function Module:named_children()
  need_module(self, "named_children")
  local list, mods = {}, rawget(self, "_modules")
  for _, k in ipairs(rawget(self, "_order")) do
    if mods[k] ~= nil then list[#list + 1] = { tostring(k), mods[k] } end
  end
  return iter(list)
end

function Module:children()
  need_module(self, "children")
  local out = {}
  for _, m in self:named_children() do out[#out + 1] = m end
  return out
end

-- `for name, m in model:named_modules()`: self (name "") and every descendant, pre-order.
function Module:named_modules()
  need_module(self, "named_modules")
  local list = {}
  walk(self, "", function(m, prefix) list[#list + 1] = { prefix, m } end, {})
  return iter(list)
end

function Module:modules()
  need_module(self, "modules")
  local out = {}
  for _, m in self:named_modules() do out[#out + 1] = m end
  return out
end

-- fn(m) on every descendant then self (children first, as PyTorch); returns self.
function Module:apply(fn)
  need_module(self, "apply")
  if type(fn) ~= "function" then
    raise(format("apply: fn must be a function, got %s", util.typename(fn)))
  end
  for _, m in ipairs(self:children()) do m:apply(fn) end
  fn(self)
  return self
end

-- Sets training mode recursively (mode defaults to true); returns self.
function Module:train(mode)
  need_module(self, "train")
  if mode == nil then mode = true end
  if type(mode) ~= "boolean" then
    raise(format("train: mode must be a boolean, got %s", util.typename(mode)))
  end
  local mods = self:modules()
  if mode then
    for _, m in ipairs(mods) do
      local f = rawget(rawget(m, "_attrs"), "fused")
      if f then
        raise(format("train: this model was fused for inference (model:fuse() folded BatchNorm2d into %s); "
          .. "it cannot train: train an unfused copy (build the model again and load its unfused state dict)",
          f == "model" and "its convolutions" or "this " .. m.__name))
      end
    end
  end
  for _, m in ipairs(mods) do m.training = mode end
  return self
end

function Module:eval()
  need_module(self, "eval")
  return self:train(false)
end

---------------------------------------------------------------------------------------------
-- fusion for inference
---------------------------------------------------------------------------------------------
-- model:fuse(opts) -> model. Folds every eval-mode BatchNorm2d into the Conv2d whose output
-- it normalises (PyTorch's fuse_modules / torch.fx fusion of conv + bn): the convolution gets
-- the weight w * s and the bias (b - running_mean) * s + beta with s = gamma / sqrt(running_var
-- + eps) per output channel, and the BatchNorm2d is replaced by an nn.Identity in its parent
-- (the old instance, if still referenced elsewhere, also becomes an identity). The model must
-- be in eval mode (fuse raises otherwise) and stays fused: train() on a fused model (or any
-- module inside it) raises, since the folded weights are not the trained parameters any
-- more; keep an unfused copy (or its state_dict) to train on. The fused state dict has the
-- folded conv weights and biases and no BatchNorm entries.
--
-- The pairs come from a traced forward, so custom forwards work (the zoo's, users'): fuse
-- runs the model under no_grad on an input of opts.input_shape (default {1, C, 64, 64}, C
-- the config's in_channels or else the first Conv2d's in_channels; or opts.input, a tensor)
-- and records which Conv2d produced each tensor and which BatchNorm2d consumed it. A pair is
-- folded only when the conv runs once, its output tensor goes straight into the BatchNorm2d
-- (which runs once, tracks running statistics and has the conv's channel count), and nothing
-- else reads that output: a second traced forward replaces each such conv output by noise
-- except where its BatchNorm2d reads it, and must give the first forward's result; pairs
-- that change it are left unfused (found pair by pair). Finally the fused model is checked
-- against the first forward (relative 1e-3 of the output's largest magnitude), else fuse
-- restores everything and raises. ReLU is not merged: the core has no conv+relu kernel, so
-- it stays a separate (cheap, elementwise) layer. Returns self; model.fused_pairs lists the
-- {conv_name, bn_name} pairs folded (names as named_modules gives them).
function Module:fuse(opts)
  need_module(self, "fuse")
  opts = E.options(opts, "fuse", { "input", "input_shape" })
  local nn = require "lunet.nn"
  local mods = {}
  local names, parent_of = {}, {}
  walk(self, "", function(m, prefix)
    mods[#mods + 1] = m
    names[m] = prefix
    local ms = rawget(m, "_modules")
    for _, k in ipairs(rawget(m, "_order")) do
      local c = ms[k]
      if c ~= nil then
        parent_of[c] = parent_of[c] or {}
        local l = parent_of[c]
        l[#l + 1] = { m, k }
      end
    end
  end, {})
  for _, m in ipairs(mods) do
    if m.training then
      raise(format("fuse: the model must be in eval mode (call model:eval() first); module '%s' (%s) is in training mode",
        names[m] == "" and "(root)" or names[m], m.__name))
    end
  end
  local x = opts.input
  if x ~= nil then
    if not is_tensor(x) then raise(format("fuse: input must be a tensor, got %s", util.typename(x))) end
  else
    local shape = opts.input_shape
    if shape == nil then
      local cin = type(self.config) == "table" and mtype(self.config.in_channels) == "integer"
        and self.config.in_channels or nil
      if not cin then
        for _, m in ipairs(mods) do
          if m:is_instance_of(nn.Conv2d) then cin = m.in_channels; break end
        end
      end
      if not cin then return self end   -- no convolution: nothing to fuse
      shape = { 1, cin, 64, 64 }
    end
    if type(shape) ~= "table" or #shape ~= 4 then
      local shown = E.show(shape)
      if type(shape) == "table" then
        local parts = {}
        for i = 1, #shape do parts[i] = E.show(shape[i]) end
        shown = "{" .. concat(parts, ", ") .. "}"
      end
      raise(format("fuse: input_shape must be {N, C, H, W}, got %s", shown))
    end
    for i = 1, 4 do E.integer("fuse", "input_shape[" .. i .. "]", shape[i], 1, 4096) end
    x = lunet.Generator(12345):rand(shape)
  end
  local convs, bns = {}, {}
  for _, m in ipairs(mods) do
    if m:is_instance_of(nn.Conv2d) then convs[#convs + 1] = m
    elseif m:is_instance_of(nn.BatchNorm2d) then bns[#bns + 1] = m end
  end
  if #convs == 0 or #bns == 0 then self.fused_pairs = {}; return self end

  -- wrap the forwards of the convs and bns on the instances (restored in every case)
  local calls, produced, consumed = {}, {}, {}
  local poison, clean = nil, nil      -- poison[conv] = true; clean[noisy output] = clean output
  local gen = lunet.Generator(777)
  local wrapped = {}
  local function wrap(m, is_conv)
    local orig = m.forward
    wrapped[#wrapped + 1] = m
    rawget(m, "_attrs").forward = function(s, input, ...)
      calls[s] = (calls[s] or 0) + 1
      if is_conv then
        local y = orig(s, input, ...)
        produced[y] = s
        if poison and poison[s] then
          local noisy = y + gen:randn(y:shape()) * 1000
          clean[noisy] = { y, s }
          return noisy
        end
        return y
      end
      consumed[s] = input
      if clean then
        local c = clean[input]
        if c and poison[c[2]] == s then input = c[1] end
      end
      return orig(s, input, ...)
    end
  end
  local function unwrap()
    for _, m in ipairs(wrapped) do rawget(m, "_attrs").forward = nil end
  end
  for _, m in ipairs(convs) do wrap(m, true) end
  for _, m in ipairs(bns) do wrap(m, false) end
  local function run()
    calls, produced, consumed = {}, {}, {}
    local ok, y = pcall(lunet.no_grad, function() return self(x) end)
    if not ok then unwrap(); rethrow(y) end
    if not is_tensor(y) then
      unwrap()
      raise(format("fuse: the model returned %s; fuse needs a model whose forward returns a tensor", util.typename(y)))
    end
    return y
  end
  local y0 = run()
  local pairs_ = {}
  for _, b in ipairs(bns) do
    local input = consumed[b]
    local c = input and produced[input]
    if c and calls[b] == 1 and calls[c] == 1 and b.track_running_stats and b.running_mean ~= nil
       and c.out_channels == b.num_features then
      pairs_[#pairs_ + 1] = { c, b }
    end
  end
  local function differs(y, ref, tol)
    if not util.same_shape(y, ref) then return true end
    local scale = ref:abs():max():item()
    local d = (y - ref):abs():max():item()
    return not (d <= tol * math.max(scale, 1e-30))
  end
  local function poisoned_ok(list)
    poison, clean = {}, {}
    for _, p in ipairs(list) do poison[p[1]] = p[2] end
    local y = run()
    poison, clean = nil, nil
    return not differs(y, y0, 1e-6)
  end
  local safe = {}
  if #pairs_ > 0 then
    if poisoned_ok(pairs_) then
      safe = pairs_
    else
      for _, p in ipairs(pairs_) do
        if poisoned_ok({ p }) then safe[#safe + 1] = p end
      end
    end
  end
  unwrap()
  if #safe == 0 then self.fused_pairs = {}; return self end

  -- fold
  local undo = {}
  lunet.no_grad(function()
    for _, p in ipairs(safe) do
      local c, b = p[1], p[2]
      local s = (b.running_var + b.eps):sqrt():reciprocal()
      if b.weight ~= nil then s = s * b.weight end
      local w = c.weight * s:view(-1, 1, 1, 1)
      local bias = c.bias ~= nil and c.bias or lunet.zeros(c.out_channels)
      bias = (bias - b.running_mean) * s
      if b.bias ~= nil then bias = bias + b.bias end
      undo[#undo + 1] = { c, c.weight, c.bias, b }
      c.weight = w:contiguous():requires_grad(true)
      c.bias = bias:contiguous():requires_grad(true)   -- registers a bias when there was none
      rawget(c, "_attrs").fused = "conv"
    end
  end)
  local replaced = {}
  for _, p in ipairs(safe) do
    local b = p[2]
    rawget(b, "_attrs").forward = function(_, input) return input end
    for _, pk in ipairs(parent_of[b] or {}) do
      local id = nn.Identity()
      id.training = false
      replaced[#replaced + 1] = { pk[1], pk[2], b }
      pk[1][pk[2]] = id
    end
  end
  local y1 = run()
  if differs(y1, y0, 1e-3) then
    -- restore
    for _, r in ipairs(replaced) do r[1][r[2]] = r[3] end
    for _, u in ipairs(undo) do
      local c = u[1]
      c.weight = u[2]
      if u[3] == nil then c.bias = nil else c.bias = u[3] end
      rawget(c, "_attrs").fused = nil
      rawget(u[4], "_attrs").forward = nil
    end
    raise("fuse: the fused model does not reproduce the unfused output; left unfused (please report this model)")
  end
  local fused = {}
  for i, p in ipairs(safe) do fused[i] = { names[p[1]], names[p[2]] } end
  rawget(self, "_attrs").fused = "model"
  self.fused_pairs = fused
  return self
end

-- Clears the gradients of every parameter (sets them to nil, as PyTorch 2's default).
function Module:zero_grad()
  need_module(self, "zero_grad")
  for _, p in ipairs(self:parameters()) do util.clear_grad(p) end
end

-- Sets requires_grad on every parameter (flag defaults to true; false freezes the module,
-- e.g. a pretrained encoder). Frozen parameters stay parameters (named, saved, loaded).
function Module:requires_grad_(flag)
  need_module(self, "requires_grad_")
  if flag == nil then flag = true end
  if type(flag) ~= "boolean" then
    raise(format("requires_grad_: flag must be a boolean, got %s", util.typename(flag)))
  end
  for _, p in ipairs(self:parameters()) do p:requires_grad(flag) end
  return self
end

-- Number of parameter elements (opts.trainable=true: only those requiring grad).
function Module:num_parameters(opts)
  need_module(self, "num_parameters")
  opts = E.options(opts, "num_parameters", { "trainable" })
  local n = 0
  for _, p in ipairs(self:parameters()) do
    if not opts.trainable or util.requires_grad(p) then n = n + p:numel() end
  end
  return n
end

---------------------------------------------------------------------------------------------
-- state dicts
---------------------------------------------------------------------------------------------
-- Renames numeric path components by delta ("features.0.weight" -> "features.1.weight").
local function shift_name(name, delta)
  if delta == 0 then return name end
  return (("." .. name):gsub("%.(%d+)", function(d) return "." .. (tointeger(d) + delta) end):sub(2))
end

local function check_index_base(v, fn)
  if v ~= nil and v ~= 0 and v ~= 1 then
    raise(format("%s: index_base must be 0 or 1, got %s", fn, E.show(v)))
  end
  return v or 1
end

local ordered_mt = {
  __pairs = function(sd)
    local keys, i = getmetatable(sd).__keys, 0
    local listed = {}
    for _, k in ipairs(keys) do listed[k] = true end
    local k2 = nil
    return function()
      while true do
        i = i + 1
        local k = keys[i]
        if k == nil then
          repeat k2 = next(sd, k2) until k2 == nil or not listed[k2]
          if k2 == nil then return nil end
          return k2, sd[k2]
        end
        if rawget(sd, k) ~= nil then return k, sd[k] end
      end
    end, sd, nil
  end,
}

-- Ordered list of {name, tensor} of every parameter and persistent buffer, as PyTorch's
-- state_dict: per module its parameters, then its buffers, then its children, recursively.
-- Unlike named_parameters, a module or tensor reachable by two paths is listed under both
-- names (tied weights), as in PyTorch; a module containing itself is visited once per path.
local function state_entries(self)
  local out, active = {}, {}
  local function visit(m, prefix)
    if active[m] then return end
    active[m] = true
    local order, np = rawget(m, "_order"), rawget(m, "_nonpersistent")
    for _, kind in ipairs({ "_parameters", "_buffers" }) do
      local dict = rawget(m, kind)
      for _, k in ipairs(order) do
        local t = dict[k]
        if t ~= nil and not (kind == "_buffers" and np[k]) then out[#out + 1] = { join(prefix, k), t } end
      end
    end
    local mods = rawget(m, "_modules")
    for _, k in ipairs(order) do
      if mods[k] ~= nil then visit(mods[k], join(prefix, k)) end
    end
    active[m] = nil
  end
  visit(self, "")
  return out
end

-- A table name -> tensor of every parameter and persistent buffer (detached views sharing
-- storage with the module), savable with lunet.save. pairs() visits it in PyTorch order.
-- opts.index_base = 0 writes numeric components from 0, as PyTorch does.
function Module:state_dict(opts)
  need_module(self, "state_dict")
  opts = E.options(opts, "state_dict", { "index_base" })
  local delta = check_index_base(opts.index_base, "state_dict") - 1
  local sd, keys = {}, {}
  for _, e in ipairs(state_entries(self)) do
    local name = shift_name(e[1], delta)
    keys[#keys + 1] = name
    sd[name] = e[2]:detach()
  end
  return setmetatable(sd, { __pairs = ordered_mt.__pairs, __keys = keys })
end

-- Copies the tensors of sd into the module's parameters and buffers, in place (dtype
-- converted by copy_). Every problem is reported at once, before anything is copied:
-- missing keys and unexpected keys (errors when opts.strict, default true) and shape
-- mismatches or non-tensor values (always errors). Returns the lists missing, unexpected.
function Module:load_state_dict(sd, opts)
  need_module(self, "load_state_dict")
  opts = E.options(opts, "load_state_dict", { "strict", "index_base" })
  if opts.strict ~= nil and type(opts.strict) ~= "boolean" then
    raise(format("load_state_dict: strict must be a boolean, got %s", E.show(opts.strict)))
  end
  if type(sd) ~= "table" or Module.is_module(sd) then
    raise(format("load_state_dict: state dict must be a table of tensors, got %s", util.typename(sd)))
  end
  local strict = opts.strict ~= false
  local delta = 1 - check_index_base(opts.index_base, "load_state_dict")
  local own, own_set = state_entries(self), {}
  for _, e in ipairs(own) do own_set[e[1]] = e[2] end
  local given = {}
  for k, v in next, sd do
    if type(k) ~= "string" then
      raise(format("load_state_dict: state dict keys must be strings, got %s", util.typename(k)))
    end
    given[shift_name(k, delta)] = v
  end
  local missing, unexpected, bad, copies = {}, {}, {}, {}
  for _, e in ipairs(own) do
    local name, t = e[1], e[2]
    local v = given[name]
    if v == nil then
      missing[#missing + 1] = name
    elseif not is_tensor(v) then
      bad[#bad + 1] = format("%s is a %s, expected a tensor", name, util.typename(v))
    elseif not util.same_shape(t, v) then
      bad[#bad + 1] = format("%s has shape %s in the model, %s in the state dict",
        name, util.shape_str(t), util.shape_str(v))
    else
      copies[#copies + 1] = { t, v }
    end
  end
  for k in pairs(given) do
    if own_set[k] == nil then unexpected[#unexpected + 1] = k end
  end
  sort(unexpected)
  local parts = {}
  if strict and #missing > 0 then parts[#parts + 1] = "missing keys: " .. concat(missing, ", ") end
  if strict and #unexpected > 0 then parts[#parts + 1] = "unexpected keys: " .. concat(unexpected, ", ") end
  if #bad > 0 then parts[#parts + 1] = "size mismatch: " .. concat(bad, "; ") end
  if #parts > 0 then raise("load_state_dict: " .. concat(parts, "; ")) end
  lunet.no_grad(function()
    for _, c in ipairs(copies) do c[1]:copy_(c[2]) end
  end)
  return missing, unexpected
end

---------------------------------------------------------------------------------------------
-- printing
---------------------------------------------------------------------------------------------
-- Layers override extra_repr to describe their options ("3, 8, kernel_size=3, padding=1").
function Module:extra_repr() return "" end

local function count_str(n)
  local s = tostring(n):reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (s:gsub("^,", ""))
end

local function repr(self, indent)
  local lines = { self.__name .. "(" .. self:extra_repr() }
  local has_children = false
  local mods = rawget(self, "_modules")
  for _, k in ipairs(rawget(self, "_order")) do
    local m = mods[k]
    if m ~= nil then
      has_children = true
      lines[#lines + 1] = indent .. "  (" .. tostring(k) .. "): " .. repr(m, indent .. "  ")
    end
  end
  local n = self:num_parameters()
  local suffix = n > 0 and format("  -- %s parameter%s", count_str(n), n == 1 and "" or "s") or ""
  if has_children then
    lines[1] = lines[1] .. suffix
    lines[#lines + 1] = indent .. ")"
  else
    lines[1] = lines[1] .. ")" .. suffix
  end
  return concat(lines, "\n")
end

-- The module tree, one line per module with its parameter count:
--   Net(  -- 1,234 parameters
--     (conv): Conv2d(3, 8, kernel_size=3, padding=1)  -- 224 parameters
--   )
function Module:__tostring() return repr(self, "") end

Module.util = util
return Module
