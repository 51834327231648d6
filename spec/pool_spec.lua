-- spec/pool_spec.lua: max / average / adaptive pooling and max unpooling against PyTorch 1.13
-- references (spec/ref/pool.lua from spec/ref/gen_pool.py), gradchecks, the 2x2 fast path
-- against the naive kernel, and the exact error messages.
local lunet = require "lunet"
local F = require "lunet.nn.functional"
local core = require "lunet.core"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local flat = H.flat

local refs = dofile("spec/ref/pool.lua")
local RTOL, ATOL = 1e-4, 1e-5

local function T(r, dtype)
  return lunet.tensor(r.data, { shape = r.shape, dtype = dtype })
end

-- Elementwise |a - b| <= atol + rtol * |b| with the shape checked; reports the worst element.
local function assert_close(t, ref, what, rtol, atol)
  rtol, atol = rtol or RTOL, atol or ATOL
  local shape = t:shape()
  assert.are.same(ref.shape, shape, what .. ": shape")
  local a = flat(t)
  assert.are.equal(#ref.data, #a, what .. ": numel")
  for i = 1, #a do
    local b = ref.data[i]
    if not (math.abs(a[i] - b) <= atol + rtol * math.abs(b)) then
      error(string.format("%s: element %d is %.9g, expected %.9g", what, i, a[i], b), 2)
    end
  end
end

local function leaf(t)
  t:requires_grad(true)
  return t
end

local function assert_equal_ints(t, ref, what)
  assert.are.same(ref.shape, t:shape(), what .. ": shape")
  assert.are.equal("int32", t:dtype(), what .. ": dtype")
  assert.are.same(ref.data, flat(t), what)
end

local run = {
  max_pool2d = function(x, c) return F.max_pool2d(x, c.opts) end,
  avg_pool2d = function(x, c) return F.avg_pool2d(x, c.opts) end,
  max_unpool2d = function(x, c) return F.max_unpool2d(x, T(c.idx, "int32"), c.opts) end,
  adaptive_avg_pool2d = function(x, c) return F.adaptive_avg_pool2d(x, c.opts.size) end,
  adaptive_max_pool2d = function(x, c)
    return F.adaptive_max_pool2d(x, c.opts.size, { return_indices = true })
  end,
}

describe("pooling matches PyTorch 1.13", function()
  for _, c in ipairs(refs) do
    if run[c.op] then
      it(c.name .. ": values, indices and gradient", function()
        local x = leaf(T(c.x))
        local y, idx = run[c.op](x, c)
        assert_close(y, c.y, "y")
        if c.op ~= "max_unpool2d" and c.idx then assert_equal_ints(idx, c.idx, "indices") end
        y:backward(T(c.gy))
        assert_close(x.grad, c.gx, "grad x")
      end)
    end
  end
end)

describe("max_pool2d", function()
  it("returns only the values unless return_indices is set", function()
    local x = lunet.randn(1, 2, 4, 4)
    local y, idx = F.max_pool2d(x, { kernel = 2 })
    assert.are.same({ 1, 2, 2, 2 }, y:shape())
    assert.is_nil(idx)
  end)

  it("gives 1-based plane positions that max_unpool2d puts back", function()
    local x = lunet.tensor({ { { { 1, 2, 3, 4 }, { 5, 6, 7, 8 }, { 9, 10, 11, 12 }, { 13, 14, 15, 16 } } } })
    local y, idx = F.max_pool2d(x, { kernel = 2, return_indices = true })
    assert.are.same({ 6, 8, 14, 16 }, flat(idx))
    assert.are.same({ 6, 8, 14, 16 }, flat(y))
    local u = F.max_unpool2d(y, idx, { kernel = 2 })
    assert.are.same({ 0, 0, 0, 0, 0, 6, 0, 8, 0, 0, 0, 0, 0, 14, 0, 16 }, flat(u))
  end)

  it("lets a NaN win and keeps the first of equal values, as PyTorch", function()
    local x = lunet.tensor({ 1, 0 / 0, 3, 2, 5, 5, 5, 5 }, { shape = { 1, 1, 2, 4 } })
    local y, idx = F.max_pool2d(x, { kernel = 2, return_indices = true })
    local v = flat(y)
    assert.is_true(v[1] ~= v[1])
    assert.are.equal(5, v[2])
    assert.are.same({ 2, 7 }, flat(idx))
  end)

  it("accepts non-contiguous input", function()
    local x = lunet.randn(2, 3, 6, 5)
    local xt = x:transpose(3, 4)
    local a = F.max_pool2d(xt, { kernel = 2, padding = 1 })
    local b = F.max_pool2d(xt:contiguous(), { kernel = 2, padding = 1 })
    assert.are.same(flat(b), flat(a))
  end)

  it("fast 2x2 stride-2 kernel equals the naive kernel on random shapes", function()
    math.randomseed(7)
    lunet.manual_seed(7)
    for _ = 1, 20 do
      local n, c = math.random(1, 3), math.random(1, 4)
      local h, w = math.random(2, 13), math.random(2, 13)
      local x = lunet.randn(n, c, h, w)
      for _, ceil in ipairs({ false, true }) do
        local o = { kernel = 2, ceil_mode = ceil }
        local y1, i1 = core.nn.max_pool2d(x, o, true)
        local y2, i2 = core.nn.max_pool2d_naive(x, o, true)
        assert.are.same(flat(y2), flat(y1))
        assert.are.same(flat(i2), flat(i1))
        assert.are.same(flat(y2), flat(core.nn.max_pool2d(x, o)))
      end
    end
  end)

  it("gives the same values and gradients on 1 and 2 threads (plane-parallel path)", function()
    lunet.manual_seed(9)
    local x = lunet.randn(2, 8, 64, 64)
    local o = { kernel = 3, stride = 2, padding = 1 }
    local results = {}
    for t = 1, 2 do
      lunet.set_num_threads(t)
      local y1, i1 = core.nn.max_pool2d(x, { kernel = 2 }, true)
      local y2, i2 = core.nn.max_pool2d_naive(x, { kernel = 2 }, true)
      assert.are.same(flat(y2), flat(y1))
      assert.are.same(flat(i2), flat(i1))
      local ya = core.nn.avg_pool2d(x, o)
      results[t] = {
        flat(core.nn.max_pool2d_backward(y1, i1, x)),
        flat(ya), flat(core.nn.avg_pool2d_backward(ya, x, o)),
        flat(core.nn.max_unpool2d(y1, i1, { kernel = 2 })),
        flat(core.nn.adaptive_avg_pool2d(x, { 5, 7 })),
      }
    end
    lunet.set_num_threads(2)
    for k = 1, #results[1] do assert.are.same(results[1][k], results[2][k]) end
  end)
end)

-- Inputs with well-separated distinct values, so finite differences never cross a tie.
local function distinct(shape)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  local data = {}
  local p = flat(lunet.randperm(n))
  for i = 1, n do data[i] = p[i] * 0.05 - n * 0.025 end
  return lunet.tensor(data, { shape = shape })
end

describe("pooling gradcheck", function()
  lunet.manual_seed(3)
  local cases = {
    { "max_pool2d 3x3 stride 2 padding 1 dilation", function(x)
      return F.max_pool2d(x, { kernel = 3, stride = 2, padding = 1, dilation = { 2, 1 } }) end, { 1, 2, 7, 6 } },
    { "max_pool2d 2x2 ceil_mode", function(x) return F.max_pool2d(x, { kernel = 2, ceil_mode = true }) end, { 2, 2, 5, 5 } },
    { "avg_pool2d exclude pad ceil_mode", function(x)
      return F.avg_pool2d(x, { kernel = 3, stride = 2, padding = 1, ceil_mode = true, count_include_pad = false }) end,
      { 1, 2, 6, 7 } },
    { "avg_pool2d divisor_override", function(x)
      return F.avg_pool2d(x, { kernel = { 2, 3 }, stride = 1, divisor_override = 5 }) end, { 1, 2, 4, 5 } },
    { "adaptive_avg_pool2d", function(x) return F.adaptive_avg_pool2d(x, { 3, 2 }) end, { 1, 2, 7, 5 } },
    { "adaptive_max_pool2d", function(x) return F.adaptive_max_pool2d(x, { 3, 4 }) end, { 1, 2, 7, 5 } },
    { "max_pool2d 3-D input", function(x) return F.max_pool2d(x, { kernel = 2, stride = 1 }) end, { 2, 4, 5 } },
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      assert(lunet.gradcheck(c[2], { leaf(distinct(c[3])) }))
    end)
  end
  it("max_unpool2d", function()
    local src = distinct({ 1, 2, 6, 6 })
    local y, idx = F.max_pool2d(src, { kernel = 2, return_indices = true })
    assert(lunet.gradcheck(function(x) return F.max_unpool2d(x, idx, { kernel = 2 }) end,
      { leaf(lunet.randn(1, 2, 3, 3)) }))
    assert.are.same({ 1, 2, 3, 3 }, y:shape())
  end)
end)

describe("pooling errors", function()
  local x4 = lunet.zeros(1, 1, 4, 4)
  local x2 = lunet.zeros(1, 1, 2, 2)
  local cases = {
    { function() F.max_pool2d(lunet.zeros(4, 4), { kernel = 2 }) end,
      "max_pool2d: x must be 3-D (C, H, W) or 4-D (N, C, H, W), got [4, 4]" },
    { function() F.max_pool2d(lunet.zeros({ 1, 1, 4, 4 }, { dtype = "int32" }), { kernel = 2 }) end,
      "max_pool2d: x must be float32, got int32" },
    { function() F.max_pool2d(x4, {}) end, "max_pool2d: opts.kernel is required" },
    { function() F.max_pool2d(x4, 2) end, "max_pool2d: options must be a table, got number" },
    { function() F.max_pool2d(x4, { kernel = 2.5 }) end,
      "max_pool2d: kernel must be an integer or a pair {h, w} of integers, got 2.5" },
    { function() F.max_pool2d(x4, { kernel = { 0, 2 } }) end, "max_pool2d: kernel must be positive, got 0x2" },
    { function() F.max_pool2d(x4, { kernel = 2, stride = 0 }) end, "max_pool2d: stride must be positive, got 0x0" },
    { function() F.max_pool2d(x4, { kernel = 2, dilation = { 1, 0 } }) end,
      "max_pool2d: dilation must be positive, got 1x0" },
    { function() F.max_pool2d(x4, { kernel = 3, padding = 2 }) end,
      "max_pool2d: padding 2x2 must be at most half the kernel 3x3" },
    { function() F.max_pool2d(x2, { kernel = 3 }) end,
      "max_pool2d: kernel 3x3 (dilation 1x1) is larger than the padded input 2x2 (input [1, 1, 2, 2], padding 0x0)" },
    { function() F.max_pool2d(x4, { kernel = 3, padding = 1, dilation = 3 }) end,
      "max_pool2d: kernel 3x3 (dilation 3x3) is larger than the padded input 6x6 (input [1, 1, 4, 4], padding 1x1)" },
    { function() F.avg_pool2d(x2, { kernel = 5, padding = 1 }) end,
      "avg_pool2d: kernel 5x5 is larger than the padded input 4x4 (input [1, 1, 2, 2], padding 1x1)" },
    { function() F.avg_pool2d(x4, { kernel = 2, padding = { 0, 2 } }) end,
      "avg_pool2d: padding 0x2 must be at most half the kernel 2x2" },
    { function() F.avg_pool2d(x4, { kernel = 2, divisor_override = 0 }) end,
      "avg_pool2d: divisor_override must be positive, got 0" },
    { function() F.max_unpool2d(x2, lunet.tensor({ 1, 2, 3, 17 }, { shape = { 1, 1, 2, 2 }, dtype = "int32" }), { kernel = 2 }) end,
      "max_unpool2d: index 17 is outside [1, 16] (1-based positions in an output plane of 4x4)" },
    { function() F.max_unpool2d(x2, lunet.tensor({ 0, 2, 3, 4 }, { shape = { 1, 1, 2, 2 }, dtype = "int32" }), { kernel = 2 }) end,
      "max_unpool2d: index 0 is outside [1, 16] (1-based positions in an output plane of 4x4)" },
    { function() F.max_unpool2d(x2, lunet.zeros(1, 1, 2, 2), { kernel = 2 }) end,
      "max_unpool2d: indices must be int32, got float32" },
    { function() F.max_unpool2d(x2, lunet.ones({ 1, 1, 2, 3 }, { dtype = "int32" }), { kernel = 2 }) end,
      "max_unpool2d: indices [1, 1, 2, 3] must have the shape of x [1, 1, 2, 2]" },
    { function() F.max_unpool2d(x2, lunet.ones({ 1, 1, 2, 2 }, { dtype = "int32" }), { kernel = 2, output_size = { 6, 4 } }) end,
      "max_unpool2d: output_size height 6 must be strictly between 2 and 6" },
    { function() F.max_unpool2d(x2, lunet.ones({ 1, 1, 2, 2 }, { dtype = "int32" }), { kernel = 2, output_size = { 1, 2, 3 } }) end,
      "max_unpool2d: output_size must be {h, w} or {n, c, h, w}" },
    { function() F.adaptive_avg_pool2d(x4, { 0, 2 }) end, "adaptive_avg_pool2d: size must be positive, got 0x2" },
    { function() F.adaptive_max_pool2d(x4, "big") end,
      "adaptive_max_pool2d: size must be an integer or a pair {h, w} of integers" },
  }
  for i, c in ipairs(cases) do
    it("case " .. i .. ": " .. c[2], function()
      assert.has_error(c[1], c[2])
    end)
  end
end)
