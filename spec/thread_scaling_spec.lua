-- Two-thread splits of the conv kernels changed for the small-image training steps (issue 13
-- points 4-5): the Winograd weight gradient with its two alternating block buffers (one barrier
-- per block at two threads), the Winograd forward pass and input gradient (weight transforms
-- on one thread below 64 x 64 channel pairs; the input gradient overwriting dx instead of
-- adding to a zero-filled one), the bias gradient split over channels from 32K elements and
-- the 1x1 one-output-channel head (memory-bound: threads from 2 MFLOP; dw summed in one run)
-- give the same bits at one and two threads, and match the naive kernels, on shapes with one,
-- two, and an odd number of blocks of tiles.
local lunet = require "lunet"
local core = require "lunet.core"
local nn = core.nn

local function maxrel(a, b)
  assert.are.same(b:shape(), a:shape())
  local scale = b:abs():max():item()
  if scale == 0 then scale = 1 end
  return (a - b):abs():max():item() / scale
end

local function same_bits(a, b, what)
  assert.are.same(a:shape(), b:shape())
  local d = (a - b):abs():max():item()
  assert(d == 0, what .. ": 1 and 2 threads differ by " .. tostring(d))
end

-- fn() under conv algorithm algo and the given thread count, restoring both
local function with(algo, threads, fn)
  local pa, pt = nn.conv_set_algo(algo), lunet.get_num_threads()
  lunet.set_num_threads(threads)
  local ok, r1, r2, r3 = pcall(fn)
  nn.conv_set_algo(pa)
  lunet.set_num_threads(pt)
  if not ok then error(r1, 0) end
  return r1, r2, r3
end

describe("two-thread conv splits", function()
  it("Winograd weight gradient: same bits at 1 and 2 threads, within 1e-4 of naive", function()
    lunet.manual_seed(13)
    -- batch x tiles: from one block to many (a block holds at least 64 tiles; the block
    -- size follows the L2 size and the channels), odd and even block counts
    local cases = {
      { 1, 16, 12, 12, 16 }, { 4, 16, 28, 28, 16 }, { 8, 16, 28, 28, 16 },
      { 5, 32, 28, 28, 16 }, { 9, 24, 21, 19, 40 }, { 16, 64, 14, 14, 32 },
    }
    for _, c in ipairs(cases) do
      local n, cin, h, w, cout = table.unpack(c)
      local x, wt = lunet.randn(n, cin, h, w), lunet.randn(cout, cin, 3, 3)
      local gy = lunet.randn(n, cout, h, w)
      local what = string.format("x %dx%dx%dx%d, %d outputs", n, cin, h, w, cout)
      for _, algo in ipairs({ "winograd", "winograd_f2" }) do
        local _, w1 = with(algo, 1, function()
          return nn.conv2d_backward(gy, x, wt, { padding = 1 }, false, true, false)
        end)
        local _, w2 = with(algo, 2, function()
          return nn.conv2d_backward(gy, x, wt, { padding = 1 }, false, true, false)
        end)
        same_bits(w1, w2, algo .. " " .. what)
        local _, wr = nn.conv2d_backward_naive(gy, x, wt, { padding = 1 }, false, true, false)
        local e = maxrel(w2, wr)
        assert(e <= 1e-4, algo .. " " .. what .. ": weight gradient error " .. e)
      end
    end
  end)

  it("Winograd forward and input gradient: same bits at 1 and 2 threads, within 1e-4", function()
    lunet.manual_seed(15)
    -- channel pairs below and above 4096 (the weight transforms' thread split), odd sizes
    local cases = { { 64, 16, 28, 28, 16 }, { 8, 32, 37, 29, 16 }, { 2, 96, 16, 16, 64 },
      { 3, 64, 11, 13, 80 } }
    for _, c in ipairs(cases) do
      local n, cin, h, w, cout = table.unpack(c)
      local x, wt, b = lunet.randn(n, cin, h, w), lunet.randn(cout, cin, 3, 3), lunet.randn(cout)
      local gy = lunet.randn(n, cout, h, w)
      local what = string.format("x %dx%dx%dx%d, %d outputs", n, cin, h, w, cout)
      local run = function()
        local y = nn.conv2d_forward(x, wt, b, { padding = 1 })
        return y, (nn.conv2d_backward(gy, x, wt, { padding = 1 }, true, false, false))
      end
      local y1, dx1 = with("winograd", 1, run)
      local y2, dx2 = with("winograd", 2, run)
      same_bits(y1, y2, "forward " .. what)
      same_bits(dx1, dx2, "input gradient " .. what)
      local yr = nn.conv2d_forward_naive(x, wt, b, { padding = 1 })
      local dxr = nn.conv2d_backward_naive(gy, x, wt, { padding = 1 }, true, false, false)
      assert(maxrel(y2, yr) <= 1e-4, what .. ": forward error " .. maxrel(y2, yr))
      assert(maxrel(dx2, dxr) <= 1e-4, what .. ": input-gradient error " .. maxrel(dx2, dxr))
    end
  end)

  it("1x1 head to one output channel: same bits at 1 and 2 threads, matches naive", function()
    lunet.manual_seed(16)
    -- 8 x 16 x 96 x 96: 2.4 MFLOP, split over the threads; 2 x 16 x 20 x 20: one thread
    for _, c in ipairs({ { 8, 16, 96, 96 }, { 2, 16, 20, 20 }, { 5, 3, 64, 33 } }) do
      local n, cin, h, w = table.unpack(c)
      local x, wt, b = lunet.randn(n, cin, h, w), lunet.randn(1, cin, 1, 1), lunet.randn(1)
      local gy = lunet.randn(n, 1, h, w)
      local what = string.format("head x %dx%dx%dx%d", n, cin, h, w)
      local run = function()
        local y = nn.conv2d_forward(x, wt, b, {})
        local dx, dw = nn.conv2d_backward(gy, x, wt, {}, true, true, false)
        return y, dx, dw
      end
      local y1, dx1, dw1 = with("auto", 1, run)
      local y2, dx2, dw2 = with("auto", 2, run)
      same_bits(y1, y2, "forward " .. what)
      same_bits(dx1, dx2, "input gradient " .. what)
      same_bits(dw1, dw2, "weight gradient " .. what)
      local yr = nn.conv2d_forward_naive(x, wt, b, {})
      local dxr, dwr = nn.conv2d_backward_naive(gy, x, wt, {}, true, true, false)
      assert(maxrel(y2, yr) < 1e-5, what .. ": forward differs by " .. maxrel(y2, yr))
      assert(maxrel(dx2, dxr) < 1e-5, what .. ": input gradient differs by " .. maxrel(dx2, dxr))
      assert(maxrel(dw2, dwr) < 1e-5, what .. ": weight gradient differs by " .. maxrel(dw2, dwr))
    end
  end)

  it("bias gradient: same bits at 1 and 2 threads, matches naive (1 to 70 channels)", function()
    lunet.manual_seed(14)
    -- element counts below and above 32K, fewer channels than threads, odd counts
    local cases = { { 2, 1, 9, 9 }, { 64, 1, 28, 28 }, { 8, 3, 64, 64 }, { 64, 11, 28, 28 },
      { 3, 70, 13, 11 }, { 64, 16, 14, 14 } }
    for _, c in ipairs(cases) do
      local n, cout, h, w = table.unpack(c)
      local x, wt = lunet.randn(n, 2, h, w), lunet.randn(cout, 2, 1, 1)
      local gy = lunet.randn(n, cout, h, w)
      local what = string.format("grad_output %dx%dx%dx%d", n, cout, h, w)
      local run = function()
        local _, _, gb = nn.conv2d_backward(gy, x, wt, {}, false, false, true)
        return gb
      end
      local b1, b2 = with("auto", 1, run), with("auto", 2, run)
      same_bits(b1, b2, what)
      local _, _, br = nn.conv2d_backward_naive(gy, x, wt, {}, false, false, true)
      assert(maxrel(b2, br) < 1e-5, what .. ": bias gradient differs by " .. maxrel(b2, br))
      -- the transposed conv's bias gradient sums the same way over its output channels
      local wtt = lunet.randn(cout, 2, 1, 1)
      local runt = function()
        local _, _, gb = nn.conv_transpose2d_backward(x, gy, wtt, {}, false, false, true)
        return gb
      end
      local t1, t2 = with("auto", 1, runt), with("auto", 2, runt)
      same_bits(t1, t2, "transposed, " .. what)
    end
  end)
end)
