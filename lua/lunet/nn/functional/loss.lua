-- lunet.nn.functional loss functions: cross_entropy and binary_cross_entropy_with_logits
-- on fused C kernels, the region losses (dice, jaccard, tversky), focal and lovasz composed
-- from autograd-aware tensor ops. Logits are N x C x ... (NCHW); multiclass targets hold
-- int32 class ids N x ... (uint8 is converted), binary/multilabel targets are float with
-- the logits' shape (binary mode also takes an N x H x W mask for N x 1 x H x W logits).
--
-- Semantics (see DESIGN.md "Losses"):
--  * cross_entropy follows PyTorch: class `weight`, `ignore_index` (ignored pixels add
--    nothing and are not counted), `label_smoothing`; "mean" divides by the sum of the
--    target weights of the counted pixels (NaN when every pixel is ignored, as PyTorch).
--  * dice/jaccard/tversky follow segmentation_models_pytorch 0.3: soft scores from the
--    softmax (multiclass) or sigmoid (binary/multilabel) of the logits; intersection and
--    cardinality summed over batch and pixels per class; (x + smooth) / (y + smooth)
--    with the denominator clamped at eps; classes with no target pixel give 0 but count in
--    the mean; ignored pixels are removed from prediction and target; `classes` (class ids,
--    0-based) selects the classes averaged; `log_loss` uses -log(score). Tversky takes
--    alpha (false positives), beta (false negatives) and returns mean^gamma. JaccardLoss
--    takes ignore_index with Dice's rule, as recent smp releases do.
--  * focal, multiclass: softmax form -alpha_y (1 - p_y)^gamma log p_y averaged over the
--    non-ignored pixels; binary/multilabel: smp's sigmoid form (alpha a number).
--  * lovasz: Lovasz-softmax over the classes present (multiclass) or Lovasz-hinge on the
--    logits (binary/multilabel), per batch or averaged per image, as smp.
--  * binary_cross_entropy_with_logits: PyTorch's formula; pos_weight/weight broadcast
--    against the logits, except that a 1-D pos_weight/weight of length C with logits of
--    3 or more dimensions applies per channel (dim 2), which is what a segmentation user
--    means (PyTorch would broadcast it against the last dim, W).
local core = require "lunet.core"
local ag = require "lunet.autograd"
local E = require "lunet.errors"

local type, ipairs, error, tostring, pcall = type, ipairs, error, tostring, pcall
local huge, concat, format = math.huge, table.concat, string.format
local cnn = core.nn
local raw_item, raw_mul = core.methods.item, core.methods.mul

local M = {}

-- The option names of each function: any other raises "fn: unknown option 'x'".
local CE_OPTS = { "weight", "ignore_index", "label_smoothing", "reduction" }
local BCE_OPTS = { "pos_weight", "weight", "reduction" }
local REGION_OPTS = { "mode", "smooth", "ignore_index", "classes", "log_loss", "from_logits", "eps" }
local TVERSKY_OPTS = { "alpha", "beta", "gamma" }
for _, k in ipairs(REGION_OPTS) do TVERSKY_OPTS[#TVERSKY_OPTS + 1] = k end
local FOCAL_OPTS = { "mode", "gamma", "alpha", "ignore_index", "reduction" }
local LOVASZ_OPTS = { "mode", "per_image", "ignore_index" }

-- A finite number >= lo (NaN and infinities rejected).
local function finite(fn, key, v, lo)
  if type(v) ~= "number" or v ~= v or v == huge or v == -huge or v < lo then
    E.fail(fn, "%s must be a finite number >= %s, got %s", key, E.show(lo), E.show(v))
  end
  return v
end

local function boolean(fn, key, v)
  if v ~= nil and type(v) ~= "boolean" then
    E.fail(fn, "%s must be a boolean, got %s", key, E.show(v))
  end
  return v
end

local function lunet() return require "lunet" end

-- t itself when already contiguous, with no autograd node.
local function contig(t)
  if t:is_contiguous() then return t end
  return t:contiguous()
end

local function shape_str(t)
  local s = t:shape()
  local parts = {}
  for i = 1, #s do parts[i] = tostring(s[i]) end
  return "[" .. concat(parts, ", ") .. "]"
end

local is_tensor = core.is_tensor

-- Float tensor of the given class weights (table, tensor or nil).
local function as_float(v, fn, name)
  if v == nil then return nil end
  if type(v) == "table" then return lunet().tensor(v) end
  if type(v) == "number" then return lunet().tensor({ v }) end
  if not is_tensor(v) then
    E.raise(format("%s: %s must be a number, a table or a tensor, got %s", fn, name, type(v)))
  end
  if v:dtype() ~= "float32" then return v:to("float32") end
  return v
end

local function check_logits(fn, x)
  if not is_tensor(x) then E.raise(format("%s: logits must be a tensor, got %s", fn, type(x))) end
  if x:dtype() ~= "float32" then
    E.raise(format("%s: logits must be float32, got %s", fn, x:dtype()))
  end
  if x:dim() < 2 then
    E.raise(format("%s: logits must be N x C x ..., got %s", fn, shape_str(x)))
  end
end

-- Multiclass target: int32 (uint8 converted) class ids shaped like the logits minus dim 2.
local function class_target(fn, x, y)
  if not is_tensor(y) then E.raise(format("%s: target must be a tensor, got %s", fn, type(y))) end
  local dt = y:dtype()
  if dt == "uint8" then
    y = y:to("int32")
  elseif dt ~= "int32" then
    E.raise(format("%s: target must hold int32 class ids, got %s (target %s)", fn, dt, shape_str(y)))
  end
  local xs, ys = x:shape(), y:shape()
  local ok = #ys == #xs - 1 and ys[1] == xs[1]
  for d = 2, #ys do ok = ok and ys[d] == xs[d + 1] end
  if not ok then
    E.raise(format("%s: target %s does not match logits %s (expected N x d1 x ... without the class dimension)",
      fn, shape_str(y), shape_str(x)))
  end
  return y
end

-- Binary/multilabel target: same shape as the logits, converted to float32. With
-- squeezed_ok (binary mode), an N x H x W mask also fits N x 1 x H x W logits.
local function float_target(fn, x, y, squeezed_ok)
  if not is_tensor(y) then E.raise(format("%s: target must be a tensor, got %s", fn, type(y))) end
  local xs, ys = x:shape(), y:shape()
  local ok = #xs == #ys
  for d = 1, #xs do ok = ok and xs[d] == ys[d] end
  if not ok and squeezed_ok and #xs >= 2 and xs[2] == 1 and #ys == #xs - 1 and ys[1] == xs[1] then
    ok = true
    for d = 2, #ys do ok = ok and ys[d] == xs[d + 1] end
    if ok then y = y:unsqueeze(2) end
  end
  if not ok then
    E.raise(format("%s: target %s does not match logits %s", fn, shape_str(y), shape_str(x)))
  end
  if y:dtype() ~= "float32" then y = y:to("float32") end
  return y
end

local function check_mode(fn, mode)
  if mode ~= "multiclass" and mode ~= "binary" and mode ~= "multilabel" then
    E.raise(format('%s: mode must be "multiclass", "binary" or "multilabel", got %s', fn,
      type(mode) == "string" and ('"' .. mode .. '"') or tostring(mode)))
  end
end

local function check_reduction(fn, r)
  if r ~= "mean" and r ~= "sum" and r ~= "none" then
    E.raise(format('%s: reduction must be "mean", "sum" or "none", got %s', fn, tostring(r)))
  end
end

local function check_ignore(fn, v)
  if v ~= nil and not (type(v) == "number" and math.tointeger(v)) then
    E.fail(fn, "ignore_index must be an integer, got %s", E.show(v))
  end
end

-- (N, C, d...) -> (N, C, S)
local function flat3(t)
  local s = t:shape()
  local S = 1
  for d = 3, #s do S = S * s[d] end
  return contig(t):view(s[1], s[2], S)
end

-- View a per-class vector (C) as (1, C, 1, ...) for a tensor of ndim dims.
local function per_class_view(v, ndim)
  local shape = { 1, v:numel() }
  for d = 3, ndim do shape[d] = 1 end
  return v:view(shape)
end

---------------------------------------------------------------------------------------
-- differentiable building blocks on the loss kernels

-- log-softmax over dim 2 (classes).
local function log_softmax(x)
  local out = cnn.loss_log_softmax_forward(x)
  if ag.needs_grad(x) then
    ag.record(out, { x }, function(g)
      return cnn.loss_log_softmax_backward(g, out)
    end)
  end
  return out
end

local function softmax(x) return log_softmax(x):exp() end

---------------------------------------------------------------------------------------
-- cross entropy

--- F.cross_entropy(logits, target, {weight=, ignore_index=, label_smoothing=0, reduction="mean"})
-- logits N x C x ..., target int32 N x ... ; returns a scalar (or per-pixel N x ... for "none").
function M.cross_entropy(logits, target, opts)
  local fn = "cross_entropy"
  opts = E.options(opts, fn, CE_OPTS)
  check_logits(fn, logits)
  target = class_target(fn, logits, target)
  local reduction = opts.reduction or "mean"
  check_reduction(fn, reduction)
  check_ignore(fn, opts.ignore_index)
  local ls = opts.label_smoothing or 0
  if type(ls) ~= "number" or not (ls >= 0 and ls <= 1) then   -- NaN fails too
    E.fail(fn, "label_smoothing must be in [0, 1], got %s", E.show(ls))
  end
  local weight = as_float(opts.weight, fn, "weight")
  if weight and (weight:dim() ~= 1 or weight:numel() ~= logits:size(2)) then
    E.raise(format("%s: weight has shape %s, expected C = %d values", fn, shape_str(weight), logits:size(2)))
  end
  if weight then weight = contig(weight) end
  local kopts = { fn = fn, weight = weight, ignore_index = opts.ignore_index, label_smoothing = ls,
                  reduction = reduction }
  if not ag.needs_grad(logits) then return cnn.cross_entropy_forward(logits, target, kopts) end
  if reduction == "none" then
    local out = cnn.cross_entropy_forward(logits, target, kopts)
    ag.record(out, { logits }, function(g)
      return cnn.cross_entropy_backward(g, logits, target, kopts)
    end)
    return out
  end
  -- A scalar loss: its gradient for gout = 1 comes out of the same pass over the logits
  -- (one exponential per logit instead of three); the backward hands it over (gout = 1, the
  -- usual loss:backward()), scales it, or, after a retain_graph backward took it, recomputes.
  local gopts = { fn = fn, weight = weight, ignore_index = opts.ignore_index, label_smoothing = ls,
                  reduction = reduction, grad = true }
  local out, g1 = cnn.cross_entropy_forward(logits, target, gopts)
  ag.record(out, { logits }, function(g)
    local s, saved = raw_item(g), g1
    if saved ~= nil and s == 1 then
      g1 = nil   -- handed over: the caller may keep it as a gradient
      return saved
    elseif saved ~= nil then
      return raw_mul(saved, s)
    end
    return cnn.cross_entropy_backward(g, logits, target, kopts)
  end)
  return out
end

---------------------------------------------------------------------------------------
-- binary cross entropy with logits

-- Broadcast a weight (number/table/tensor) to x's full shape as a contiguous float32 tensor.
local function broadcast_weight(fn, name, v, x)
  v = as_float(v, fn, name)
  if v == nil then return nil end
  if v:dim() == 1 and x:dim() >= 3 and v:numel() == x:size(2) then
    v = per_class_view(v, x:dim())   -- per channel (see the header)
  end
  local ok, full = pcall(function()
    return lunet().no_grad(function() return (lunet().ones(x:shape()) * v):contiguous() end)
  end)
  if not ok then
    E.raise(format("%s: %s of shape %s does not broadcast to logits %s", fn, name, shape_str(v), shape_str(x)))
  end
  return full
end

local function bce_elementwise(x, t, pw, w)
  local out = cnn.bce_with_logits_forward(x, t, pw, w)
  if ag.needs_grad(x) then
    ag.record(out, { x }, function(g)
      return cnn.bce_with_logits_backward(g, x, t, pw, w)
    end)
  end
  return out
end

local function reduce(loss, reduction, count)
  if reduction == "none" then return loss end
  if reduction == "sum" then return loss:sum() end
  if count then return loss:sum() / count end
  return loss:mean()
end

--- F.binary_cross_entropy_with_logits(logits, target, {pos_weight=, weight=, reduction="mean"})
function M.binary_cross_entropy_with_logits(logits, target, opts)
  local fn = "binary_cross_entropy_with_logits"
  opts = E.options(opts, fn, BCE_OPTS)
  if not is_tensor(logits) or logits:dtype() ~= "float32" then
    E.raise(format("%s: logits must be a float32 tensor", fn))
  end
  target = float_target(fn, logits, target)
  local reduction = opts.reduction or "mean"
  check_reduction(fn, reduction)
  local pw = broadcast_weight(fn, "pos_weight", opts.pos_weight, logits)
  local w = broadcast_weight(fn, "weight", opts.weight, logits)
  return reduce(bce_elementwise(logits, target, pw, w), reduction)
end

---------------------------------------------------------------------------------------
-- region losses: dice, jaccard, tversky (segmentation_models_pytorch semantics)

-- Returns prediction and target as (N, C, S) float tensors with ignored pixels zeroed.
local function region_inputs(fn, x, y, o)
  local mode = o.mode or "multiclass"
  check_mode(fn, mode)
  check_logits(fn, x)
  check_ignore(fn, o.ignore_index)
  boolean(fn, "from_logits", o.from_logits)
  boolean(fn, "log_loss", o.log_loss)
  local from_logits = o.from_logits ~= false
  local C = x:size(2)
  local pred, truth
  if mode == "multiclass" then
    y = class_target(fn, x, y)
    pred = from_logits and softmax(x) or x
    local onehot, valid = cnn.loss_one_hot(y, C, { ignore_index = o.ignore_index, fn = fn })
    if o.ignore_index ~= nil then pred = pred * valid:unsqueeze(2) end
    truth = onehot
  else
    if mode == "binary" and o.classes ~= nil then
      E.raise(format('%s: classes are not supported with mode="binary"', fn))
    end
    y = float_target(fn, x, y, mode == "binary")
    pred = from_logits and x:sigmoid() or x
    truth = y
    if o.ignore_index ~= nil then
      local mask = y:ne(o.ignore_index):to("float32")
      pred = pred * mask
      truth = y * mask
    end
  end
  return flat3(pred), flat3(truth), C
end

-- Mean over classes of per-class losses (C), restricted to opts.classes when given.
local function class_mean(fn, loss, C, classes)
  if classes == nil then return loss:mean() end
  if type(classes) ~= "table" and not is_tensor(classes) then
    E.raise(format("%s: classes must be a list of class ids, got %s", fn, type(classes)))
  end
  if is_tensor(classes) then classes = classes:totable() end
  local sel = {}
  for c = 1, C do sel[c] = 0 end
  for _, c in ipairs(classes) do
    if type(c) ~= "number" or c ~= c // 1 or c < 0 or c >= C then
      E.raise(format("%s: classes holds %s, not a class id in 0..%d", fn, tostring(c), C - 1))
    end
    c = c // 1
    sel[c + 1] = sel[c + 1] + 1
  end
  if #classes == 0 then E.raise(format("%s: classes is empty", fn)) end
  return (loss * lunet().tensor(sel)):sum() / #classes
end

local function region_loss(fn, x, y, o, score_fn, aggregate)
  local smooth, eps = finite(fn, "smooth", o.smooth or 0, 0), finite(fn, "eps", o.eps or 1e-7, 0)
  local pred, truth, C = region_inputs(fn, x, y, o)
  local score = score_fn(pred, truth, smooth, eps)            -- (C)
  local loss
  if o.log_loss then
    loss = -(score:clamp(eps, huge):log())
  else
    loss = -score + 1
  end
  local present = lunet().no_grad(function() return truth:sum(3):sum(1):gt(0):to("float32") end)
  loss = loss * present
  local m = class_mean(fn, loss, C, o.classes)
  if aggregate then m = aggregate(m) end
  return m
end

local function dice_score(p, t, smooth, eps)
  local inter = (p * t):sum(3):sum(1)
  local card = (p + t):sum(3):sum(1)
  return (inter * 2 + smooth) / (card + smooth):clamp(eps, huge)
end

local function jaccard_score(p, t, smooth, eps)
  local inter = (p * t):sum(3):sum(1)
  local card = (p + t):sum(3):sum(1)
  return (inter + smooth) / (card - inter + smooth):clamp(eps, huge)
end

--- F.dice_loss(logits, target, {mode="multiclass", smooth=0, ignore_index=, classes=,
--- log_loss=false, from_logits=true, eps=1e-7})
function M.dice_loss(logits, target, opts)
  opts = E.options(opts, "dice_loss", REGION_OPTS)
  return region_loss("dice_loss", logits, target, opts, dice_score)
end

--- F.jaccard_loss(logits, target, {...}) - same options as dice_loss.
function M.jaccard_loss(logits, target, opts)
  opts = E.options(opts, "jaccard_loss", REGION_OPTS)
  return region_loss("jaccard_loss", logits, target, opts, jaccard_score)
end

--- F.tversky_loss(logits, target, {alpha=0.5, beta=0.5, gamma=1, ...dice options})
function M.tversky_loss(logits, target, opts)
  local fn = "tversky_loss"
  opts = E.options(opts, fn, TVERSKY_OPTS)
  local alpha = finite(fn, "alpha", opts.alpha or 0.5, 0)
  local beta = finite(fn, "beta", opts.beta or 0.5, 0)
  local gamma = finite(fn, "gamma", opts.gamma or 1, 0)
  local function score(p, t, smooth, eps)
    local inter = (p * t):sum(3):sum(1)
    local fp = (p * (-t + 1)):sum(3):sum(1)
    local fnn = ((-p + 1) * t):sum(3):sum(1)
    return (inter + smooth) / (inter + fp * alpha + fnn * beta + smooth):clamp(eps, huge)
  end
  local agg = gamma ~= 1 and function(m) return m:pow(gamma) end or nil
  return region_loss("tversky_loss", logits, target, opts, score, agg)
end

---------------------------------------------------------------------------------------
-- focal

--- F.focal_loss(logits, target, {mode="multiclass", gamma=2, alpha=, ignore_index=, reduction="mean"})
-- multiclass: alpha optional per-class weights (table/tensor of C); binary/multilabel: alpha
-- a number in [0, 1] weighting positives (smp). Mean over non-ignored pixels.
function M.focal_loss(logits, target, opts)
  local fn = "focal_loss"
  opts = E.options(opts, fn, FOCAL_OPTS)
  local mode = opts.mode or "multiclass"
  check_mode(fn, mode)
  check_logits(fn, logits)
  check_ignore(fn, opts.ignore_index)
  local gamma = finite(fn, "gamma", opts.gamma or 2, 0)
  local reduction = opts.reduction or "mean"
  check_reduction(fn, reduction)
  local alpha = opts.alpha
  if mode == "multiclass" then
    target = class_target(fn, logits, target)
    local C = logits:size(2)
    local onehot, valid = cnn.loss_one_hot(target, C, { ignore_index = opts.ignore_index, fn = fn })
    local logp = log_softmax(logits)
    -- ignored pixels get logpt = -1 (a constant) so (1-pt)^gamma stays differentiable
    local logpt = (logp * onehot):sum(2) + (-valid + 1) * -1
    local term = (-(logpt:exp()) + 1):pow(gamma)
    local loss = -(term * logpt) * valid
    if alpha ~= nil then
      local a = as_float(alpha, fn, "alpha")
      if a:numel() ~= C then
        E.raise(format("%s: alpha has %d values, expected C = %d (multiclass)", fn, a:numel(), C))
      end
      loss = loss * (onehot * per_class_view(contig(a), logits:dim())):sum(2)
    end
    return reduce(loss, reduction, reduction == "mean" and valid:sum() or nil)
  end
  target = float_target(fn, logits, target, mode == "binary")
  local mask, t = nil, target
  if opts.ignore_index ~= nil then
    mask = target:ne(opts.ignore_index):to("float32")
    t = target * mask
  end
  local logpt = bce_elementwise(logits, t, nil, nil)
  local pt = (-logpt):exp()
  local loss = (-pt + 1):pow(gamma) * logpt
  if alpha ~= nil then
    if type(alpha) ~= "number" then
      E.raise(format("%s: alpha must be a number with mode=%q", fn, mode))
    end
    if not (alpha >= 0 and alpha <= 1) then   -- NaN fails too
      E.fail(fn, "alpha must be in [0, 1] with mode=%q, got %s", mode, E.show(alpha))
    end
    loss = loss * (t * alpha + (-t + 1) * (1 - alpha))
  end
  if mask then loss = loss * mask end
  return reduce(loss, reduction, (reduction == "mean" and mask) and mask:sum() or nil)
end

---------------------------------------------------------------------------------------
-- lovasz

--- F.lovasz_loss(logits, target, {mode="multiclass", per_image=false, ignore_index=})
function M.lovasz_loss(logits, target, opts)
  local fn = "lovasz_loss"
  opts = E.options(opts, fn, LOVASZ_OPTS)
  local mode = opts.mode or "multiclass"
  check_mode(fn, mode)
  check_logits(fn, logits)
  check_ignore(fn, opts.ignore_index)
  boolean(fn, "per_image", opts.per_image)
  local kopts = { ignore_index = opts.ignore_index, per_image = opts.per_image and true or false, fn = fn }
  if mode == "multiclass" then
    target = class_target(fn, logits, target)
    local onehot = cnn.loss_one_hot(target, logits:size(2), { ignore_index = opts.ignore_index, fn = fn })
    local err = (onehot - softmax(logits)):abs()
    local G = cnn.lovasz_softmax_weights(err:detach(), target, kopts)
    return (err * G):sum()
  end
  target = float_target(fn, logits, target, mode == "binary")
  local err = -(logits * (target * 2 - 1)) + 1
  local G = cnn.lovasz_hinge_weights(err:detach(), target, kopts)
  return (err:relu() * G):sum()
end

return M
