-- activation_spec.lua: F.relu, F.leaky_relu, F.sigmoid, F.tanh, F.softmax, F.log_softmax
-- and F.labels against PyTorch 1.13 (spec/ref/norm.lua, made by spec/ref/gen_norm.py),
-- finite differences, the naive kernels and the exact error messages.
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

local function rnd(g, lo, hi)
  return lo + math.floor(g:rand(1):item() * (hi - lo + 1) - 1e-9)
end

-- n deterministic values in (-2, 2), at least 0.05 away from 0 (the kink of relu and
-- leaky_relu), for finite differences
local function away_from_zero(shape)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  local v = {}
  for i = 1, n do
    local u = (i * 0.7548776662) % 1 * 4 - 2
    if math.abs(u) < 0.05 then u = u + (u < 0 and -0.1 or 0.1) end
    v[i] = u
  end
  return lunet.tensor(v, { shape = shape })
end

local pointwise = {
  relu = function(x) return F.relu(x) end,
  sigmoid = function(x) return F.sigmoid(x) end,
  tanh = function(x) return F.tanh(x) end,
}

describe("pointwise activations", function()
  for _, c in ipairs(ref.activation) do
    it("match PyTorch 1.13 in value and gradient: " .. c.name, function()
      local x = T(c.x, c.x_shape)
      x:requires_grad(true)
      local y
      if c.fn == "leaky_relu" then
        y = c.slope == 0.01 and F.leaky_relu(x) or F.leaky_relu(x, c.slope)
      else
        y = pointwise[c.fn](x)
      end
      assert.are.same(c.y_shape, y:shape())
      check_close("y", y, c.y)
      y:backward(T(c.g, c.g_shape))
      check_close("x.grad", x.grad, c.gx)
    end)
  end

  it("pass gradcheck", function()
    local x = rg(away_from_zero({ 3, 4, 2 }))
    for name, f in pairs(pointwise) do
      assert(lunet.gradcheck(f, { x }), name)
    end
    for _, slope in ipairs({ 0.01, 0.2, -0.5 }) do
      assert(lunet.gradcheck(function(xi) return F.leaky_relu(xi, slope) end, { x }))
    end
  end)

  it("saturate without NaN and keep NaN as NaN", function()
    local x = lunet.tensor({ -1000, -88, 0, 88, 1000 })
    check_close("sigmoid", F.sigmoid(x), { 0, 0, 0.5, 1, 1 }, 0, 1e-30)
    check_close("tanh", F.tanh(x), { -1, -1, 0, 1, 1 }, 0, 0)
    local y = F.relu(lunet.tensor({ 0 / 0, -1, 2 }))
    local v = flat(y)
    assert(v[1] ~= v[1] and v[2] == 0 and v[3] == 2)
  end)

  it("work on non-contiguous inputs", function()
    local x = lunet.randn(3, 5):transpose(1, 2)
    check_close("relu", F.relu(x), F.relu(x:contiguous()), 0, 0)
    check_close("leaky", F.leaky_relu(x, 0.1), F.leaky_relu(x:contiguous(), 0.1), 0, 0)
  end)

  error_cases({
    { "an int32 input to relu", function() F.relu(lunet.zeros({ 3 }, { dtype = "int32" })) end,
      "relu: x must be float32, got int32" },
    { "a uint8 input to sigmoid", function() F.sigmoid(lunet.zeros({ 3 }, { dtype = "uint8" })) end,
      "sigmoid: x must be float32, got uint8" },
    { "an int32 input to tanh", function() F.tanh(lunet.zeros({ 3 }, { dtype = "int32" })) end,
      "tanh: x must be float32, got int32" },
    { "an int32 input to leaky_relu", function() F.leaky_relu(lunet.zeros({ 3 }, { dtype = "int32" })) end,
      "leaky_relu: x must be float32, got int32" },
    { "a string slope", function() F.leaky_relu(lunet.zeros(3), "0.1") end,
      "leaky_relu: negative_slope must be a number, got string" },
  })
end)

describe("F.softmax and F.log_softmax", function()
  for _, c in ipairs(ref.softmax) do
    it("match PyTorch 1.13 in value and gradient: " .. c.name, function()
      local x = T(c.x, c.x_shape)
      x:requires_grad(true)
      local y = F[c.fn](x, c.dim)
      assert.are.same(c.y_shape, y:shape())
      check_close("y", y, c.y)
      y:backward(T(c.g, c.g_shape))
      check_close("x.grad", x.grad, c.gx)
    end)
  end

  it("pass gradcheck over every dim", function()
    local x = rg(lunet.randn(2, 3, 2, 3))
    for _, d in ipairs({ 1, 2, 3, 4, -1 }) do
      assert(lunet.gradcheck(function(xi) return F.softmax(xi, d) end, { x }), "softmax " .. d)
      assert(lunet.gradcheck(function(xi) return F.log_softmax(xi, d) end, { x }), "log_softmax " .. d)
    end
  end)

  it("accept an integral float dim", function()
    local x = lunet.randn(2, 3, 4)
    check_close("softmax", F.softmax(x, 2.0), F.softmax(x, 2), 0, 0)
  end)

  it("are numerically stable for large logits", function()
    local x = lunet.tensor({ { 1000, 0, -1000 }, { 90, 100, 80 } })
    check_close("softmax", F.softmax(x, 2),
      { 1, 0, 0, 4.53978682e-05, 0.999954581, 2.06105999e-09 }, 1e-5, 1e-12)
    check_close("log_softmax", F.log_softmax(x, 2),
      { 0, -1000, -2000, -10.0000458, -4.54177061e-05, -20.0000458 }, 1e-5, 1e-6)
  end)

  it("fast kernels agree with the naive ones on random shapes and dims", function()
    local g = lunet.Generator(21)
    local cases = { { { 2, 5, 20, 30 }, 2 }, { { 3, 1000 }, 2 }, { { 600, 3 }, 1 } }
    for _ = 1, 10 do
      local s = { rnd(g, 1, 4), rnd(g, 1, 7), rnd(g, 1, 9), rnd(g, 1, 9) }
      cases[#cases + 1] = { s, rnd(g, 1, 4) }
    end
    for _, cs in ipairs(cases) do
      local s, d = cs[1], cs[2]
      local x = g:randn(s) * 4
      local gy = g:randn(s)
      for _, name in ipairs({ "softmax", "log_softmax" }) do
        local y1 = nn[name .. "_forward"](x, d)
        local y2 = nn[name .. "_forward_naive"](x, d)
        check_close(name, y1, y2, 1e-5, 1e-6)
        check_close(name .. " backward", nn[name .. "_backward"](gy, y2, d),
          nn[name .. "_backward_naive"](gy, y2, d), 1e-4, 1e-5)
      end
    end
  end)

  it("give bit-identical results with 1 and 2 threads", function()
    local g = lunet.Generator(32)
    local x, gy = g:randn(2, 6, 70, 90), g:randn(2, 6, 70, 90)
    local function run()
      local r = {}
      for _, name in ipairs({ "softmax", "log_softmax" }) do
        local y = nn[name .. "_forward"](x, 2)
        r[#r + 1] = y
        r[#r + 1] = nn[name .. "_backward"](gy, y, 2)
      end
      r[#r + 1] = nn.sigmoid_forward(x)
      r[#r + 1] = nn.labels(x)
      return r
    end
    local one, two = with_threads(1, run), with_threads(2, run)
    for k = 1, #one do assert.are.same(flat(one[k]), flat(two[k])) end
  end)

  local x = lunet.randn(2, 3, 4, 5)
  error_cases({
    { "dim past the last", function() F.softmax(x, 5) end,
      "softmax: dim 5 out of range for x [2, 3, 4, 5] (expected 1..4 or -4..-1)" },
    { "dim 0", function() F.log_softmax(x, 0) end,
      "log_softmax: dim 0 out of range for x [2, 3, 4, 5] (expected 1..4 or -4..-1)" },
    { "dim before the first", function() F.softmax(x, -5) end,
      "softmax: dim -5 out of range for x [2, 3, 4, 5] (expected 1..4 or -4..-1)" },
    { "a missing dim", function() F.softmax(x) end,
      "softmax: dim is required (1..4 or -4..-1 for x [2, 3, 4, 5])" },
    { "a fractional dim", function() F.log_softmax(x, 1.5) end,
      "log_softmax: dim must be an integer, got 1.5" },
    { "an int32 input", function() F.softmax(lunet.zeros({ 2, 3 }, { dtype = "int32" }), 2) end,
      "softmax: x must be float32, got int32" },
  })
end)

describe("F.labels", function()
  for _, c in ipairs(ref.labels) do
    it("gives PyTorch's argmax over dim 2 as 0-based int32 class ids: " .. c.name, function()
      local lab = F.labels(T(c.x, c.x_shape))
      assert.are.equal("int32", lab:dtype())
      assert.are.same(c.y_shape, lab:shape())
      assert.are.same(c.y, flat(lab))
    end)
  end

  it("picks the first of equal maxima and agrees with the naive kernel", function()
    local lab = F.labels(lunet.tensor({ { 1, 3, 3 }, { 2, 2, 2 } }))
    assert.are.same({ 1, 0 }, lab:totable())
    local g = lunet.Generator(5)
    for _, s in ipairs({ { 2, 6, 17, 19 }, { 3, 4, 5 }, { 7, 3 } }) do
      local x = g:randn(s)
      assert.are.same(flat(nn.labels_naive(x)), flat(nn.labels(x)))
    end
  end)

  error_cases({
    { "a 1-D input", function() F.labels(lunet.zeros(5)) end,
      "labels: logits must have at least 2 dims (N, C, ...), got [5]" },
    { "int32 logits", function() F.labels(lunet.zeros({ 2, 3 }, { dtype = "int32" })) end,
      "labels: logits must be float32, got int32" },
  })
end)
