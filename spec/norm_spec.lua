-- norm_spec.lua: F.batch_norm, F.group_norm, F.dropout, F.dropout2d against PyTorch 1.13
-- (spec/ref/norm.lua, made by spec/ref/gen_norm.py), finite differences, the naive kernels
-- and the exact error messages.
local lunet = require "lunet"
local F = require "lunet.nn.functional"
local core = require "lunet.core"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local flat, rg, with_threads, error_cases = H.flat, H.rg, H.with_threads, H.error_cases

local ref = dofile("spec/ref/norm.lua")
local nn = core.nn

local RTOL, ATOL = 1e-4, 1e-5

local function T(flat, shape)
  return lunet.tensor(flat, { shape = shape })
end

local function leaf(flat, shape)
  if flat == nil then return nil end
  local t = T(flat, shape)
  t:requires_grad(true)
  return t
end

-- got (tensor) against want (flat table, or tensor) elementwise: |g - w| <= atol + rtol |w|
local function check_close(name, got, want, rtol, atol)
  rtol, atol = rtol or RTOL, atol or ATOL
  assert(got ~= nil, name .. ": got nil")
  local g = flat(got)
  local w = type(want) == "table" and want or flat(want)
  assert(#g == #w, string.format("%s: %d elements, expected %d", name, #g, #w))
  local worst, wi = 0, nil
  for i = 1, #w do
    local over = math.abs(g[i] - w[i]) - (atol + rtol * math.abs(w[i]))
    if g[i] ~= g[i] then over = math.huge end
    if over > worst then worst, wi = over, i end
  end
  if wi then
    error(string.format("%s: element %d is %.9g, expected %.9g", name, wi, g[wi], w[wi]), 2)
  end
end

local function same_shape(t, shape)
  assert.are.same(shape, t:shape())
end

-- a random size in [lo, hi] from a generator
local function rnd(g, lo, hi)
  return lo + math.floor(g:rand(1):item() * (hi - lo + 1) - 1e-9)
end

describe("F.batch_norm", function()
  for _, c in ipairs(ref.batch_norm) do
    it("matches PyTorch 1.13 in value, running stats and gradients: " .. c.name, function()
      local x = leaf(c.x, c.x_shape)
      local w, b = leaf(c.w, c.w_shape), leaf(c.b, c.b_shape)
      local rm = c.rm and T(c.rm, c.rm_shape) or nil
      local rv = c.rv and T(c.rv, c.rv_shape) or nil
      local y = F.batch_norm(x, rm, rv, w, b,
        { training = c.training, momentum = c.momentum, eps = c.eps })
      same_shape(y, c.y_shape)
      check_close("y", y, c.y)
      if rm then
        check_close("running_mean", rm, c.rm_after)
        check_close("running_var", rv, c.rv_after)
      end
      y:backward(T(c.g, c.g_shape))
      check_close("x.grad", x.grad, c.gx)
      if w then
        check_close("weight.grad", w.grad, c.gw)
        check_close("bias.grad", b.grad, c.gb)
      end
    end)
  end

  it("leaves the running stats alone in eval mode and when not given", function()
    local x = lunet.randn(3, 2, 4, 4)
    local rm, rv = lunet.tensor({ 0.5, -1 }), lunet.tensor({ 2, 0.25 })
    F.batch_norm(x, rm, rv, nil, nil, { training = false })
    assert.are.same({ 0.5, -1 }, rm:totable())
    assert.are.same({ 2, 0.25 }, rv:totable())
    local y = F.batch_norm(x, nil, nil, nil, nil, { training = true })
    -- batch statistics: every channel of y has mean 0 and (biased) variance 1
    local m = y:permute(2, 1, 3, 4):reshape(2, 48)
    check_close("mean", m:mean(2), { 0, 0 }, 0, 1e-5)
    check_close("var", (m * m):mean(2), { 1, 1 }, 0, 1e-3)
  end)

  it("gives the same result for a non-contiguous input", function()
    local x = lunet.randn(4, 3, 5, 2):permute(1, 2, 4, 3)
    local w, b = lunet.rand(3), lunet.randn(3)
    local a = F.batch_norm(x, nil, nil, w, b, { training = true })
    local c = F.batch_norm(x:contiguous(), nil, nil, w, b, { training = true })
    check_close("y", a, c, 0, 1e-6)
  end)

  it("passes gradcheck in training and eval mode, with and without affine", function()
    local x = rg(lunet.randn(3, 2, 3, 2) * 2 + 1)
    local w, b = rg(lunet.rand(2) + 0.5), rg(lunet.randn(2))
    local rm, rv = lunet.randn(2), lunet.rand(2) + 0.5
    for _, training in ipairs({ true, false }) do
      local stats_m = (not training) and rm or nil
      local stats_v = (not training) and rv or nil
      assert(lunet.gradcheck(function(xi, wi, bi)
        return F.batch_norm(xi, stats_m, stats_v, wi, bi, { training = training })
      end, { x, w, b }))
      assert(lunet.gradcheck(function(xi)
        return F.batch_norm(xi, stats_m, stats_v, nil, nil, { training = training })
      end, { x }))
    end
    assert(lunet.gradcheck(function(xi, wi, bi)
      return F.batch_norm(xi, nil, nil, wi, bi, { training = true })
    end, { rg(lunet.randn(5, 3)), rg(lunet.rand(3) + 0.5), rg(lunet.randn(3)) }))
  end)

  it("fast kernels agree with the naive ones on random shapes", function()
    local g = lunet.Generator(11)
    local shapes = { { 2, 4, 64, 80 } }   -- one above the OpenMP threshold
    for _ = 1, 8 do
      shapes[#shapes + 1] = { rnd(g, 1, 4), rnd(g, 1, 6), rnd(g, 1, 9), rnd(g, 1, 9) }
    end
    shapes[#shapes + 1] = { rnd(g, 2, 9), rnd(g, 1, 6) }
    for _, s in ipairs(shapes) do
      local C = s[2]
      local x = g:randn(s) * 3 + 2
      local gy = g:randn(s)
      local w, b = g:rand(C) + 0.5, g:randn(C)
      for _, training in ipairs({ true, false }) do
        if not training or x:numel() / C > 1 then
          local rm1, rv1 = g:randn(C), g:rand(C) + 0.5
          local rm2, rv2 = rm1:clone(), rv1:clone()
          local opts = { training = training, momentum = 0.2 }
          local y1, m1, i1 = nn.batch_norm_forward(x, rm1, rv1, w, b, opts)
          local y2, m2, i2 = nn.batch_norm_forward_naive(x, rm2, rv2, w, b, opts)
          check_close("y", y1, y2)
          check_close("mean", m1, m2)
          check_close("invstd", i1, i2)
          check_close("running_mean", rm1, rm2)
          check_close("running_var", rv1, rv2)
          local gx1, gw1, gb1 = nn.batch_norm_backward(gy, x, m2, i2, w, b, training)
          local gx2, gw2, gb2 = nn.batch_norm_backward_naive(gy, x, m2, i2, w, b, training)
          check_close("gx", gx1, gx2, 1e-4, 1e-5)
          check_close("gw", gw1, gw2, 1e-4, 1e-4)
          check_close("gb", gb1, gb2, 1e-4, 1e-4)
        end
      end
    end
  end)

  it("gives bit-identical results with 1 and 2 threads", function()
    local g = lunet.Generator(31)
    local x, gy = g:randn(2, 4, 64, 80), g:randn(2, 4, 64, 80)
    local w, b = g:rand(4), g:randn(4)
    local function run()
      local y, m, i = nn.batch_norm_forward(x, nil, nil, w, b, { training = true })
      local gx, gw = nn.batch_norm_backward(gy, x, m, i, w, b, true)
      local z, zm, zi = nn.group_norm_forward(x, 2, w, b)
      local hx, hw = nn.group_norm_backward(gy, x, zm, zi, 2, w, b)
      return { y, gx, gw, z, hx, hw }
    end
    local one, two = with_threads(1, run), with_threads(2, run)
    for k = 1, #one do assert.are.same(flat(one[k]), flat(two[k])) end
  end)

  local x = lunet.randn(2, 3, 4, 4)
  local c3 = lunet.zeros(3)
  error_cases({
    { "an int32 input", function() F.batch_norm(lunet.zeros({ 2, 3 }, { dtype = "int32" }), c3, c3) end,
      "batch_norm: x must be float32, got int32" },
    { "a 1-D input", function() F.batch_norm(lunet.zeros(5), c3, c3) end,
      "batch_norm: x must have at least 2 dims (N, C, ...), got [5]" },
    { "running_mean of the wrong size", function() F.batch_norm(x, lunet.zeros(4), c3) end,
      "batch_norm: running_mean has shape [4], expected [3] (x [2, 3, 4, 4])" },
    { "running_var of the wrong size", function() F.batch_norm(x, c3, lunet.zeros(2)) end,
      "batch_norm: running_var has shape [2], expected [3] (x [2, 3, 4, 4])" },
    { "an int32 running_var", function() F.batch_norm(x, c3, lunet.zeros({ 3 }, { dtype = "int32" })) end,
      "batch_norm: running_var must be float32, got int32" },
    { "a weight of the wrong size", function() F.batch_norm(x, c3, c3, lunet.ones(2)) end,
      "batch_norm: weight has shape [2], expected [3] (x [2, 3, 4, 4])" },
    { "a 2-D bias", function() F.batch_norm(x, c3, c3, nil, lunet.ones(1, 3)) end,
      "batch_norm: bias has shape [1, 3], expected [3] (x [2, 3, 4, 4])" },
    { "eval mode without running stats", function() F.batch_norm(x, nil, nil, nil, nil, { training = false }) end,
      "batch_norm: running_mean and running_var are required when training is false" },
    { "training on one value per channel", function()
      F.batch_norm(lunet.zeros(1, 3), nil, nil, nil, nil, { training = true }) end,
      "batch_norm: expected more than 1 value per channel when training, got x [1, 3]" },
    { "non-contiguous running stats in training", function()
      F.batch_norm(x, lunet.zeros(3, 2):select(2, 1), c3, nil, nil, { training = true }) end,
      "batch_norm: running_mean must be contiguous (it is updated in place)" },
  })
end)

describe("F.group_norm", function()
  for _, c in ipairs(ref.group_norm) do
    it("matches PyTorch 1.13 in value and gradients: " .. c.name, function()
      local x = leaf(c.x, c.x_shape)
      local w, b = leaf(c.w, c.w_shape), leaf(c.b, c.b_shape)
      local y = F.group_norm(x, c.groups, w, b, { eps = c.eps })
      same_shape(y, c.y_shape)
      check_close("y", y, c.y)
      y:backward(T(c.g, c.g_shape))
      check_close("x.grad", x.grad, c.gx)
      if w then
        check_close("weight.grad", w.grad, c.gw)
        check_close("bias.grad", b.grad, c.gb)
      end
    end)
  end

  it("passes gradcheck for several group counts, with and without affine", function()
    local x = rg(lunet.randn(2, 4, 3, 2) * 2 + 1)
    local w, b = rg(lunet.rand(4) + 0.5), rg(lunet.randn(4))
    for _, groups in ipairs({ 1, 2, 4 }) do
      assert(lunet.gradcheck(function(xi, wi, bi)
        return F.group_norm(xi, groups, wi, bi)
      end, { x, w, b }))
    end
    assert(lunet.gradcheck(function(xi) return F.group_norm(xi, 2) end, { x }))
  end)

  it("fast kernels agree with the naive ones on random shapes", function()
    local g = lunet.Generator(12)
    local cases = { { { 2, 8, 48, 48 }, 4 } }   -- above the OpenMP threshold
    for _ = 1, 8 do
      local groups = rnd(g, 1, 4)
      cases[#cases + 1] = { { rnd(g, 1, 4), groups * rnd(g, 1, 3), rnd(g, 1, 9), rnd(g, 1, 9) }, groups }
    end
    cases[#cases + 1] = { { 3, 6 }, 3 }
    for _, cs in ipairs(cases) do
      local s, groups = cs[1], cs[2]
      local C = s[2]
      local x = g:randn(s) * 3 - 1
      local gy = g:randn(s)
      local w, b = g:rand(C) + 0.5, g:randn(C)
      local y1, m1, i1 = nn.group_norm_forward(x, groups, w, b)
      local y2, m2, i2 = nn.group_norm_forward_naive(x, groups, w, b)
      check_close("y", y1, y2)
      check_close("mean", m1, m2)
      check_close("invstd", i1, i2)
      local gx1, gw1, gb1 = nn.group_norm_backward(gy, x, m2, i2, groups, w, b)
      local gx2, gw2, gb2 = nn.group_norm_backward_naive(gy, x, m2, i2, groups, w, b)
      check_close("gx", gx1, gx2)
      check_close("gw", gw1, gw2, 1e-4, 1e-4)
      check_close("gb", gb1, gb2, 1e-4, 1e-4)
    end
  end)

  local x = lunet.randn(2, 6, 3, 3)
  error_cases({
    { "groups not dividing the channels", function() F.group_norm(x, 4) end,
      "group_norm: groups (4) must divide the 6 channels of x [2, 6, 3, 3]" },
    { "zero groups", function() F.group_norm(x, 0) end, "group_norm: groups must be >= 1, got 0" },
    { "fractional groups", function() F.group_norm(x, 1.5) end,
      "group_norm: groups must be an integer, got 1.5" },
    { "missing groups", function() F.group_norm(x) end, "group_norm: groups must be an integer, got nil" },
    { "a weight of the wrong size", function() F.group_norm(x, 3, lunet.ones(3)) end,
      "group_norm: weight has shape [3], expected [6] (x [2, 6, 3, 3])" },
    { "a bias of the wrong size", function() F.group_norm(x, 3, lunet.ones(6), lunet.ones(7)) end,
      "group_norm: bias has shape [7], expected [6] (x [2, 6, 3, 3])" },
    { "a uint8 input", function() F.group_norm(lunet.zeros({ 2, 6 }, { dtype = "uint8" }), 2) end,
      "group_norm: x must be float32, got uint8" },
    { "a 1-D input", function() F.group_norm(lunet.zeros(6), 2) end,
      "group_norm: x must have at least 2 dims (N, C, ...), got [6]" },
  })
end)

describe("F.dropout", function()
  it("drops about p of the elements and scales the rest by 1 / (1 - p)", function()
    local x = lunet.ones(64, 64)
    local y = F.dropout(x, { p = 0.25, generator = lunet.Generator(3) })
    local kept, other = 0, 0
    for _, v in ipairs(flat(y)) do
      if math.abs(v - 1 / 0.75) < 1e-6 then kept = kept + 1 elseif v ~= 0 then other = other + 1 end
    end
    assert.are.equal(0, other)
    local frac = 1 - kept / 4096
    assert(math.abs(frac - 0.25) < 0.03, "dropped fraction " .. frac)
  end)

  it("is reproducible from a seeded generator and from lunet.manual_seed", function()
    local x = lunet.randn(4, 50)
    local a = F.dropout(x, { p = 0.5, generator = lunet.Generator(42) })
    local b = F.dropout(x, { p = 0.5, generator = lunet.Generator(42) })
    assert.are.same(flat(a), flat(b))
    lunet.manual_seed(5)
    local c = F.dropout(x)
    lunet.manual_seed(5)
    local d = F.dropout(x)
    assert.are.same(flat(c), flat(d))
  end)

  it("is the identity when not training or p = 0, and zero when p = 1", function()
    local x = lunet.randn(3, 4)
    assert.are.equal(x, F.dropout(x, { training = false }))
    assert.are.equal(x, F.dropout(x, { p = 0 }))
    local x3 = x:view(3, 4, 1)
    assert.are.equal(x3, F.dropout2d(x3, { p = 0.5, training = false }))
    assert.are.same(flat(lunet.zeros(3, 4)), flat(F.dropout(x, { p = 1 })))
  end)

  it("passes the gradient through the same mask", function()
    local x = lunet.rand(5, 6) + 1
    x:requires_grad(true)
    local y = F.dropout(x, { p = 0.4, generator = lunet.Generator(9) })
    y:sum():backward()
    check_close("grad", x.grad, y / x, 0, 1e-6)
    assert(lunet.gradcheck(function(xi)
      return F.dropout(xi, { p = 0.3, generator = lunet.Generator(7) })
    end, { rg(lunet.randn(4, 5)) }))
  end)

  it("dropout2d zeroes whole channels", function()
    local x = lunet.rand(4, 16, 3, 5) + 1
    x:requires_grad(true)
    local y = F.dropout2d(x, { p = 0.5, generator = lunet.Generator(1) })
    local r = (y / x):reshape(64, 15):totable()
    local zeros = 0
    for i = 1, 64 do
      local v = r[i][1]
      assert(v == 0 or math.abs(v - 2) < 1e-6, "plane value " .. v)
      if v == 0 then zeros = zeros + 1 end
      for j = 2, 15 do assert(math.abs(r[i][j] - v) < 1e-6, "plane not uniform") end
    end
    assert(zeros > 10 and zeros < 54, "zeroed planes " .. zeros)
    y:sum():backward()
    check_close("grad", x.grad, y / x, 0, 1e-6)
    assert(lunet.gradcheck(function(xi)
      return F.dropout2d(xi, { p = 0.5, generator = lunet.Generator(2) })
    end, { rg(lunet.randn(2, 4, 5)) }))
  end)

  local x = lunet.randn(2, 3)
  error_cases({
    { "p above 1", function() F.dropout(x, { p = 1.5 }) end, "dropout: p must be in [0, 1], got 1.5" },
    { "negative p", function() F.dropout(x, { p = -0.1 }) end, "dropout: p must be in [0, 1], got -0.1" },
    { "bad p even when not training", function() F.dropout(x, { p = 2, training = false }) end,
      "dropout: p must be in [0, 1], got 2" },
    { "dropout2d p above 1", function() F.dropout2d(lunet.randn(1, 2, 2, 2), { p = 1.01 }) end,
      "dropout2d: p must be in [0, 1], got 1.01" },
    { "a 2-D input to dropout2d", function() F.dropout2d(x) end,
      "dropout2d: x must be 3-D (N, C, L) or 4-D (N, C, H, W), got [2, 3]" },
    { "an int32 input", function() F.dropout(lunet.zeros({ 4 }, { dtype = "int32" })) end,
      "dropout: x must be float32, got int32" },
  })
end)
