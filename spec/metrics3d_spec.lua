-- metrics3d_spec.lua: lunet.metrics on volumes with voxel spacing - Hausdorff / HD95,
-- surface Dice (normalized surface distance), Dice / IoU - against scipy transcriptions of
-- MONAI's formulas (spec/ref/gen_metrics3d.py -> spec/ref/metrics3d.lua), and the fast
-- kernels (exact separable EDT) against their brute-force twins on random shapes.
local lunet = require "lunet"
local metrics = require "lunet.metrics"
local core = require "lunet.core"
local K = core.metrics
local REF = dofile("spec/ref/metrics3d.lua")

local function is_nan(x) return x ~= x end
local function near(a, b, tol, what)
  tol = tol or 1e-9
  if is_nan(b) then
    assert(is_nan(a), (what or "") .. ": expected NaN, got " .. tostring(a))
  elseif b == math.huge then
    assert(a == b, (what or "") .. ": expected inf, got " .. tostring(a))
  else
    assert(type(a) == "number" and math.abs(a - b) <= tol * math.max(1, math.abs(b)),
      string.format("%s: expected %.12g, got %s", what or "", b, tostring(a)))
  end
end
local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return (tostring(e):gsub("^[^:\n]*:%d+: ", ""))
end
local function T(flat, shape, dtype) return lunet.tensor(flat, {shape = shape, dtype = dtype or "int32"}) end

describe("metrics on volumes match scipy (MONAI's formulas)", function()
  for _, c in ipairs(REF.volumes) do
    it("hausdorff, HD95 and surface Dice: " .. c.name, function()
      local p, t = T(c.pred, c.shape), T(c.target, c.shape, "uint8")
      local sp = c.spacing
      near(metrics.hausdorff(p, t, {spacing = sp}), c.hd, 1e-9, "hd")
      near(metrics.hausdorff(p, t, {spacing = sp, percentile = 95}), c.hd95, 1e-9, "hd95")
      near(metrics.surface_dice(p, t, {spacing = sp, tolerance = 1}), c.nsd1, 1e-12, "nsd at 1")
      near(metrics.surface_dice(p, t, {spacing = sp, tolerance = 2}), c.nsd2, 1e-12, "nsd at 2")
      -- the brute-force twin agrees
      local hd, nsd = K.surface(p, t, true, sp[1], sp[2], sp[3], nil, 1, "x", true)
      near(hd[1], c.hd, 1e-9, "naive hd")
      near(nsd[1], c.nsd1, 1e-12, "naive nsd")
    end)
  end

  it("takes N x D x H x W batches and returns one value per volume", function()
    local a, b = REF.volumes[1], REF.volumes[2]
    -- two volumes of the first case's shape: the case itself and its target against itself
    local p = lunet.stack({T(a.pred, a.shape), T(a.target, a.shape)})
    local t = lunet.stack({T(a.target, a.shape), T(a.target, a.shape)})
    local hd = metrics.hausdorff(p, t, {spacing = a.spacing})
    near(hd[1], a.hd, 1e-9, "hd[1]")
    near(hd[2], 0, 0, "hd[2]")
    local nsd = metrics.surface_dice(p, t, {spacing = a.spacing, tolerance = 1})
    near(nsd[1], a.nsd1, 1e-12, "nsd[1]")
    near(nsd[2], 1, 0, "nsd[2]")
    -- a 4-D target is a batch of volumes even without a spacing (isotropic 1)
    near(metrics.hausdorff(p, t)[1], a.hd, 1e-9, "4-D without spacing")
    assert(b)
  end)

  it("2-D surface Dice uses 4-connected boundaries and {sy, sx}", function()
    for i, c in ipairs(REF.images) do
      local p, t = T(c.pred, c.shape), T(c.target, c.shape)
      near(metrics.surface_dice(p, t, {spacing = c.spacing, tolerance = 1.5}), c.nsd, 1e-12, "nsd " .. i)
      near(metrics.hausdorff(p, t, {spacing = c.spacing}), c.hd, 1e-9, "2-D hd unchanged " .. i)
    end
  end)

  it("Dice, IoU and per-class surface Dice of label volumes", function()
    local m = REF.multi
    local t = T(m.target, m.shape)
    local logits = lunet.tensor(m.logits, {shape = {1, m.C, m.shape[1], m.shape[2], m.shape[3]}})
    local pred = T(m.pred, m.shape)
    local opts = {num_classes = m.C, reduction = "none"}
    for c = 1, m.C do
      near(metrics.dice(pred, t, opts)[c], m.dice[c], 1e-12, "dice labels " .. c)
      near(metrics.iou(pred, t, opts)[c], m.iou[c], 1e-12, "iou labels " .. c)
      -- N x C x D x H x W logits with an N x D x H x W target
      near(metrics.dice(logits, t:unsqueeze(1), opts)[c], m.dice[c], 1e-12, "dice logits " .. c)
      -- C x D x H x W logits with one D x H x W volume
      near(metrics.iou(logits:squeeze(1), t, opts)[c], m.iou[c], 1e-12, "iou logits " .. c)
    end
    local nsd = metrics.surface_dice(pred, t, {num_classes = m.C, spacing = {1, 2, 1.5}, tolerance = 1.5})
    assert.are.equal(m.C - 1, #nsd)
    for c = 1, m.C - 1 do near(nsd[c], m.nsd[c], 1e-12, "nsd class " .. c) end
  end)
end)

describe("volume kernels against their naive twins", function()
  it("3-D EDT matches scipy and brute force", function()
    local e = REF.edt
    local seed = T(e.seed, e.shape, "uint8")
    local sp = e.spacing
    local fast = K.edt3(seed, sp[1], sp[2], sp[3]):tolist()
    local slow = K.edt3(seed, sp[1], sp[2], sp[3], true):tolist()
    for i = 1, #e.dist do
      near(fast[i], e.dist[i], 1e-6, "edt " .. i)
      assert.are.equal(slow[i], fast[i])
    end
  end)

  it("fast and naive surface distances agree on random shapes and spacings", function()
    local g = lunet.Generator(7)
    for trial = 1, 12 do
      local n = trial % 3 == 0 and 2 or 1
      local shape = {n, 1 + trial % 4 + (trial > 6 and 3 or 0), 2 + trial % 5, 3 + trial % 3}
      local p = (lunet.rand(shape, {generator = g}):lt(0.3 + 0.04 * trial)):to("int32")
      local t = (lunet.rand(shape, {generator = g}):lt(0.5)):to("uint8")
      local sp = {0.5 + trial % 3, 1.25, 0.75 + trial % 2}
      for _, pct in ipairs{false, 95, 50} do
        local h1, n1 = K.surface(p, t, true, sp[1], sp[2], sp[3], pct or nil, 1.3, "x", false)
        local h2, n2 = K.surface(p, t, true, sp[1], sp[2], sp[3], pct or nil, 1.3, "x", true)
        for i = 1, n do
          near(h1[i], h2[i], 1e-12, "hd trial " .. trial)
          near(n1[i], n2[i], 1e-12, "nsd trial " .. trial)
        end
      end
    end
  end)

  it("6-connected boundary: interior voxels of a cube are off, faces on", function()
    local m = lunet.ones({3, 3, 3}, {dtype = "uint8"})
    local b = K.boundary6(m):tolist()
    local on = 0
    for i = 1, 27 do on = on + b[i] end
    assert.are.equal(26, on)
    assert.are.equal(0, b[14])    -- the centre
  end)

  it("gives results that do not depend on the thread count", function()
    local g = lunet.Generator(3)
    local p = lunet.rand({24, 30, 28}, {generator = g}):lt(0.4):to("uint8")
    local t = lunet.rand({24, 30, 28}, {generator = g}):lt(0.4):to("uint8")
    local old = lunet.get_num_threads()
    lunet.set_num_threads(1)
    local a = metrics.hausdorff(p, t, {spacing = {1, 2, 3}, percentile = 95})
    lunet.set_num_threads(2)
    local b = metrics.hausdorff(p, t, {spacing = {1, 2, 3}, percentile = 95})
    lunet.set_num_threads(old)
    assert.are.equal(a, b)
  end)
end)

describe("volume metric errors", function()
  local v = lunet.zeros({2, 3, 4}, {dtype = "int32"})
  local cases = {
    {"a missing tolerance", function() metrics.surface_dice(v, v, {spacing = {1, 1, 1}}) end,
      "surface_dice: option tolerance is required (a distance >= 0 in spacing units)"},
    {"a negative tolerance", function() metrics.surface_dice(v, v, {tolerance = -1}) end,
      "surface_dice: tolerance must be a number in [0, inf], got -1"},
    {"a bad spacing", function() metrics.hausdorff(v, v, {spacing = {1, 0, 1}}) end,
      "hausdorff: spacing must be finite and > 0, got {1, 0, 1}"},
    {"a spacing of 4 values", function() metrics.surface_dice(v, v, {tolerance = 1, spacing = {1, 1, 1, 1}}) end,
      "surface_dice: spacing must be a number, {sy, sx} or {sd, sh, sw}, got a table of 4 values"},
    {"a 3-D spacing with a 2-D target", function() metrics.hausdorff(v:select(1, 1), v:select(1, 1), {spacing = {1, 1, 1}}) end,
      "hausdorff: with a 3-D spacing, target must be D x H x W or N x D x H x W, got [3, 4]"},
    {"mismatched shapes", function() metrics.surface_dice(v, lunet.zeros({2, 3, 5}, {dtype = "int32"}), {tolerance = 1, spacing = {1, 1, 1}}) end,
      "surface_dice: pred shape [2, 3, 4] does not match target shape [2, 3, 5]"},
    {"float masks", function() metrics.surface_dice(v:float(), v, {tolerance = 1, spacing = {1, 1, 1}}) end,
      "surface_dice: pred must be an int32 or uint8 tensor, got float32"},
    {"an unknown option", function() metrics.surface_dice(v, v, {tolerence = 1}) end,
      "surface_dice: unknown option 'tolerence' (did you mean 'tolerance'?)"},
    {"num_classes with a batch", function() metrics.surface_dice(v:unsqueeze(1), v:unsqueeze(1), {tolerance = 1, num_classes = 3}) end,
      "surface_dice: with num_classes, target must be one D x H x W volume, got [1, 2, 3, 4]"},
  }
  for _, c in ipairs(cases) do
    it("rejects " .. c[1], function() assert.are.equal(c[3], err_of(c[2])) end)
  end
end)
