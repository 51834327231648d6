-- spec/resample_spec.lua: F.interpolate (nearest, bilinear) and F.pad against PyTorch 1.13
-- references (spec/ref/pool.lua from spec/ref/gen_pool.py), gradchecks, the tabulated
-- bilinear kernel against the naive one, and the exact error messages.
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

local function leaf(t)
  t:requires_grad(true)
  return t
end

local function assert_close(t, ref, what, rtol, atol)
  rtol, atol = rtol or RTOL, atol or ATOL
  assert.are.same(ref.shape, t:shape(), what .. ": shape")
  local a = flat(t)
  assert.are.equal(#ref.data, #a, what .. ": numel")
  for i = 1, #a do
    local b = ref.data[i]
    if not (math.abs(a[i] - b) <= atol + rtol * math.abs(b)) then
      error(string.format("%s: element %d is %.9g, expected %.9g", what, i, a[i], b), 2)
    end
  end
end

local run = {
  interpolate = function(x, c) return F.interpolate(x, c.opts) end,
  pad = function(x, c) return F.pad(x, c.pads, c.opts) end,
}

describe("interpolate and pad match PyTorch 1.13", function()
  for _, c in ipairs(refs) do
    if run[c.op] then
      it(c.name .. ": values and gradient", function()
        local x = leaf(T(c.x))
        local y = run[c.op](x, c)
        assert_close(y, c.y, "y")
        if c.gx then
          y:backward(T(c.gy))
          assert_close(x.grad, c.gx, "grad x")
        end
      end)
    end
  end
end)

describe("interpolate", function()
  it("nearest x2 repeats every pixel into a 2x2 block", function()
    local x = lunet.tensor({ 1, 2, 3, 4 }, { shape = { 1, 1, 2, 2 } })
    local y = F.interpolate(x, { scale_factor = 2 })
    assert.are.same({ 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4 }, flat(y))
  end)

  it("bilinear with align_corners keeps the corner values", function()
    local x = lunet.tensor({ 1, 2, 3, 4 }, { shape = { 1, 1, 2, 2 } })
    local y = F.interpolate(x, { size = 3, mode = "bilinear", align_corners = true })
    assert.are.same({ 1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4 }, flat(y))
  end)

  it("tabulated bilinear kernel equals the naive kernel on random shapes", function()
    math.randomseed(11)
    lunet.manual_seed(11)
    for _ = 1, 24 do
      local x = lunet.randn(math.random(1, 2), math.random(1, 3), math.random(1, 9), math.random(1, 9))
      local o = { mode = "bilinear", align_corners = math.random() < 0.5 }
      if math.random() < 0.5 then
        o.size = { math.random(1, 17), math.random(1, 17) }
      else
        o.scale_factor = ({ 2, 0.5, 1.7, 3, 1.25 })[math.random(1, 5)]
        if o.scale_factor * math.min(x:size(3), x:size(4)) < 1 then o.scale_factor = 2 end
      end
      local a, b = flat(core.nn.interpolate(x, o)), flat(core.nn.interpolate_naive(x, o))
      assert.are.equal(#b, #a)
      for i = 1, #a do assert.is_true(math.abs(a[i] - b[i]) <= 1e-6) end
    end
  end)
end)

describe("resample kernels on the plane-parallel path", function()
  it("give the same results on 1 and 2 threads, and bilinear equals naive", function()
    lunet.manual_seed(13)
    local x = lunet.randn(2, 8, 32, 32)
    local gy = lunet.randn(2, 8, 64, 64)
    local bil = { scale_factor = 2, mode = "bilinear" }
    local results = {}
    for t = 1, 2 do
      lunet.set_num_threads(t)
      local y = core.nn.interpolate(x, bil)
      assert.are.same(flat(core.nn.interpolate_naive(x, bil)), flat(y))
      results[t] = {
        flat(y), flat(core.nn.interpolate_backward(gy, x, bil)),
        flat(core.nn.interpolate_backward(gy, x, { size = 64 })),
        flat(core.nn.pad(x, { 3, 2, 1, 4 }, { mode = "reflect" })),
        flat(core.nn.pad_backward(x, x:narrow(3, 2, 30):narrow(4, 3, 28), { 1, 3, 1, 1 }, { mode = "replicate" })),
      }
    end
    lunet.set_num_threads(2)
    for k = 1, #results[1] do assert.are.same(results[1][k], results[2][k]) end
  end)
end)

describe("resample gradcheck", function()
  lunet.manual_seed(5)
  local cases = {
    { "nearest scale 1.5", function(x) return F.interpolate(x, { scale_factor = 1.5 }) end, { 1, 2, 3, 4 } },
    { "nearest downsample", function(x) return F.interpolate(x, { size = { 2, 3 } }) end, { 1, 2, 5, 7 } },
    { "bilinear x2", function(x) return F.interpolate(x, { scale_factor = 2, mode = "bilinear" }) end, { 1, 2, 3, 4 } },
    { "bilinear align_corners size", function(x)
      return F.interpolate(x, { size = { 5, 3 }, mode = "bilinear", align_corners = true }) end, { 2, 1, 3, 4 } },
    { "pad constant", function(x) return F.pad(x, { 1, 2, -1, 1 }, { value = 2 }) end, { 1, 2, 3, 4 } },
    { "pad reflect", function(x) return F.pad(x, { 2, 1, 1, 2 }, { mode = "reflect" }) end, { 1, 2, 3, 4 } },
    { "pad replicate", function(x) return F.pad(x, { 3, 1, 0, 2 }, { mode = "replicate" }) end, { 1, 2, 3, 4 } },
    { "pad circular", function(x) return F.pad(x, { 4, 1, 3, 2 }, { mode = "circular" }) end, { 1, 2, 3, 4 } },
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      assert(lunet.gradcheck(c[2], { leaf(lunet.randn(c[3])) }))
    end)
  end
end)

describe("resample errors", function()
  local x = lunet.zeros(1, 1, 3, 3)
  local cases = {
    { function() F.interpolate(x, { size = 4, scale_factor = 2 }) end,
      "interpolate: give exactly one of size and scale_factor" },
    { function() F.interpolate(x, { mode = "bilinear" }) end,
      "interpolate: give exactly one of size and scale_factor" },
    { function() F.interpolate(x, { size = 4, mode = "bicubic" }) end,
      "interpolate: mode must be \"nearest\" or \"bilinear\", got \"bicubic\"" },
    { function() F.interpolate(x, { size = 4, align_corners = false }) end,
      "interpolate: align_corners can only be set with mode \"bilinear\"" },
    { function() F.interpolate(lunet.zeros(2, 3, 3), { size = 4 }) end,
      "interpolate: x must be 4-D (N, C, H, W), got [2, 3, 3]" },
    { function() F.interpolate(lunet.zeros({ 1, 1, 3, 3 }, { dtype = "uint8" }), { size = 4 }) end,
      "interpolate: x must be float32, got uint8" },
    { function() F.interpolate(x, { size = { 0, 4 } }) end, "interpolate: size must be positive, got 0x4" },
    { function() F.interpolate(x, { scale_factor = -2 }) end,
      "interpolate: scale_factor must be a positive finite number, got -2x-2" },
    { function() F.interpolate(x, { scale_factor = 0.2 }) end,
      "interpolate: scale_factor 0.2x0.2 makes an empty output from input 3x3" },
    { function() F.interpolate(x, { size = "big" }) end,
      "interpolate: size must be an integer or a pair {h, w} of integers, got 'big'" },
    { function() F.pad(x, { 3, 0, 0, 0 }, { mode = "reflect" }) end,
      "pad: reflect padding 3 must be less than the input size 3 (dimension 4 of [1, 1, 3, 3])" },
    { function() F.pad(x, { 0, 0, 0, 4 }, { mode = "reflect" }) end,
      "pad: reflect padding 4 must be less than the input size 3 (dimension 3 of [1, 1, 3, 3])" },
    { function() F.pad(x, { 4, 0, 0, 0 }, { mode = "circular" }) end,
      "pad: circular padding 4 must be at most the input size 3 (dimension 4 of [1, 1, 3, 3])" },
    { function() F.pad(x, { 1, 1 }, { mode = "wrap" }) end,
      "pad: mode must be \"constant\", \"reflect\", \"replicate\" or \"circular\", got \"wrap\"" },
    { function() F.pad(x, { 1, 1, 1 }) end,
      "pad: expected 2 or 4 padding sizes {left, right[, top, bottom]}, got 3" },
    { function() F.pad(x, 1) end, "pad: pads must be a table {left, right[, top, bottom]}, got number" },
    { function() F.pad(x, { 1, 1 }, { mode = "reflect", value = 1 }) end,
      "pad: value can only be set with mode \"constant\"" },
    { function() F.pad(x, { -1, 1 }, { mode = "replicate" }) end,
      "pad: negative padding -1 is only allowed in constant mode" },
    { function() F.pad(x, { -2, -1, 0, 0 }) end,
      "pad: padding {-2, -1, 0, 0} leaves an empty output from input [1, 1, 3, 3]" },
    { function() F.pad(lunet.zeros(5), { 1, 1 }) end,
      "pad: x must have at least 2 dimensions, got [5]" },
    { function() F.pad(lunet.zeros({ 3, 3 }, { dtype = "int32" }), { 1, 1 }) end, "pad: x must be float32, got int32" },
  }
  for i, c in ipairs(cases) do
    it("case " .. i .. ": " .. c[2], function()
      assert.has_error(c[1], c[2])
    end)
  end
end)
