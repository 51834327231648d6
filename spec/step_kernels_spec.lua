-- The kernels of the training step outside the convolutions, fast against naive at every
-- ISA level the CPU has: the 2x2 max pool (vector select form, short rows through buffers),
-- with ties (relu zeros), NaN and -0 in the windows.
local lunet = require "lunet"
local core = require "lunet.core"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()
local flat = H.flat

-- x with many ties (values rounded to a few levels, a third of them relu zeros), some -0
-- and NaN cells.
local function tricky(n, c, h, w, nan)
  local x = lunet.randn(n, c, h, w):mul(2):round():clamp(0, 3)
  local v = x:view(x:numel())
  local k = x:numel()
  for _ = 1, math.max(1, k // 17) do v:set(-0.0, math.random(1, k)) end
  if nan then for _ = 1, math.max(1, k // 29) do v:set(0 / 0, math.random(1, k)) end end
  return x
end

-- NaN-aware list equality (NaN ~= NaN in Lua); -0 and +0 told apart.
-- result k of the runs got[1] (1 thread) and got[2] (2 threads) of an op: within bound of the
-- naive ref[k] (H.maxrel) and the same bits on both thread counts
local function close_and_same(got, ref, k, what, bound)
  what = what .. " result " .. k
  assert(H.maxrel(got[1][k], ref[k]) < bound, what .. ": " .. H.maxrel(got[1][k], ref[k]))
  assert.are.equal(0, (got[1][k] - got[2][k]):abs():max():item(), what .. " (1 vs 2 threads)")
end

local function same(a, b)
  assert.are.equal(#b, #a)
  for i = 1, #a do
    local x, y = a[i], b[i]
    if x ~= x or y ~= y then
      assert(x ~= x and y ~= y, "element " .. i .. ": " .. tostring(x) .. " vs " .. tostring(y))
    else
      assert(x == y and 1 / x == 1 / y, "element " .. i .. ": " .. tostring(x) .. " vs " .. tostring(y))
    end
  end
end

describe("2x2 max pool, fast vs naive", function()
  it("equals the naive kernel (values and indices) on short, long and odd rows at every ISA", function()
    math.randomseed(11)
    lunet.manual_seed(11)
    local widths = { 2, 3, 5, 14, 15, 28, 31, 32, 33, 50, 64, 70 }
    H.each_isa(function()
      for _, w in ipairs(widths) do
        for _, nan in ipairs { false, true } do
          local x = tricky(2, 3, math.random(2, 9), w, nan)
          for _, ceil in ipairs { false, true } do
            local o = { kernel = 2, ceil_mode = ceil }
            local y1, i1 = core.nn.max_pool2d(x, o, true)
            local y2, i2 = core.nn.max_pool2d_naive(x, o, true)
            same(flat(y1), flat(y2))
            assert.are.same(flat(i2), flat(i1))
            same(flat(core.nn.max_pool2d(x, o)), flat(y2))
          end
        end
      end
    end)
  end)

  it("picks the first maximal tap of a window in row-major order (PyTorch's rule)", function()
    local x = lunet.tensor({ { { { 1, 1, 0, 2 }, { 1, 1, 2, 2 } } } })
    local y, i = core.nn.max_pool2d(x, { kernel = 2 }, true)
    assert.are.same({ 1, 2 }, flat(y:view(2)))
    assert.are.same({ 1, 4 }, flat(i:view(2)))
  end)
end)

describe("convolution bias gradient (lt_channel_sums_add), fast vs naive", function()
  it("matches the naive double sum for planes below, at and above the block sizes at every ISA", function()
    lunet.manual_seed(5)
    local nn = core.nn
    H.each_isa(function()
      for _, hw in ipairs { { 1, 1 }, { 3, 5 }, { 4, 4 }, { 7, 7 }, { 8, 8 }, { 9, 9 }, { 14, 14 }, { 28, 28 }, { 33, 40 } } do
        for _, threads in ipairs { 1, 2 } do
          H.with_threads(threads, function()
            local n, cin, cout = 3, 2, 5
            local x = lunet.randn(n, cin, hw[1], hw[2])
            local w = lunet.randn(cout, cin, 1, 1)
            -- an offset larger than the spread: the float lanes must not lose the small part
            local gy = lunet.randn(n, cout, hw[1], hw[2]):add(100)
            local _, _, gb = nn.conv2d_backward(gy, x, w, {}, false, false, true)
            local _, _, rb = nn.conv2d_backward_naive(gy, x, w, {}, false, false, true)
            assert(H.maxrel(gb, rb) < 1e-6, "bias gradient " .. hw[1] .. "x" .. hw[2] .. ": " .. H.maxrel(gb, rb))
            -- the transposed convolution's bias gradient goes through the same kernel
            local wt = lunet.randn(cout, cin, 2, 2)
            local gyt = lunet.randn(n, cin, 2 * hw[1], 2 * hw[2])
            local _, _, tb = nn.conv_transpose2d_backward(gyt, gy, wt, { stride = 2 }, false, false, true)
            local _, _, tr = nn.conv_transpose2d_backward_naive(gyt, gy, wt, { stride = 2 }, false, false, true)
            assert(H.maxrel(tb, tr) < 1e-6, "transposed bias gradient: " .. H.maxrel(tb, tr))
          end)
        end
      end
    end)
  end)
end)

describe("threaded copies (lt_copy from 2^18 elements)", function()
  it("cat, its narrowed gradient slices and copy_ give the same bits on 1 and 2 threads", function()
    lunet.manual_seed(3)
    local a, b = lunet.randn(8, 16, 45, 47), lunet.randn(8, 24, 45, 47)
    local res = {}
    for t = 1, 2 do
      H.with_threads(t, function()
        local c = lunet.cat({ a, b }, 2)
        local ga = c:narrow(2, 1, 16):contiguous()
        local gb = c:narrow(2, 17, 24):contiguous()
        local d = lunet.zeros(8, 40, 45, 47)
        d:copy_(c)
        res[t] = { c, ga, gb, d }
      end)
    end
    for t = 1, 2 do
      assert.are.equal(0, (res[t][2] - a):abs():max():item())
      assert.are.equal(0, (res[t][3] - b):abs():max():item())
      assert.are.equal(0, (res[t][4] - res[t][1]):abs():max():item())
    end
    for k = 1, 4 do assert.are.equal(0, (res[1][k] - res[2][k]):abs():max():item()) end
  end)

  it("a copy within one storage keeps memmove's overlap rule", function()
    H.with_threads(2, function()
      local n = 1 << 19
      local t = lunet.arange(0, 2 * n):to("float32")
      local expect = t:narrow(1, 1, n):clone()
      t:narrow(1, 2, n):copy_(t:narrow(1, 1, n))   -- overlapping, shifted by one
      assert.are.equal(0, (t:narrow(1, 2, n) - expect):abs():max():item())
    end)
  end)
end)

describe("training batch norm forward (statistics, running update, normalisation)", function()
  local nn = core.nn
  local function run(fwd, x, c, affine, running)
    -- the same running statistics and affine parameters for every call (seeded)
    local rm, rv, w, b
    if running then lunet.manual_seed(99); rm, rv = lunet.randn(c):mul(0.1), lunet.rand(c):add(0.5) end
    if affine then lunet.manual_seed(98); w, b = lunet.randn(c), lunet.randn(c) end
    local y, m, is = fwd(x, rm, rv, w, b, { training = true, momentum = 0.3, eps = 1e-4 })
    return { y, m, is, rm, rv }
  end
  it("matches the naive kernels (values, statistics, running statistics) at every ISA and thread count", function()
    lunet.manual_seed(21)
    -- planes from 3 to 1024 elements, channels 1 to 17
    local shapes = { { 2, 3, 1, 3 }, { 4, 16, 7, 7 }, { 3, 5, 16, 33 }, { 2, 17, 32, 32 }, { 2, 1, 40, 30 }, { 64, 8, 28, 28 } }
    H.each_isa(function(level)
      for _, sh in ipairs(shapes) do
        local x = lunet.randn(table.unpack(sh)):mul(3):add(5)
        for _, relu in ipairs { false, true } do
          for _, affine in ipairs { false, true } do
            local name = relu and "batch_norm_relu_forward" or "batch_norm_forward"
            local ref = run(nn[name .. "_naive"], x, sh[2], affine, true)
            local got = {}
            for t = 1, 2 do
              got[t] = H.with_threads(t, function() return run(nn[name], x, sh[2], affine, true) end)
            end
            for k = 1, 5 do
              close_and_same(got, ref, k, level .. " " .. table.concat(sh, "x") .. " " .. name, 2e-5)
            end
          end
        end
      end
    end)
  end)

  it("relu(batch_norm) and the fused batch_norm_relu give the same bits without running statistics", function()
    lunet.manual_seed(4)
    for _, sh in ipairs { { 8, 6, 24, 24 }, { 8, 6, 9, 9 } } do
      local x = lunet.randn(table.unpack(sh))
      local y = nn.batch_norm_forward(x, nil, nil, nil, nil, { training = true })
      local r = nn.batch_norm_relu_forward(x, nil, nil, nil, nil, { training = true })
      assert.are.equal(0, (y:relu() - r):abs():max():item())
    end
  end)
end)

describe("batch norm backward, memory order (planes under 8192 elements) and channel order", function()
  local nn = core.nn
  it("matches the naive kernels, plain and through a relu, at every ISA; 1 and 2 threads give the same bits", function()
    lunet.manual_seed(31)
    -- both sides of the 8192-element plane boundary, 1 to 9 channels, batch 1 to 5
    local shapes = { { 5, 3, 1, 1 }, { 4, 9, 7, 7 }, { 3, 4, 14, 14 }, { 2, 2, 90, 91 }, { 1, 3, 96, 96 }, { 2, 1, 8192 } }
    H.each_isa(function(level)
      for _, sh in ipairs(shapes) do
        local c = sh[2]
        local x = lunet.randn(table.unpack(sh)):mul(2):add(1)
        local g = lunet.randn(table.unpack(sh))
        local w, b = lunet.rand(c):add(0.5), lunet.randn(c)
        for _, training in ipairs { true, false } do
          local opts = { training = training }
          local rm, rv = lunet.randn(c), lunet.rand(c):add(0.5)
          local y, m, is = nn.batch_norm_forward(x, rm, rv, w, b, opts)
          local r = y:relu()
          local cases = {
            { "batch_norm_backward", { g, x, m, is, w, b, training } },
            { "batch_norm_relu_backward", { g, r, x, m, is, w, b, training } },
            { "batch_norm_backward", { g, x, m, is, nil, nil, training } },
          }
          for _, case in ipairs(cases) do
            local name, args = case[1], case[2]
            local ref = { nn[name .. "_naive"](table.unpack(args, 1, 8)) }
            local got = {}
            for t = 1, 2 do
              got[t] = { H.with_threads(t, function() return nn[name](table.unpack(args, 1, 8)) end) }
            end
            for k = 1, 3 do
              if ref[k] ~= nil then
                close_and_same(got, ref, k, level .. " " .. table.concat(sh, "x") .. " " .. name, 1e-4)
              else
                assert.is_nil(got[1][k])
              end
            end
          end
        end
      end
    end)
  end)

  it("passes gradcheck through fused batch norm + relu and batch norm (memory-order path)", function()
    local fused = require "lunet.nn.functional.fused"
    local F = require("lunet.nn").functional
    lunet.manual_seed(8)
    local x = H.rg(lunet.randn(3, 2, 3, 4):mul(2):add(0.5))
    local w, b = H.rg(lunet.rand(2):add(0.5)), H.rg(lunet.randn(2))
    assert(lunet.gradcheck(function(xi, wi, bi)
      return fused.bn_relu2d(xi, nil, nil, wi, bi, { training = true })
    end, { x, w, b }))
    assert(lunet.gradcheck(function(xi, wi, bi)
      return F.batch_norm(xi, nil, nil, wi, bi, { training = true })
    end, { x, w, b }))
  end)
end)
