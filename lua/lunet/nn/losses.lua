-- lunet.nn loss modules: CrossEntropyLoss, BCEWithLogitsLoss, DiceLoss, JaccardLoss,
-- FocalLoss, TverskyLoss, LovaszLoss, built with one option table and called as
-- `loss(logits, target)`. Losses combine with `+` and scalar `*`:
--   local l = nn.CrossEntropyLoss{ignore_index=255} + 0.5 * nn.DiceLoss{mode="multiclass"}
-- Options are checked when the loss is built (unknown names, bad mode, bad values); the
-- semantics are those of lunet.nn.functional's loss functions (lua/lunet/nn/functional/loss.lua).
-- DiceLoss, JaccardLoss, FocalLoss, TverskyLoss and LovaszLoss default to mode="multiclass".
local F = require "lunet.nn.functional.loss"

local setmetatable, getmetatable, type, pairs, ipairs, error, tostring, pcall =
  setmetatable, getmetatable, type, pairs, ipairs, error, tostring, pcall
local format, sort, concat = string.format, table.sort, table.concat
local math_type = math.type

local M = {}

local Combined = {}      -- a weighted sum of losses, built by + and *
Combined.__index = Combined

local function is_loss(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__lunet_loss == true
end

local function fmt_value(v)
  if type(v) == "string" then return format("%q", v) end
  if type(v) == "number" then
    if math_type(v) == "integer" then return tostring(v) end
    return format("%.6g", v)
  end
  if type(v) == "boolean" then return tostring(v) end
  if type(v) == "table" then
    local parts = {}
    for i = 1, #v do parts[i] = fmt_value(v[i]) end
    return "{" .. concat(parts, ", ") .. "}"
  end
  if type(v) == "userdata" and v.totable then
    local ok, t = pcall(v.totable, v)
    if ok and type(t) == "table" and #t <= 16 then return fmt_value(t) end
    local okS, s = pcall(v.shape, v)
    if okS then return "tensor" .. fmt_value(s) end
  end
  return tostring(v)
end


-- Shared metamethods of every loss class (and of combinations).
local function install_meta(mt)
  mt.__lunet_loss = true
  mt.__call = function(self, logits, target) return self:forward(logits, target) end
  mt.__add = function(a, b)
    if not (is_loss(a) and is_loss(b)) then
      error("loss +: both operands must be losses (got " .. type(a) .. " and " .. type(b) .. ")", 2)
    end
    local terms = {}
    for _, side in ipairs({ a, b }) do
      if getmetatable(side) == Combined then
        for _, t in ipairs(side.terms) do terms[#terms + 1] = { t[1], t[2] } end
      else
        terms[#terms + 1] = { 1, side }
      end
    end
    return setmetatable({ terms = terms }, Combined)
  end
  mt.__mul = function(a, b)
    local s, l = a, b
    if type(a) ~= "number" then s, l = b, a end
    if type(s) ~= "number" or not is_loss(l) then
      error("loss *: a loss can only be multiplied by a number", 2)
    end
    local terms = {}
    if getmetatable(l) == Combined then
      for _, t in ipairs(l.terms) do terms[#terms + 1] = { s * t[1], t[2] } end
    else
      terms[1] = { s, l }
    end
    return setmetatable({ terms = terms }, Combined)
  end
end

--- Defines a loss class: name, defaults (every allowed option; nil defaults listed in
--- `optional`), validate(opts), forward(self, logits, target).
local function define(name, defaults, optional, validate, forward)
  local cls = { name = name }
  cls.__index = cls
  cls.defaults = defaults
  install_meta(cls)
  cls.forward = forward
  cls.__tostring = function(self)
    local keys = {}
    for k, v in pairs(self.opts) do
      if defaults[k] == nil or defaults[k] ~= v then keys[#keys + 1] = k end
    end
    sort(keys)
    local parts = {}
    for i, k in ipairs(keys) do parts[i] = k .. "=" .. fmt_value(self.opts[k]) end
    return name .. "{" .. concat(parts, ", ") .. "}"
  end
  setmetatable(cls, {
    __call = function(_, opts)
      if opts ~= nil and type(opts) ~= "table" then
        error(format("%s: options must be a table, got %s", name, type(opts)), 2)
      end
      local o = {}
      for k, v in pairs(defaults) do o[k] = v end
      for k, v in pairs(opts or {}) do
        if defaults[k] == nil and not optional[k] then
          error(format("%s: unknown option '%s'", name, tostring(k)), 2)
        end
        o[k] = v
      end
      local ok, msg = pcall(validate, o)
      if not ok then error(msg, 2) end
      return setmetatable({ opts = o }, cls)
    end,
    __tostring = function() return "lunet.nn." .. name end,
  })
  M[name] = cls
  return cls
end

local function check_mode(name, mode)
  if mode ~= "multiclass" and mode ~= "binary" and mode ~= "multilabel" then
    error(format('%s: mode must be "multiclass", "binary" or "multilabel", got %s', name,
      type(mode) == "string" and ('"' .. mode .. '"') or tostring(mode)), 0)
  end
end

local function check_reduction(name, r)
  if r ~= "mean" and r ~= "sum" and r ~= "none" then
    error(format('%s: reduction must be "mean", "sum" or "none", got %s', name, tostring(r)), 0)
  end
end

local function check_number(name, key, v, lo, hi)
  if type(v) ~= "number" or v < lo or v > hi then
    error(format("%s: %s must be a number in [%g, %g], got %s", name, key, lo, hi, tostring(v)), 0)
  end
end

local function check_ignore(name, v)
  if v ~= nil and (type(v) ~= "number" or v ~= v // 1) then
    error(format("%s: ignore_index must be an integer, got %s", name, tostring(v)), 0)
  end
end

define("CrossEntropyLoss", { reduction = "mean", label_smoothing = 0 },
  { weight = true, ignore_index = true },
  function(o)
    check_reduction("CrossEntropyLoss", o.reduction)
    check_number("CrossEntropyLoss", "label_smoothing", o.label_smoothing, 0, 1)
    check_ignore("CrossEntropyLoss", o.ignore_index)
  end,
  function(self, x, y) return F.cross_entropy(x, y, self.opts) end)

define("BCEWithLogitsLoss", { reduction = "mean" }, { pos_weight = true, weight = true },
  function(o) check_reduction("BCEWithLogitsLoss", o.reduction) end,
  function(self, x, y) return F.binary_cross_entropy_with_logits(x, y, self.opts) end)

local region_defaults = { mode = "multiclass", smooth = 0, log_loss = false, from_logits = true,
                          eps = 1e-7 }
local region_optional = { ignore_index = true, classes = true }

local function region_validate(name)
  return function(o)
    check_mode(name, o.mode)
    check_ignore(name, o.ignore_index)
    check_number(name, "smooth", o.smooth, 0, math.huge)
    check_number(name, "eps", o.eps, 0, math.huge)
    if o.classes ~= nil and o.mode == "binary" then
      error(format('%s: classes are not supported with mode="binary"', name), 0)
    end
  end
end

define("DiceLoss", region_defaults, region_optional, region_validate("DiceLoss"),
  function(self, x, y) return F.dice_loss(x, y, self.opts) end)

define("JaccardLoss", region_defaults, region_optional, region_validate("JaccardLoss"),
  function(self, x, y) return F.jaccard_loss(x, y, self.opts) end)

local tversky_defaults = { alpha = 0.5, beta = 0.5, gamma = 1 }
for k, v in pairs(region_defaults) do tversky_defaults[k] = v end
define("TverskyLoss", tversky_defaults, region_optional,
  function(o)
    region_validate("TverskyLoss")(o)
    check_number("TverskyLoss", "alpha", o.alpha, 0, math.huge)
    check_number("TverskyLoss", "beta", o.beta, 0, math.huge)
    check_number("TverskyLoss", "gamma", o.gamma, 0, math.huge)
  end,
  function(self, x, y) return F.tversky_loss(x, y, self.opts) end)

define("FocalLoss", { mode = "multiclass", gamma = 2, reduction = "mean" },
  { alpha = true, ignore_index = true },
  function(o)
    check_mode("FocalLoss", o.mode)
    check_ignore("FocalLoss", o.ignore_index)
    check_reduction("FocalLoss", o.reduction)
    check_number("FocalLoss", "gamma", o.gamma, 0, math.huge)
    if o.alpha ~= nil and o.mode ~= "multiclass" then
      check_number("FocalLoss", "alpha", o.alpha, 0, 1)
    end
  end,
  function(self, x, y) return F.focal_loss(x, y, self.opts) end)

define("LovaszLoss", { mode = "multiclass", per_image = false }, { ignore_index = true },
  function(o)
    check_mode("LovaszLoss", o.mode)
    check_ignore("LovaszLoss", o.ignore_index)
  end,
  function(self, x, y) return F.lovasz_loss(x, y, self.opts) end)

install_meta(Combined)
function Combined:forward(x, y)
  local total
  for _, t in ipairs(self.terms) do
    local v = t[2](x, y)
    if t[1] ~= 1 then v = v * t[1] end
    total = total and total + v or v
  end
  return total
end
Combined.__tostring = function(self)
  local parts = {}
  for i, t in ipairs(self.terms) do
    local s = tostring(t[2])
    if t[1] ~= 1 then s = fmt_value(t[1]) .. " * " .. s end
    parts[i] = s
  end
  return concat(parts, " + ")
end
return M
