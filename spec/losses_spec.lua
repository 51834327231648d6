-- Segmentation losses: values and gradients against PyTorch / smp formulas (spec/ref/
-- losses.lua from gen_losses.py), the fused cross-entropy against its naive kernel,
-- finite-difference checks, module construction/combination/printing, exact errors.
local lunet = require "lunet"
local core = require "lunet.core"
local F = require "lunet.nn.functional"
local losses = require "lunet.nn.losses"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local flat = H.flat
local REF = dofile("spec/ref/losses.lua")

local function close(actual, expected, atol, rtol, what)
  assert.are.equal(#expected, #actual, what .. ": element count")
  for i = 1, #expected do
    local a, e = actual[i], expected[i]
    if not (math.abs(a - e) <= atol + rtol * math.abs(e)) then
      error(("%s: element %d is %.9g, expected %.9g"):format(what, i, a, e), 2)
    end
  end
end

-- message of the error raised by fn, without the "file:line: " prefix
local function errmsg(fn, ...)
  local ok, msg = pcall(fn, ...)
  assert(not ok, "expected an error")
  return (tostring(msg):gsub("^[^:]*:%d+: ", ""))
end

local class_of = {
  cross_entropy = "CrossEntropyLoss", binary_cross_entropy_with_logits = "BCEWithLogitsLoss",
  dice_loss = "DiceLoss", jaccard_loss = "JaccardLoss", tversky_loss = "TverskyLoss",
  focal_loss = "FocalLoss", lovasz_loss = "LovaszLoss",
}

local function ref_inputs(c)
  local x = lunet.tensor(c.x, { shape = c.x_shape })
  local y = lunet.tensor(c.y, { shape = c.y_shape, dtype = c.y_dtype })
  return x, y
end

describe("losses match PyTorch / segmentation_models_pytorch", function()
  for _, c in ipairs(REF) do
    it(c.name .. ": value and gradient w.r.t. logits", function()
      local x, y = ref_inputs(c)
      x:requires_grad(true)
      local v = F[c.fn](x, y, c.opts)
      assert.are.same(c.value_shape, v:shape())
      close(flat(v), c.value, 2e-5, 2e-5, c.name .. " value")
      local total = #c.value_shape > 0 and v:sum() or v
      total:backward()
      close(flat(x.grad), c.grad, 2e-6, 1e-4, c.name .. " gradient")
    end)
    it(c.name .. ": the module form gives the same value", function()
      local x, y = ref_inputs(c)
      local l = losses[class_of[c.fn]](c.opts)
      close(flat(l(x, y)), c.value, 2e-5, 2e-5, c.name .. " module value")
    end)
  end
end)

describe("fused cross-entropy kernel", function()
  local g = lunet.Generator(42)
  local cases = {
    { shape = { 3, 5, 7, 11 }, opts = {} },
    { shape = { 2, 4, 9, 13 }, opts = { ignore_index = 255, label_smoothing = 0.15 } },
    { shape = { 1, 3, 130 }, opts = { weight = { 0.2, 1, 3 }, ignore_index = -1 } },
    { shape = { 2, 6, 5, 5 }, opts = { weight = { 1, 2, 3, 4, 5, 6 }, ignore_index = 0, reduction = "sum",
                                       label_smoothing = 0.3 } },
    { shape = { 2, 3, 8, 9 }, opts = { ignore_index = 255, reduction = "none", label_smoothing = 0.1 } },
  }
  for i, c in ipairs(cases) do
    it("matches the naive kernel, forward and backward (case " .. i .. ")", function()
      local C = c.shape[2]
      local x = g:randn(c.shape) * 3
      local tshape = { c.shape[1] }
      for d = 3, #c.shape do tshape[#tshape + 1] = c.shape[d] end
      local y = g:randint(0, C, tshape):to("int32")
      if c.opts.ignore_index then
        local drop = g:rand(tshape):lt(0.2)
        y = lunet.where(drop, lunet.full(tshape, c.opts.ignore_index, { dtype = "int32" }), y)
      end
      local o = {}
      for k, v in pairs(c.opts) do o[k] = v end
      if o.weight then o.weight = lunet.tensor(o.weight) end
      local fast = core.nn.cross_entropy_forward(x, y, o)
      o.naive = true
      local ref = core.nn.cross_entropy_forward(x, y, o)
      close(flat(fast), flat(ref), 1e-5, 1e-5, "forward")
      local gout = c.opts.reduction == "none" and g:randn(tshape) or lunet.tensor(1.7)
      local gref = core.nn.cross_entropy_backward(gout, x, y, o)
      o.naive = nil
      local gfast = core.nn.cross_entropy_backward(gout, x, y, o)
      close(flat(gfast), flat(gref), 1e-6, 1e-4, "backward")
    end)
  end

  it("accepts non-contiguous logits and uint8 targets", function()
    local x = g:randn(2, 5, 4, 3):permute(1, 2, 4, 3)   -- N, C, 3, 4 non-contiguous
    local y = g:randint(0, 5, { 2, 3, 4 }):to("uint8")
    local a = F.cross_entropy(x, y)
    local b = F.cross_entropy(x:contiguous(), y:to("int32"))
    close({ a:item() }, { b:item() }, 1e-6, 1e-6, "permuted")
  end)

  it("gives the same bits whatever the number of threads", function()
    local x = g:randn(3, 4, 20, 20)
    local y = g:randint(0, 4, { 3, 20, 20 }):to("int32")
    local old = lunet.get_num_threads()
    lunet.set_num_threads(1)
    local a = F.cross_entropy(x, y, { label_smoothing = 0.1 }):item()
    lunet.set_num_threads(2)
    local b = F.cross_entropy(x, y, { label_smoothing = 0.1 }):item()
    lunet.set_num_threads(old)
    assert.are.equal(a, b)
  end)

  it("returns NaN for a mean over no counted pixel, as PyTorch", function()
    local x = lunet.zeros(1, 3, 2, 2)
    local y = lunet.full({ 1, 2, 2 }, 255, { dtype = "int32" })
    local v = F.cross_entropy(x, y, { ignore_index = 255 }):item()
    assert.is_true(v ~= v)
    assert.are.equal(0, F.cross_entropy(x, y, { ignore_index = 255, reduction = "sum" }):item())
  end)
end)

describe("losses pass finite-difference gradient checks", function()
  local g = lunet.Generator(7)
  local function logits(...) return (g:randn(...) * 1.5):requires_grad(true) end
  local function labels(C, shape, ignore)
    local y = g:randint(0, C, shape):to("int32")
    if ignore then
      y = lunet.where(g:rand(shape):lt(0.25), lunet.full(shape, ignore, { dtype = "int32" }), y)
    end
    return y
  end
  local function binary(shape) return g:rand(shape):lt(0.4):to("float32") end
  local checks = {
    { "cross_entropy weight/ignore/smoothing", function()
      local y = labels(3, { 2, 3, 3 }, 255)
      return function(x) return F.cross_entropy(x, y, { weight = { 1, 2, 0.5 }, ignore_index = 255,
                                                         label_smoothing = 0.1 }) end, logits(2, 3, 3, 3)
    end },
    { "binary_cross_entropy_with_logits pos_weight", function()
      local y = binary({ 2, 2, 3, 3 })
      return function(x) return F.binary_cross_entropy_with_logits(x, y, { pos_weight = { 2, 0.5 } }) end,
             logits(2, 2, 3, 3)
    end },
    { "dice multiclass ignore", function()
      local y = labels(3, { 2, 3, 3 }, 255)
      return function(x) return F.dice_loss(x, y, { ignore_index = 255, smooth = 0.5 }) end, logits(2, 3, 3, 3)
    end },
    { "jaccard binary log_loss", function()
      local y = binary({ 2, 1, 3, 3 })
      return function(x) return F.jaccard_loss(x, y, { mode = "binary", log_loss = true }) end, logits(2, 1, 3, 3)
    end },
    { "tversky multilabel gamma", function()
      local y = binary({ 2, 2, 3, 3 })
      return function(x) return F.tversky_loss(x, y, { mode = "multilabel", alpha = 0.3, beta = 0.7,
                                                      gamma = 1.5 }) end, logits(2, 2, 3, 3)
    end },
    { "focal multiclass alpha ignore", function()
      local y = labels(3, { 2, 3, 3 }, 255)
      return function(x) return F.focal_loss(x, y, { ignore_index = 255, alpha = { 0.5, 1, 2 } }) end,
             logits(2, 3, 3, 3)
    end },
    { "focal binary", function()
      local y = binary({ 2, 1, 3, 3 })
      return function(x) return F.focal_loss(x, y, { mode = "binary", alpha = 0.25 }) end, logits(2, 1, 3, 3)
    end },
    { "lovasz softmax", function()
      local y = labels(3, { 2, 3, 3 }, 255)
      return function(x) return F.lovasz_loss(x, y, { ignore_index = 255 }) end, logits(2, 3, 3, 3)
    end },
    { "lovasz hinge per image", function()
      local y = binary({ 2, 1, 3, 3 })
      return function(x) return F.lovasz_loss(x, y, { mode = "binary", per_image = true }) end, logits(2, 1, 3, 3)
    end },
  }
  for _, c in ipairs(checks) do
    it(c[1], function()
      local fn, x = c[2]()
      assert(lunet.gradcheck(fn, { x }, { eps = 1e-3, atol = 2e-3, rtol = 2e-2 }))
    end)
  end
end)

describe("loss modules", function()
  local x = lunet.Generator(3):randn(2, 3, 4, 4)
  local y = lunet.Generator(4):randint(0, 3, { 2, 4, 4 }):to("int32")

  it("are called as loss(logits, target) and keep their options", function()
    local l = losses.CrossEntropyLoss { ignore_index = 255, label_smoothing = 0.1 }
    assert.are.equal(F.cross_entropy(x, y, { ignore_index = 255, label_smoothing = 0.1 }):item(), l(x, y):item())
    assert.are.equal(l(x, y):item(), l:forward(x, y):item())
    assert.are.equal(F.cross_entropy(x, y):item(), losses.CrossEntropyLoss()(x, y):item())
  end)

  it("combine with + and scalar *", function()
    local ce, dice = losses.CrossEntropyLoss {}, losses.DiceLoss { mode = "multiclass" }
    local l = ce + 0.5 * dice
    local expect = ce(x, y):item() + 0.5 * dice(x, y):item()
    close({ l(x, y):item() }, { expect }, 1e-6, 1e-6, "ce + 0.5 dice")
    local l2 = 2 * (ce + dice * 3) + losses.LovaszLoss {}
    local e2 = 2 * ce(x, y):item() + 6 * dice(x, y):item() + losses.LovaszLoss {}(x, y):item()
    close({ l2(x, y):item() }, { e2 }, 1e-5, 1e-6, "nested combination")
    local xg = x:clone():requires_grad(true)
    l(xg, y):backward()
    assert.are.same({ 2, 3, 4, 4 }, xg.grad:shape())
  end)

  it("print readably", function()
    assert.are.equal("CrossEntropyLoss{}", tostring(losses.CrossEntropyLoss {}))
    assert.are.equal('CrossEntropyLoss{ignore_index=255, label_smoothing=0.1, weight={1, 2.5}}',
      tostring(losses.CrossEntropyLoss { weight = { 1, 2.5 }, ignore_index = 255, label_smoothing = 0.1 }))
    assert.are.equal('CrossEntropyLoss{} + 0.5 * DiceLoss{log_loss=true}',
      tostring(losses.CrossEntropyLoss {} + 0.5 * losses.DiceLoss { log_loss = true }))
    assert.are.equal('FocalLoss{gamma=3, mode="binary"}', tostring(losses.FocalLoss { mode = "binary", gamma = 3 }))
  end)

  it("take N x H x W masks for N x 1 x H x W logits in binary mode", function()
    local xb = lunet.Generator(5):randn(2, 1, 4, 4)
    local yb = lunet.Generator(6):rand(2, 4, 4):lt(0.5)
    for _, cls in ipairs { "DiceLoss", "JaccardLoss", "TverskyLoss", "FocalLoss", "LovaszLoss" } do
      local l = losses[cls] { mode = "binary" }
      assert.are.equal(l(xb, yb:unsqueeze(2)):item(), l(xb, yb):item(), cls)
    end
  end)

  it("accept uint8 masks and tensor weights", function()
    local w = lunet.tensor({ 1, 2, 3 })
    local a = losses.CrossEntropyLoss { weight = w }(x, y:to("uint8")):item()
    local b = F.cross_entropy(x, y, { weight = { 1, 2, 3 } }):item()
    assert.are.equal(a, b)
  end)
end)

describe("loss errors", function()
  local x = lunet.zeros(2, 3, 4, 4)
  local y = lunet.zeros({ 2, 4, 4 }, { dtype = "int32" })
  local bad = lunet.zeros({ 2, 4, 4 }, { dtype = "int32" })
  bad:set(3, 1, 1, 2)
  local cases = {
    { function() return F.cross_entropy(x, lunet.zeros({ 2, 5, 5 }, { dtype = "int32" })) end,
      "cross_entropy: target [2, 5, 5] does not match logits [2, 3, 4, 4] (expected N x d1 x ... without the class dimension)" },
    { function() return F.cross_entropy(x, lunet.zeros(2, 4, 4)) end,
      "cross_entropy: target must hold int32 class ids, got float32 (target [2, 4, 4])" },
    { function() return F.cross_entropy(x, bad, { ignore_index = 255 }) end,
      "cross_entropy: target holds class id 3 at element 2, outside 0..2 and not ignore_index (255)" },
    { function() return F.cross_entropy(x, bad) end,
      "cross_entropy: target holds class id 3 at element 2, outside 0..2 (no ignore_index set)" },
    { function() return F.cross_entropy(x, y, { weight = { 1, 2 } }) end,
      "cross_entropy: weight has shape [2], expected C = 3 values" },
    { function() return F.cross_entropy(x, y, { label_smoothing = 1.5 }) end,
      "cross_entropy: label_smoothing must be in [0, 1], got 1.5" },
    { function() return F.cross_entropy(x, y, { reduction = "avg" }) end,
      'cross_entropy: reduction must be "mean", "sum" or "none", got avg' },
    { function() return F.cross_entropy(x:to("int32"), y) end,
      "cross_entropy: logits must be float32, got int32" },
    { function() return F.dice_loss(x, bad) end,
      "dice_loss: target holds class id 3 at element 2, outside 0..2 (no ignore_index set)" },
    { function() return F.dice_loss(x, lunet.zeros(2, 4, 4)) end,
      "dice_loss: target must hold int32 class ids, got float32 (target [2, 4, 4])" },
    { function() return F.dice_loss(x, y, { mode = "softmax" }) end,
      'dice_loss: mode must be "multiclass", "binary" or "multilabel", got "softmax"' },
    { function() return F.jaccard_loss(x, lunet.zeros(2, 1, 4, 4), { mode = "binary" }) end,
      "jaccard_loss: target [2, 1, 4, 4] does not match logits [2, 3, 4, 4]" },
    { function() return F.focal_loss(x, lunet.zeros({ 2, 4 }, { dtype = "int32" })) end,
      "focal_loss: target [2, 4] does not match logits [2, 3, 4, 4] (expected N x d1 x ... without the class dimension)" },
    { function() return F.focal_loss(x, y, { alpha = { 1, 2 } }) end,
      "focal_loss: alpha has 2 values, expected C = 3 (multiclass)" },
    { function() return F.lovasz_loss(x, bad, { ignore_index = 255 }) end,
      "lovasz_loss: target holds class id 3 at element 2, outside 0..2 and not ignore_index (255)" },
    { function() return F.binary_cross_entropy_with_logits(x, lunet.zeros(2, 3, 4)) end,
      "binary_cross_entropy_with_logits: target [2, 3, 4] does not match logits [2, 3, 4, 4]" },
    { function() return F.binary_cross_entropy_with_logits(x, lunet.zeros(2, 3, 4, 4), { pos_weight = { 1, 2 } }) end,
      "binary_cross_entropy_with_logits: pos_weight of shape [2] does not broadcast to logits [2, 3, 4, 4]" },
    { function() return F.dice_loss(x, y, { classes = { 0, 3 } }) end,
      "dice_loss: classes holds 3, not a class id in 0..2" },
    { function() return losses.DiceLoss { mode = "foo" } end,
      "DiceLoss: mode must be 'multiclass', 'binary' or 'multilabel', got 'foo'" },
    { function() return losses.LovaszLoss { mode = 3 } end,
      "LovaszLoss: mode must be 'multiclass', 'binary' or 'multilabel', got 3" },
    { function() return losses.CrossEntropyLoss { ignore_idx = 255 } end,
      "CrossEntropyLoss: unknown option 'ignore_idx' (did you mean 'ignore_index'?)" },
    { function() return losses.DiceLoss { mode = "binary", classes = { 1 } } end,
      'DiceLoss: classes are not supported with mode="binary"' },
    { function() return losses.FocalLoss { gamma = -1 } end,
      "FocalLoss: gamma must be a finite number >= 0, got -1" },
    { function() return losses.CrossEntropyLoss {} + 1 end,
      "loss +: both operands must be losses (got table and number)" },
  }
  for i, c in ipairs(cases) do
    it("case " .. i .. ": " .. c[2], function()
      assert.are.equal(c[2], errmsg(c[1]))
    end)
  end
end)

-- Loss options are checked when the loss is built, values printed in full.
describe("loss option range checks", function()
  local nan, inf = 0 / 0, math.huge
  local cases = {
    { function() return losses.DiceLoss { smooth = -1 } end, "DiceLoss: smooth must be a finite number >= 0, got -1" },
    { function() return losses.JaccardLoss { smooth = inf } end,
      "JaccardLoss: smooth must be a finite number >= 0, got inf" },
    { function() return losses.DiceLoss { eps = 0 } end, "DiceLoss: eps must be a finite number > 0, got 0" },
    { function() return losses.TverskyLoss { eps = nan } end, "TverskyLoss: eps must be a finite number > 0, got nan" },
    { function() return losses.TverskyLoss { alpha = -0.5 } end,
      "TverskyLoss: alpha must be a finite number >= 0, got -0.5" },
    { function() return losses.TverskyLoss { gamma = 0 } end, "TverskyLoss: gamma must be a finite number > 0, got 0" },
    { function() return losses.FocalLoss { gamma = nan } end, "FocalLoss: gamma must be a finite number >= 0, got nan" },
    { function() return losses.FocalLoss { mode = "binary", alpha = 2 } end,
      "FocalLoss: alpha must be a number in [0, 1], got 2" },
    { function() return losses.FocalLoss { alpha = { 1, nan } } end, "FocalLoss: alpha[2] must be a finite number, got nan" },
    { function() return losses.DiceLoss { classes = { 1, -1 } } end,
      "DiceLoss: classes[2] must be an integer >= 0, got -1" },
    { function() return losses.DiceLoss { classes = {} } end,
      "DiceLoss: classes must be a non-empty list of class ids, got an empty list" },
    { function() return losses.DiceLoss { classes = { 0.5 } } end,
      "DiceLoss: classes[1] must be an integer >= 0, got 0.5" },
    { function() return losses.DiceLoss { log_loss = "yes" } end, "DiceLoss: log_loss must be a boolean, got 'yes'" },
    { function() return losses.CrossEntropyLoss { label_smoothing = 1.5 } end,
      "CrossEntropyLoss: label_smoothing must be a number in [0, 1], got 1.5" },
    { function() return losses.CrossEntropyLoss { label_smoothing = nan } end,
      "CrossEntropyLoss: label_smoothing must be a number in [0, 1], got nan" },
    { function() return losses.CrossEntropyLoss { ignore_index = 0.5 } end,
      "CrossEntropyLoss: ignore_index must be an integer, got 0.5" },
    { function() return losses.CrossEntropyLoss { weight = { 1, inf } } end,
      "CrossEntropyLoss: weight[2] must be a finite number, got inf" },
    { function() return losses.CrossEntropyLoss { weight = "balanced" } end,
      "CrossEntropyLoss: weight must be a non-empty list of numbers or a tensor, got 'balanced'" },
    { function() return losses.BCEWithLogitsLoss { pos_weight = nan } end,
      "BCEWithLogitsLoss: pos_weight must be a number, a non-empty list of numbers or a tensor, got nan" },
    { function() return losses.CrossEntropyLoss { reduction = "avg" } end,
      "CrossEntropyLoss: reduction must be 'mean', 'sum' or 'none', got 'avg'" },
    { function() return losses.LovaszLoss { per_image = 1 } end, "LovaszLoss: per_image must be a boolean, got 1" },
    { function() return math.huge * losses.DiceLoss {} end, "loss *: the factor must be a finite number, got inf" },
  }
  for i, c in ipairs(cases) do
    it("case " .. i .. ": " .. c[2], function()
      assert.are.equal(c[2], errmsg(c[1]))
    end)
  end

  it("classes beyond the logits' classes are caught when the loss runs", function()
    local l = losses.DiceLoss { classes = { 0, 5 } }
    local x = lunet.randn(2, 3, 4, 4)
    local y = lunet.zeros({ 2, 4, 4 }, { dtype = "int32" })
    assert.are.equal("dice_loss: classes holds 5, not a class id in 0..2", errmsg(function() return l(x, y) end))
  end)
end)
