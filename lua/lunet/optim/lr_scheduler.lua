-- lunet.optim learning-rate schedulers: StepLR, MultiStepLR, CosineAnnealingLR, PolyLR,
-- LinearLR, OneCycleLR (epoch/iteration based, :step() once per epoch or iteration after
-- opt:step()) and ReduceLROnPlateau (:step(metric)). PyTorch 1.13 semantics.
--
--   local sched = optim.PolyLR(opt, {total_iters = 1000, power = 0.9})
--   for it = 1, 1000 do ...; opt:step(); sched:step() end
--
-- Construction sets each group's initial_lr (kept if a previous scheduler set it) and lr to
-- the epoch-0 value, as PyTorch does. The lr of epoch e is computed in closed form from the
-- group's initial lr (PyTorch's recursive forms give the same values up to rounding), so
-- changing group.lr by hand between steps has no lasting effect. state_dict() uses the
-- optimizer's flat scheme (scalars as float32 {3} tensors): last_epoch, base_lrs.<g>,
-- last_lr.<g>, plus best / num_bad_epochs / cooldown_counter for ReduceLROnPlateau.
local E = require "lunet.errors"
local Optimizer = require "lunet.optim.optimizer"
local util = require("lunet.nn.module").util

local raise, typename, is_tensor = util.raise, util.typename, util.is_tensor
local type, ipairs, pairs, tostring, setmetatable, select = type, ipairs, pairs, tostring, setmetatable, select
local format, concat, floor, cos, pi, min, max, huge = string.format, table.concat, math.floor,
    math.cos, math.pi, math.min, math.max, math.huge
local mtype, tointeger = math.type, math.tointeger
local encode, decode = Optimizer.encode_scalar, Optimizer.decode_scalar

local M = {}

local finite = Optimizer.finite
local function num(v) return finite(v) end
local function pos_int(v) return mtype(v) == "integer" and v > 0 end

local function show(v)
  if type(v) == "table" and not is_tensor(v) then
    local parts = {}
    for i = 1, #v do parts[i] = E.show(v[i]) end
    return "{" .. concat(parts, ", ") .. "}"
  end
  return E.show(v)
end

local function check(fn, ok, key, what, v)
  if not ok then raise(format("%s: %s must be %s, got %s", fn, key, what, show(v))) end
end

local function check_optimizer(fn, opt)
  if type(opt) ~= "table" or type(opt.param_groups) ~= "table" then
    raise(format("%s: optimizer expected, got %s", fn, typename(opt)))
  end
end

-- Raises unless self is a scheduler (sched.step() written for sched:step()).
local function need_self(self, fn)
  if type(self) ~= "table" or type(self.optimizer) ~= "table" then
    raise(format("%s: self must be a scheduler, got %s (call it with a colon: sched:%s(...))", fn,
      typename(self), fn))
  end
end

-- Options: known keys with defaults (REQUIRED for none).
local REQUIRED = Optimizer.REQUIRED
local function options(fn, opts, spec)
  local known = {}
  for k in pairs(spec) do known[#known + 1] = k end
  opts = E.options(opts, fn, known)
  local o = {}
  for k, d in pairs(spec) do
    local v = opts[k]
    if v == nil then
      if d == REQUIRED then raise(format("%s: %s is required", fn, k)) end
      v = d
    end
    o[k] = v
  end
  return o
end

-- A number, or a list with one number per parameter group.
local function per_group(fn, key, v, n)
  if type(v) == "table" then
    if #v ~= n then
      raise(format("%s: %s has %d values for %d parameter groups", fn, key, #v, n))
    end
    local out = {}
    for i = 1, n do out[i] = v[i] end
    return out
  end
  local out = {}
  for i = 1, n do out[i] = v end
  return out
end

---------------------------------------------------------------------------------------------
-- the epoch-based base class
---------------------------------------------------------------------------------------------
local Scheduler = {}
Scheduler.__index = Scheduler

local function class(name, spec, setup, lr_at)
  local cls = setmetatable({}, { __index = Scheduler, __call = function(c, opt, opts)
    local fn = name
    check_optimizer(fn, opt)
    local o = options(fn, opts, spec)
    local self = setmetatable({ optimizer = opt, __name = name }, c)
    setup(self, fn, o)
    local groups = opt.param_groups
    self.base_lrs = {}
    for i, g in ipairs(groups) do
      if g.initial_lr == nil then g.initial_lr = g.lr end
      self.base_lrs[i] = g.initial_lr
    end
    self.last_epoch = -1
    self:step()
    return self
  end, __tostring = function() return "scheduler class " .. name end })
  cls.__index = cls
  cls.__name = name
  cls.lr_at = lr_at
  cls.__tostring = function(self)
    return format("%s(last_epoch=%d, lr={%s})", name, self.last_epoch, concat(self._last_lr, ", "))
  end
  return cls
end

-- Advances one epoch (or iteration) and sets each group's lr.
function Scheduler:step(...)
  need_self(self, "step")
  if select("#", ...) > 0 then
    raise(format("%s:step: takes no argument (the epoch counter is internal)", self.__name))
  end
  local epoch = self.last_epoch + 1
  local lrs = {}
  for i, g in ipairs(self.optimizer.param_groups) do
    lrs[i] = self:lr_at(epoch, self.base_lrs[i], i, g)
  end
  self.last_epoch = epoch
  for i, g in ipairs(self.optimizer.param_groups) do g.lr = lrs[i] end
  self._last_lr = lrs
end

-- The lrs set by the last step, one per group.
function Scheduler:get_last_lr()
  need_self(self, "get_last_lr")
  local out = {}
  for i, v in ipairs(self._last_lr) do out[i] = v end
  return out
end

function Scheduler:state_dict()
  need_self(self, "state_dict")
  local sd = { last_epoch = encode(self.last_epoch) }
  for i, v in ipairs(self.base_lrs) do sd["base_lrs." .. i] = encode(v) end
  for i, v in ipairs(self._last_lr) do sd["last_lr." .. i] = encode(v) end
  return sd
end

local function load_list(fn, sd, key, n)
  local out = {}
  for i = 1, n do
    local v = sd[key .. "." .. i]
    if v == nil then raise(format("%s: missing key %s.%d", fn, key, i)) end
    out[i] = decode(v, fn, key .. "." .. i)
  end
  if sd[key .. "." .. (n + 1)] ~= nil then
    raise(format("%s: %s has more than %d values (one per parameter group)", fn, key, n))
  end
  return out
end

function Scheduler:load_state_dict(sd)
  need_self(self, "load_state_dict")
  local fn = self.__name .. ":load_state_dict"
  if type(sd) ~= "table" then raise(format("%s: expects a table, got %s", fn, typename(sd))) end
  if sd.last_epoch == nil then raise(fn .. ": missing key last_epoch") end
  local n = #self.optimizer.param_groups
  local last_epoch = decode(sd.last_epoch, fn, "last_epoch")
  local base = load_list(fn, sd, "base_lrs", n)
  local last = load_list(fn, sd, "last_lr", n)
  self.last_epoch = tointeger(last_epoch) or last_epoch
  self.base_lrs, self._last_lr = base, last
end

---------------------------------------------------------------------------------------------
-- closed-form schedules
---------------------------------------------------------------------------------------------
-- StepLR(opt, {step_size, gamma=0.1}): lr = initial * gamma^floor(epoch / step_size).
M.StepLR = class("StepLR", { step_size = REQUIRED, gamma = 0.1 }, function(self, fn, o)
  check(fn, pos_int(o.step_size), "step_size", "a positive integer", o.step_size)
  check(fn, num(o.gamma) and o.gamma > 0, "gamma", "a finite number > 0", o.gamma)
  self.step_size, self.gamma = o.step_size, o.gamma
end, function(self, epoch, base)
  return base * self.gamma ^ (epoch // self.step_size)
end)

-- MultiStepLR(opt, {milestones, gamma=0.1}): lr = initial * gamma^(number of milestones <= epoch).
M.MultiStepLR = class("MultiStepLR", { milestones = REQUIRED, gamma = 0.1 }, function(self, fn, o)
  local ms = o.milestones
  local ok = type(ms) == "table" and not is_tensor(ms)
  if ok then
    for i = 1, #ms do
      if mtype(ms[i]) ~= "integer" or ms[i] < 0 or (i > 1 and ms[i] < ms[i - 1]) then ok = false end
    end
  end
  check(fn, ok, "milestones", "an increasing list of integers >= 0", ms)
  check(fn, num(o.gamma) and o.gamma > 0, "gamma", "a finite number > 0", o.gamma)
  self.milestones, self.gamma = ms, o.gamma
end, function(self, epoch, base)
  local k = 0
  for _, m in ipairs(self.milestones) do if m <= epoch then k = k + 1 end end
  return base * self.gamma ^ k
end)

-- CosineAnnealingLR(opt, {T_max, eta_min=0}):
-- lr = eta_min + (initial - eta_min) * (1 + cos(pi * epoch / T_max)) / 2.
M.CosineAnnealingLR = class("CosineAnnealingLR", { T_max = REQUIRED, eta_min = 0 }, function(self, fn, o)
  check(fn, num(o.T_max) and o.T_max > 0, "T_max", "a finite number > 0", o.T_max)
  check(fn, num(o.eta_min) and o.eta_min >= 0, "eta_min", "a finite number >= 0", o.eta_min)
  self.T_max, self.eta_min = o.T_max, o.eta_min
end, function(self, epoch, base)
  return self.eta_min + (base - self.eta_min) * (1 + cos(pi * epoch / self.T_max)) / 2
end)

-- PolyLR(opt, {total_iters, power=0.9}): the usual segmentation schedule,
-- lr = initial * (1 - min(epoch, total_iters) / total_iters)^power (PyTorch's PolynomialLR).
M.PolyLR = class("PolyLR", { total_iters = REQUIRED, power = 0.9 }, function(self, fn, o)
  check(fn, pos_int(o.total_iters), "total_iters", "a positive integer", o.total_iters)
  check(fn, num(o.power) and o.power >= 0, "power", "a finite number >= 0", o.power)
  self.total_iters, self.power = o.total_iters, o.power
end, function(self, epoch, base)
  return base * (1 - min(epoch, self.total_iters) / self.total_iters) ^ self.power
end)

-- LinearLR(opt, {start_factor=1/3, end_factor=1, total_iters=5}): linear warm-up,
-- lr = initial * (start + (end - start) * min(epoch, total_iters) / total_iters).
M.LinearLR = class("LinearLR", { start_factor = 1 / 3, end_factor = 1, total_iters = 5 }, function(self, fn, o)
  check(fn, num(o.start_factor) and o.start_factor > 0 and o.start_factor <= 1, "start_factor",
    "a number in (0, 1]", o.start_factor)
  check(fn, num(o.end_factor) and o.end_factor >= 0 and o.end_factor <= 1, "end_factor",
    "a number in [0, 1]", o.end_factor)
  check(fn, pos_int(o.total_iters), "total_iters", "a positive integer", o.total_iters)
  self.start_factor, self.end_factor, self.total_iters = o.start_factor, o.end_factor, o.total_iters
end, function(self, epoch, base)
  local f = self.start_factor + (self.end_factor - self.start_factor) * min(epoch, self.total_iters) / self.total_iters
  return base * f
end)

---------------------------------------------------------------------------------------------
-- OneCycleLR
---------------------------------------------------------------------------------------------
-- OneCycleLR(opt, {max_lr, total_steps | epochs and steps_per_epoch, pct_start=0.3,
-- anneal_strategy="cos"|"linear", cycle_momentum=true, base_momentum=0.85, max_momentum=0.95,
-- div_factor=25, final_div_factor=1e4, three_phase=false}); step once per batch. Starts at
-- max_lr/div_factor, rises to max_lr over pct_start of the steps, then anneals to
-- initial/final_div_factor; momentum (SGD) or beta1 (Adam) moves the opposite way.
-- max_lr, base_momentum and max_momentum may be lists (one per group).
local function anneal_cos(a, b, pct) return b + (a - b) / 2 * (cos(pi * pct) + 1) end
local function anneal_linear(a, b, pct) return (b - a) * pct + a end

M.OneCycleLR = setmetatable({}, { __index = Scheduler, __call = function(c, opt, opts)
  local fn = "OneCycleLR"
  check_optimizer(fn, opt)
  local o = options(fn, opts, {
    max_lr = REQUIRED, total_steps = false, epochs = false, steps_per_epoch = false, pct_start = 0.3,
    anneal_strategy = "cos", cycle_momentum = true, base_momentum = 0.85, max_momentum = 0.95,
    div_factor = 25, final_div_factor = 1e4, three_phase = false })
  local groups = opt.param_groups
  local n = #groups
  local total
  if o.total_steps then
    total = o.total_steps
    check(fn, pos_int(total), "total_steps", "a positive integer", total)
  elseif o.epochs or o.steps_per_epoch then
    if not (o.epochs and o.steps_per_epoch) then
      raise("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
    end
    check(fn, pos_int(o.epochs), "epochs", "a positive integer", o.epochs)
    check(fn, pos_int(o.steps_per_epoch), "steps_per_epoch", "a positive integer", o.steps_per_epoch)
    if o.epochs > math.maxinteger // o.steps_per_epoch then
      raise(format("%s: epochs (%d) * steps_per_epoch (%d) is too large", fn, o.epochs, o.steps_per_epoch))
    end
    total = o.epochs * o.steps_per_epoch
  else
    raise("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
  end
  check(fn, num(o.pct_start) and o.pct_start >= 0 and o.pct_start <= 1, "pct_start", "a number in [0, 1]", o.pct_start)
  E.choice(fn, "anneal_strategy", o.anneal_strategy, { "cos", "linear" })
  local anneal = o.anneal_strategy == "cos" and anneal_cos or anneal_linear
  check(fn, type(o.three_phase) == "boolean", "three_phase", "a boolean", o.three_phase)
  check(fn, type(o.cycle_momentum) == "boolean", "cycle_momentum", "a boolean", o.cycle_momentum)
  check(fn, num(o.div_factor) and o.div_factor > 0, "div_factor", "a finite number > 0", o.div_factor)
  check(fn, num(o.final_div_factor) and o.final_div_factor > 0, "final_div_factor", "a finite number > 0",
    o.final_div_factor)
  local max_lrs = per_group(fn, "max_lr", o.max_lr, n)
  for i = 1, n do check(fn, num(max_lrs[i]) and max_lrs[i] >= 0, "max_lr", "a finite number >= 0", o.max_lr) end

  local self = setmetatable({ optimizer = opt, __name = fn, total_steps = total, anneal = anneal,
                              cycle_momentum = o.cycle_momentum }, c)
  local pct = o.pct_start
  if o.three_phase then
    self.phases = {
      { end_step = pct * total - 1, start_lr = "initial_lr", end_lr = "max_lr",
        start_m = "max_momentum", end_m = "base_momentum" },
      { end_step = 2 * pct * total - 2, start_lr = "max_lr", end_lr = "initial_lr",
        start_m = "base_momentum", end_m = "max_momentum" },
      { end_step = total - 1, start_lr = "initial_lr", end_lr = "min_lr",
        start_m = "max_momentum", end_m = "max_momentum" },
    }
  else
    self.phases = {
      { end_step = pct * total - 1, start_lr = "initial_lr", end_lr = "max_lr",
        start_m = "max_momentum", end_m = "base_momentum" },
      { end_step = total - 1, start_lr = "max_lr", end_lr = "min_lr",
        start_m = "base_momentum", end_m = "max_momentum" },
    }
  end
  for i, g in ipairs(groups) do
    local initial = max_lrs[i] / o.div_factor
    g.initial_lr, g.max_lr, g.min_lr = initial, max_lrs[i], initial / o.final_div_factor
  end
  if o.cycle_momentum then
    local use_beta1 = type(groups[1].betas) == "table"
    if not use_beta1 and groups[1].momentum == nil then
      raise("OneCycleLR: cycle_momentum needs an optimizer with momentum (SGD, RMSprop) or betas (Adam)")
    end
    self.use_beta1 = use_beta1
    local maxm = per_group(fn, "max_momentum", o.max_momentum, n)
    local basem = per_group(fn, "base_momentum", o.base_momentum, n)
    for i, g in ipairs(groups) do
      check(fn, num(maxm[i]) and maxm[i] >= 0 and maxm[i] < 1, "max_momentum", "a number in [0, 1)", o.max_momentum)
      check(fn, num(basem[i]) and basem[i] >= 0 and basem[i] < 1, "base_momentum", "a number in [0, 1)",
        o.base_momentum)
      if use_beta1 then g.betas = { maxm[i], g.betas[2] } else g.momentum = maxm[i] end
      g.max_momentum, g.base_momentum = maxm[i], basem[i]
    end
  end
  self.base_lrs = {}
  for i, g in ipairs(groups) do self.base_lrs[i] = g.initial_lr end
  self.last_epoch = -1
  self:step()
  return self
end, __tostring = function() return "scheduler class OneCycleLR" end })
M.OneCycleLR.__index = M.OneCycleLR
M.OneCycleLR.__name = "OneCycleLR"

function M.OneCycleLR:step(...)
  need_self(self, "step")
  if select("#", ...) > 0 then raise("OneCycleLR:step: takes no argument (the step counter is internal)") end
  local step = self.last_epoch + 1
  if step > self.total_steps then
    raise(format("OneCycleLR: tried to step %d times, but total_steps is %d", step, self.total_steps))
  end
  local lrs = {}
  for i, g in ipairs(self.optimizer.param_groups) do
    local start_step = 0
    local lr, mom
    for k, ph in ipairs(self.phases) do
      if step <= ph.end_step or k == #self.phases then
        local pct = (step - start_step) / (ph.end_step - start_step)
        lr = self.anneal(g[ph.start_lr], g[ph.end_lr], pct)
        if self.cycle_momentum then mom = self.anneal(g[ph.start_m], g[ph.end_m], pct) end
        break
      end
      start_step = ph.end_step
    end
    lrs[i] = lr
    g.lr = lr
    if mom then
      if self.use_beta1 then g.betas = { mom, g.betas[2] } else g.momentum = mom end
    end
  end
  self.last_epoch = step
  self._last_lr = lrs
end
M.OneCycleLR.__tostring = function(self)
  return format("OneCycleLR(step %d of %d, lr={%s})", self.last_epoch, self.total_steps, concat(self._last_lr, ", "))
end

---------------------------------------------------------------------------------------------
-- ReduceLROnPlateau
---------------------------------------------------------------------------------------------
-- ReduceLROnPlateau(opt, {mode="min"|"max", factor=0.1, patience=10, threshold=1e-4,
-- threshold_mode="rel"|"abs", cooldown=0, min_lr=0 (or one per group), eps=1e-8});
-- sched:step(metric) once per epoch with the validation metric (a number or 1-element tensor).
M.ReduceLROnPlateau = setmetatable({}, { __call = function(c, opt, opts)
  local fn = "ReduceLROnPlateau"
  check_optimizer(fn, opt)
  local o = options(fn, opts, { mode = "min", factor = 0.1, patience = 10, threshold = 1e-4,
    threshold_mode = "rel", cooldown = 0, min_lr = 0, eps = 1e-8 })
  E.choice(fn, "mode", o.mode, { "min", "max" })
  E.choice(fn, "threshold_mode", o.threshold_mode, { "rel", "abs" })
  check(fn, num(o.factor) and o.factor < 1 and o.factor >= 0, "factor", "a number in [0, 1)", o.factor)
  check(fn, mtype(o.patience) == "integer" and o.patience >= 0, "patience", "an integer >= 0", o.patience)
  check(fn, mtype(o.cooldown) == "integer" and o.cooldown >= 0, "cooldown", "an integer >= 0", o.cooldown)
  check(fn, num(o.threshold) and o.threshold >= 0, "threshold", "a finite number >= 0", o.threshold)
  check(fn, num(o.eps) and o.eps >= 0, "eps", "a finite number >= 0", o.eps)
  local min_lrs = per_group(fn, "min_lr", o.min_lr, #opt.param_groups)
  for i = 1, #min_lrs do
    check(fn, num(min_lrs[i]) and min_lrs[i] >= 0, "min_lr", "a finite number >= 0", o.min_lr)
  end
  local self = setmetatable({ optimizer = opt, mode = o.mode, factor = o.factor, patience = o.patience,
    threshold = o.threshold, threshold_mode = o.threshold_mode, cooldown = o.cooldown, min_lrs = min_lrs,
    eps = o.eps, best = o.mode == "min" and huge or -huge, num_bad_epochs = 0, cooldown_counter = 0,
    last_epoch = 0 }, c)
  self._last_lr = {}
  for i, g in ipairs(opt.param_groups) do self._last_lr[i] = g.lr end
  return self
end, __tostring = function() return "scheduler class ReduceLROnPlateau" end })
local Plateau = M.ReduceLROnPlateau
Plateau.__index = Plateau
Plateau.__name = "ReduceLROnPlateau"
Plateau.get_last_lr = Scheduler.get_last_lr

function Plateau:is_better(a)
  local best = self.best
  if self.mode == "min" then
    if self.threshold_mode == "rel" then return a < best * (1 - self.threshold) end
    return a < best - self.threshold
  end
  if self.threshold_mode == "rel" then return a > best * (self.threshold + 1) end
  return a > best + self.threshold
end

function Plateau:step(metric)
  need_self(self, "step")
  if is_tensor(metric) then
    if metric:numel() ~= 1 then
      raise(format("ReduceLROnPlateau:step: metric must be a number or a 1-element tensor, got shape %s",
        util.shape_str(metric)))
    end
    metric = metric:item()
  end
  if type(metric) ~= "number" or metric ~= metric then
    raise(format("ReduceLROnPlateau:step: metric must be a number, got %s", E.show(metric)))
  end
  self.last_epoch = self.last_epoch + 1
  if self:is_better(metric) then
    self.best = metric
    self.num_bad_epochs = 0
  else
    self.num_bad_epochs = self.num_bad_epochs + 1
  end
  if self.cooldown_counter > 0 then
    self.cooldown_counter = self.cooldown_counter - 1
    self.num_bad_epochs = 0
  end
  if self.num_bad_epochs > self.patience then
    for i, g in ipairs(self.optimizer.param_groups) do
      local old = g.lr
      local new = max(old * self.factor, self.min_lrs[i])
      if old - new > self.eps then g.lr = new end
    end
    self.cooldown_counter = self.cooldown
    self.num_bad_epochs = 0
  end
  for i, g in ipairs(self.optimizer.param_groups) do self._last_lr[i] = g.lr end
end

function Plateau:state_dict()
  need_self(self, "state_dict")
  local sd = { best = encode(self.best), num_bad_epochs = encode(self.num_bad_epochs),
               cooldown_counter = encode(self.cooldown_counter), last_epoch = encode(self.last_epoch) }
  for i, v in ipairs(self._last_lr) do sd["last_lr." .. i] = encode(v) end
  return sd
end

function Plateau:load_state_dict(sd)
  need_self(self, "load_state_dict")
  local fn = "ReduceLROnPlateau:load_state_dict"
  if type(sd) ~= "table" then raise(format("%s: expects a table, got %s", fn, typename(sd))) end
  local vals = {}
  for _, k in ipairs({ "best", "num_bad_epochs", "cooldown_counter", "last_epoch" }) do
    if sd[k] == nil then raise(format("%s: missing key %s", fn, k)) end
    vals[k] = decode(sd[k], fn, k)
  end
  local last = load_list(fn, sd, "last_lr", #self.optimizer.param_groups)
  self.best = vals.best
  self.num_bad_epochs = tointeger(vals.num_bad_epochs) or vals.num_bad_epochs
  self.cooldown_counter = tointeger(vals.cooldown_counter) or vals.cooldown_counter
  self.last_epoch = tointeger(vals.last_epoch) or vals.last_epoch
  self._last_lr = last
end

Plateau.__tostring = function(self)
  return format("ReduceLROnPlateau(best=%s, bad epochs=%d, lr={%s})", tostring(self.best),
    self.num_bad_epochs, concat(self._last_lr, ", "))
end

return M
