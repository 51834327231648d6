-- lunet.nn loss modules: CrossEntropyLoss, BCEWithLogitsLoss, DiceLoss, JaccardLoss,
-- FocalLoss, TverskyLoss, LovaszLoss, built with one option table and called as
-- `loss(logits, target)`. Losses combine with `+` and scalar `*`:
--   local l = nn.CrossEntropyLoss{ignore_index=255} + 0.5 * nn.DiceLoss{mode="multiclass"}
-- Options are checked when the loss is built (unknown names, bad mode, bad values); the
-- semantics are those of lunet.nn.functional's loss functions (lua/lunet/nn/functional/loss.lua).
-- DiceLoss, JaccardLoss, FocalLoss, TverskyLoss and LovaszLoss default to mode="multiclass".
local F = require "lunet.nn.functional.loss"
local E = require "lunet.errors"
local util = require("lunet.nn.module").util

local setmetatable, getmetatable, type, pairs, ipairs, tostring, pcall =
  setmetatable, getmetatable, type, pairs, ipairs, tostring, pcall
local format, sort, concat = string.format, table.sort, table.concat
local math_type, huge = math.type, math.huge
local is_tensor, call = util.is_tensor, util.call

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
      E.fail("loss +", "both operands must be losses (got %s and %s)", E.typename(a), E.typename(b))
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
      E.raise("loss *: a loss can only be multiplied by a number")
    end
    if s ~= s or s == huge or s == -huge then
      E.fail("loss *", "the factor must be a finite number, got %s", E.show(s))
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
--- `optional`), validate(opts), forward(self, logits, target). forward runs through
--- util.call, so errors of the functional losses report the user's line.
local function define(name, defaults, optional, validate, forward)
  local cls = { name = name }
  cls.__index = cls
  cls.defaults = defaults
  install_meta(cls)
  cls.forward = function(self, x, y)
    if not is_loss(self) then
      E.fail(name, "call the loss as loss(logits, target), got %s as the loss", E.typename(self))
    end
    return call(forward, self, x, y)
  end
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
  local known = {}
  for k in pairs(defaults) do known[#known + 1] = k end
  for k in pairs(optional) do known[#known + 1] = k end
  sort(known)
  cls.option_names = known
  setmetatable(cls, {
    __call = function(_, opts)
      opts = E.options(opts, name, known)
      local o = {}
      for k, v in pairs(defaults) do o[k] = v end
      for k, v in pairs(opts) do o[k] = v end
      validate(o)
      return setmetatable({ opts = o }, cls)
    end,
    __tostring = function() return "lunet.nn." .. name end,
  })
  M[name] = cls
  return cls
end

-- Option value checks (raising at the user's level).
local function check_mode(name, mode)
  E.choice(name, "mode", mode, { "multiclass", "binary", "multilabel" })
end

local function check_reduction(name, r)
  E.choice(name, "reduction", r, { "mean", "sum", "none" })
end

local function finite(v) return type(v) == "number" and v == v and v ~= huge and v ~= -huge end

-- A finite number >= lo (or > lo when strict).
local function check_min(name, key, v, lo, strict)
  if not finite(v) or v < lo or (strict and v == lo) then
    E.fail(name, "%s must be a finite number %s %s, got %s", key, strict and ">" or ">=", E.show(lo), E.show(v))
  end
end

local function check_ignore(name, v)
  if v ~= nil then E.integer(name, "ignore_index", v) end
end

local function check_bool(name, key, v)
  if type(v) ~= "boolean" then E.fail(name, "%s must be a boolean, got %s", key, E.show(v)) end
end

-- Per-class weights: a number (where allowed), a list of finite numbers or a tensor.
local function check_weights(name, key, v, number_ok)
  if v == nil or is_tensor(v) or (number_ok and finite(v)) then return end
  if type(v) ~= "table" or getmetatable(v) ~= nil or #v == 0 then
    E.fail(name, "%s must be %sa non-empty list of numbers or a tensor, got %s", key,
      number_ok and "a number, " or "", E.show(v))
  end
  for i = 1, #v do
    if not finite(v[i]) then E.fail(name, "%s[%d] must be a finite number, got %s", key, i, E.show(v[i])) end
  end
end

-- classes: a non-empty list of class ids (integers >= 0; the upper bound, C - 1, is checked
-- against the logits when the loss runs), or an int tensor.
local function check_classes(name, v)
  if v == nil or is_tensor(v) then return end
  if type(v) ~= "table" or getmetatable(v) ~= nil or #v == 0 then
    E.fail(name, "classes must be a non-empty list of class ids, got %s",
      (type(v) == "table" and getmetatable(v) == nil) and "an empty list" or E.show(v))
  end
  for i = 1, #v do E.integer(name, format("classes[%d]", i), v[i], 0) end
end

define("CrossEntropyLoss", { reduction = "mean", label_smoothing = 0 },
  { weight = true, ignore_index = true },
  function(o)
    check_reduction("CrossEntropyLoss", o.reduction)
    E.number("CrossEntropyLoss", "label_smoothing", o.label_smoothing, 0, 1)
    check_ignore("CrossEntropyLoss", o.ignore_index)
    check_weights("CrossEntropyLoss", "weight", o.weight, false)
  end,
  function(self, x, y) return F.cross_entropy(x, y, self.opts) end)

define("BCEWithLogitsLoss", { reduction = "mean" }, { pos_weight = true, weight = true },
  function(o)
    check_reduction("BCEWithLogitsLoss", o.reduction)
    check_weights("BCEWithLogitsLoss", "pos_weight", o.pos_weight, true)
    check_weights("BCEWithLogitsLoss", "weight", o.weight, true)
  end,
  function(self, x, y) return F.binary_cross_entropy_with_logits(x, y, self.opts) end)

local region_defaults = { mode = "multiclass", smooth = 0, log_loss = false, from_logits = true,
                          eps = 1e-7 }
local region_optional = { ignore_index = true, classes = true }

-- smooth >= 0 and eps > 0 (a zero eps lets an empty class divide 0 by 0), both finite.
local function region_validate(name)
  return function(o)
    check_mode(name, o.mode)
    check_ignore(name, o.ignore_index)
    check_min(name, "smooth", o.smooth, 0)
    check_min(name, "eps", o.eps, 0, true)
    check_bool(name, "log_loss", o.log_loss)
    check_bool(name, "from_logits", o.from_logits)
    if o.classes ~= nil and o.mode == "binary" then
      E.fail(name, 'classes are not supported with mode="binary"')
    end
    check_classes(name, o.classes)
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
    check_min("TverskyLoss", "alpha", o.alpha, 0)
    check_min("TverskyLoss", "beta", o.beta, 0)
    check_min("TverskyLoss", "gamma", o.gamma, 0, true)
  end,
  function(self, x, y) return F.tversky_loss(x, y, self.opts) end)

-- alpha: per-class weights (a list or tensor of C values) for multiclass, a number in [0, 1]
-- (the weight of the positive class) for binary and multilabel.
define("FocalLoss", { mode = "multiclass", gamma = 2, reduction = "mean" },
  { alpha = true, ignore_index = true },
  function(o)
    check_mode("FocalLoss", o.mode)
    check_ignore("FocalLoss", o.ignore_index)
    check_reduction("FocalLoss", o.reduction)
    check_min("FocalLoss", "gamma", o.gamma, 0)
    if o.alpha ~= nil then
      if o.mode == "multiclass" then
        check_weights("FocalLoss", "alpha", o.alpha, false)
      else
        E.number("FocalLoss", "alpha", o.alpha, 0, 1)
      end
    end
  end,
  function(self, x, y) return F.focal_loss(x, y, self.opts) end)

define("LovaszLoss", { mode = "multiclass", per_image = false }, { ignore_index = true },
  function(o)
    check_mode("LovaszLoss", o.mode)
    check_ignore("LovaszLoss", o.ignore_index)
    check_bool("LovaszLoss", "per_image", o.per_image)
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
