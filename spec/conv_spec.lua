-- conv2d / conv_transpose2d: PyTorch 1.13 references (spec/ref/gen_conv.py), gradcheck,
-- fast kernels vs the naive references on random configurations, and argument errors.
local lunet = require "lunet"
local F = require "lunet.nn.functional"
local core = require "lunet.core"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local flat = H.flat

local refs = dofile("spec/ref/conv.lua")

local function T(r) return lunet.tensor(r.data, { shape = r.shape }) end

-- |got - want| <= atol + rtol * |want| elementwise, with the worst element in the message
local function assert_close(got, want_shape, want, what, rtol, atol)
  rtol, atol = rtol or 1e-4, atol or 1e-5
  assert.are.same(want_shape, got:shape(), what .. ": shape")
  local g = flat(got)
  local worst, at = 0, 0
  for i = 1, #want do
    local e = math.abs(g[i] - want[i]) - (atol + rtol * math.abs(want[i]))
    if e ~= e then e = math.huge end   -- NaN
    if e > worst then worst, at = e, i end
  end
  assert(worst <= 0, string.format("%s: element %d is %.9g, expected %.9g", what, at,
    g[at] or 0 / 0, want[at] or 0 / 0))
end

local function assert_same_tensor(a, b, what, tol)
  assert_close(a, b:shape(), flat(b), what, tol or 1e-4, tol or 1e-4)
end

-- "algo" or "algo+isa" (the direct kernels' instruction set)
local function with_algo(name, fn)
  local algo, isa = name:match("^([%w_]+)%+?(%w*)$")
  local prev = core.nn.conv_set_algo(algo)
  local prev_isa = core.nn.conv_set_isa(isa ~= "" and isa or nil)
  local ok, err = pcall(fn)
  core.nn.conv_set_algo(prev)
  core.nn.conv_set_isa(prev_isa)
  if not ok then error(err, 0) end
end

-- every algorithm, the direct kernels and the batched GEMMs in each instruction set the CPU
-- has, and Winograd (3x3 stride-1 single-group convs; the others run as auto)
local ALGOS = { "auto", "gemm", "winograd", "winograd_f2" }
for _, isa in ipairs({ "avx2", "avx512" }) do
  if core.nn.conv_isa_supported(isa) then
    ALGOS[#ALGOS + 1] = "direct+" .. isa
    ALGOS[#ALGOS + 1] = "batched+" .. isa
  end
end
if #ALGOS == 4 then ALGOS[5], ALGOS[6] = "direct", "batched" end

describe("conv2d and conv_transpose2d", function()
  for _, algo in ipairs(ALGOS) do
    describe("match PyTorch 1.13 (" .. algo .. " kernels)", function()
      for _, c in ipairs(refs) do
        it(c.op .. ": " .. c.name, function()
          with_algo(algo, function()
            local x, w = T(c.x), T(c.w)
            local b = c.b and T(c.b) or nil
            x:requires_grad(true); w:requires_grad(true)
            if b then b:requires_grad(true) end
            local y = F[c.op](x, w, b, c.opts)
            assert_close(y, c.y.shape, c.y.data, "output")
            y:backward(T(c.gy))
            assert_close(x.grad, c.gx.shape, c.gx.data, "grad input")
            assert_close(w.grad, c.gw.shape, c.gw.data, "grad weight")
            if b then assert_close(b.grad, c.gb.shape, c.gb.data, "grad bias") end
          end)
        end)
      end
    end)
  end

  describe("gradcheck", function()
    local cases = {
      { "conv2d", { 2, 4, 5, 6 }, { 6, 2, 3, 2 }, 6, { stride = { 2, 1 }, padding = 1, groups = 2 } },
      { "conv2d", { 1, 2, 6, 8 }, { 3, 2, 3, 3 }, 3, { padding = { 2, 1 }, dilation = { 2, 1 } } },
      { "conv_transpose2d", { 2, 2, 3, 4 }, { 2, 3, 3, 2 }, 3,
        { stride = 2, padding = { 1, 0 }, output_padding = { 1, 0 } } },
      { "conv_transpose2d", { 1, 4, 3, 3 }, { 4, 1, 2, 2 }, 2, { stride = 2, groups = 2, dilation = 2 } },
    }
    for k, c in ipairs(cases) do
      it(c[1] .. " case " .. k, function()
        lunet.manual_seed(10 + k)
        local x, w, b = lunet.randn(c[2]), lunet.randn(c[3]), lunet.randn(c[4])
        for _, t in ipairs({ x, w, b }) do t:requires_grad(true) end
        assert(lunet.gradcheck(function(xx, ww, bb) return F[c[1]](xx, ww, bb, c[5]) end,
          { x, w, b }))
      end)
    end
  end)

  describe("fast kernels agree with the naive references", function()
    local nn = core.nn
    local function random_config(rng, transposed)
      local g = rng(1, 3)
      local c = {
        n = rng(1, 3), cin = g * rng(1, 3), cout = g * rng(1, 3), kh = rng(1, 4), kw = rng(1, 4),
        opts = { stride = { rng(1, 3), rng(1, 2) }, padding = { rng(0, 2), rng(0, 2) },
                 dilation = { rng(1, 2), rng(1, 2) }, groups = g },
        h = rng(3, 10), w = rng(1, 3) * 8,
      }
      if rng(1, 2) == 1 then c.opts.stride = { 1, 1 } end   -- the direct kernel's case
      if transposed then
        local st, dl = c.opts.stride, c.opts.dilation
        c.opts.output_padding = { rng(0, math.max(st[1], dl[1]) - 1), rng(0, math.max(st[2], dl[2]) - 1) }
      end
      return c
    end
    for _, op in ipairs({ "conv2d", "conv_transpose2d" }) do
      it(op .. " on 20 random configurations, every algorithm", function()
        math.randomseed(7)
        lunet.manual_seed(7)
        local transposed = op == "conv_transpose2d"
        local done = 0
        while done < 20 do
          local c = random_config(math.random, transposed)
          local x = lunet.randn(c.n, c.cin, c.h, c.w)
          local w = transposed and lunet.randn(c.cin, c.cout // c.opts.groups, c.kh, c.kw)
                               or lunet.randn(c.cout, c.cin // c.opts.groups, c.kh, c.kw)
          local b = lunet.randn(c.cout)
          local ok, yref = pcall(nn[op .. "_forward_naive"], x, w, b, c.opts)
          if ok then   -- skip configurations whose kernel does not fit
            done = done + 1
            local gy = lunet.randn(yref:shape())
            local rx, rw, rb = nn[op .. "_backward_naive"](gy, x, w, c.opts)
            for _, algo in ipairs(ALGOS) do
              with_algo(algo, function()
                local what = string.format("%s %s config %d", op, algo, done)
                assert_same_tensor(nn[op .. "_forward"](x, w, b, c.opts), yref, what .. " output")
                local dx, dw, db = nn[op .. "_backward"](gy, x, w, c.opts)
                assert_same_tensor(dx, rx, what .. " grad input")
                assert_same_tensor(dw, rw, what .. " grad weight")
                assert_same_tensor(db, rb, what .. " grad bias")
              end)
            end
          end
        end
      end)
    end

    -- any row width (the AVX-512 direct kernels' masked tails), odd heights, batch 1 to 3,
    -- stride 1 (the direct kernels' case) or 2, against the naive kernels on every algorithm
    for _, op in ipairs({ "conv2d", "conv_transpose2d" }) do
      it(op .. " on 16 random odd-width configurations, every algorithm", function()
        math.randomseed(11)
        lunet.manual_seed(11)
        local rng = math.random
        local done = 0
        while done < 16 do
          local g = ({ 1, 1, 2 })[rng(1, 3)]
          local n, cin, cout = rng(1, 3), g * rng(1, 9), g * rng(1, 12)
          local kh, kw = rng(1, 3), rng(1, 3)
          local opts = { padding = { rng(0, 2), rng(0, 2) }, dilation = { rng(1, 2), rng(1, 2) }, groups = g }
          if rng(1, 4) == 1 then opts.stride = 2 end
          local x = lunet.randn(n, cin, rng(1, 11), rng(1, 40))
          local w = op == "conv2d" and lunet.randn(cout, cin // g, kh, kw) or lunet.randn(cin, cout // g, kh, kw)
          local b = lunet.randn(cout)
          local ok, yref = pcall(nn[op .. "_forward_naive"], x, w, b, opts)
          if ok then
            done = done + 1
            local gy = lunet.randn(yref:shape())
            local rx, rw, rb = nn[op .. "_backward_naive"](gy, x, w, opts)
            for _, algo in ipairs(ALGOS) do
              with_algo(algo, function()
                local what = string.format("%s %s odd config %d (x %s, w %s)", op, algo, done,
                  table.concat(x:shape(), "x"), table.concat(w:shape(), "x"))
                assert_same_tensor(nn[op .. "_forward"](x, w, b, opts), yref, what .. " output")
                local dx, dw, db = nn[op .. "_backward"](gy, x, w, opts)
                assert_same_tensor(dx, rx, what .. " grad input")
                assert_same_tensor(dw, rw, what .. " grad weight")
                assert_same_tensor(db, rb, what .. " grad bias")
              end)
            end
          end
        end
      end)
    end

    -- large enough for the two-thread paths (and the row-chunked weight gradient)
    local big = {
      { "conv2d", { 4, 32, 16, 32 }, { 16, 32, 3, 3 }, { padding = 1 } },
      { "conv2d", { 2, 64, 6, 64 }, { 8, 64, 3, 3 }, { padding = { 1, 2 }, dilation = { 1, 2 } } },
      { "conv2d", { 4, 16, 16, 16 }, { 32, 16, 3, 3 }, { stride = 2, padding = 1 } },
      { "conv_transpose2d", { 8, 64, 16, 16 }, { 64, 32, 2, 2 }, { stride = 2 } },
      { "conv_transpose2d", { 4, 32, 8, 16 }, { 32, 16, 3, 3 }, { padding = 1 } },
      -- a segmentation head: 1x1 to one channel (the dot-product / rank-1 loops)
      { "conv2d", { 3, 16, 37, 41 }, { 1, 16, 1, 1 }, {} },
      -- one image: the direct kernels split it into blocks of rows across the threads
      { "conv2d", { 1, 32, 48, 64 }, { 16, 32, 3, 3 }, { padding = 1 } },
      { "conv_transpose2d", { 1, 64, 32, 32 }, { 64, 32, 3, 3 }, { padding = 1 } },
      { "conv_transpose2d", { 1, 64, 31, 16 }, { 64, 32, 3, 3 },
        { padding = 1, dilation = 2, output_padding = 1 } },
      -- AVX-512 tiles: 32 + masked 8-pixel tail, 16-wide rows in pairs (odd height), and
      -- 8-channel tiles with tails of 5 and 4
      { "conv2d", { 2, 24, 9, 40 }, { 13, 24, 3, 3 }, { padding = 1 } },
      { "conv2d", { 2, 16, 7, 16 }, { 12, 16, 3, 3 }, { padding = 1 } },
      { "conv2d", { 2, 8, 10, 48 }, { 13, 8, 3, 3 }, { padding = 1 } },
      -- 8-wide rows: four at once, then the last ones (7 rows) one by one
      { "conv2d", { 3, 40, 7, 8 }, { 20, 40, 3, 3 }, { padding = 1 } },
      { "conv_transpose2d", { 3, 24, 6, 8 }, { 24, 10, 3, 3 }, { padding = 1 } },
      -- the Fashion-MNIST U-Net's odd widths (28, 14, 7): masked AVX-512 tails, batched GEMMs
      { "conv2d", { 4, 16, 28, 28 }, { 16, 16, 3, 3 }, { padding = 1 } },
      { "conv2d", { 5, 32, 14, 14 }, { 32, 32, 3, 3 }, { padding = 1 } },
      { "conv2d", { 6, 64, 7, 7 }, { 64, 64, 3, 3 }, { padding = 1 } },
      { "conv2d", { 3, 24, 13, 30 }, { 40, 24, 3, 3 }, { padding = 1, dilation = 2 } },
      -- 1x1 heads: one output channel (dot-product weight gradient), and eleven
      { "conv2d", { 3, 16, 40, 24 }, { 1, 16, 1, 1 }, {} },
      { "conv2d", { 2, 16, 28, 28 }, { 11, 16, 1, 1 }, {} },
    }
    for k, c in ipairs(big) do
      it(string.format("%s on a larger input %d, two threads, every algorithm", c[1], k), function()
        lunet.set_num_threads(2)
        lunet.manual_seed(30 + k)
        local op = c[1]
        local x, w = lunet.randn(c[2]), lunet.randn(c[3])
        local b = lunet.randn(op == "conv2d" and c[3][1] or c[3][2])
        local yref = nn[op .. "_forward_naive"](x, w, b, c[4])
        local gy = lunet.randn(yref:shape())
        local rx, rw, rb = nn[op .. "_backward_naive"](gy, x, w, c[4])
        for _, algo in ipairs(ALGOS) do
          with_algo(algo, function()
            assert_same_tensor(nn[op .. "_forward"](x, w, b, c[4]), yref, algo .. " output", 1e-3)
            local dx, dw, db = nn[op .. "_backward"](gy, x, w, c[4])
            assert_same_tensor(dx, rx, algo .. " grad input", 1e-3)
            assert_same_tensor(dw, rw, algo .. " grad weight", 1e-3)
            assert_same_tensor(db, rb, algo .. " grad bias", 1e-3)
          end)
        end
      end)
    end
  end)

  describe("calling conventions", function()
    it("takes the options in the bias position when there is no bias", function()
      lunet.manual_seed(1)
      local x, w = lunet.randn(1, 2, 5, 5), lunet.randn(3, 2, 3, 3)
      assert_same_tensor(F.conv2d(x, w, { padding = 1 }), F.conv2d(x, w, nil, { padding = 1 }), "no bias")
    end)

    it("accepts unbatched (C, H, W) input and returns (C, OH, OW)", function()
      lunet.manual_seed(2)
      local x, w, b = lunet.randn(2, 5, 6), lunet.randn(3, 2, 3, 3), lunet.randn(3)
      local y = F.conv2d(x, w, b, { padding = 1 })
      assert.are.same({ 3, 5, 6 }, y:shape())
      local y4 = F.conv2d(x:view(1, 2, 5, 6), w, b, { padding = 1 })
      assert_same_tensor(y, y4:view(3, 5, 6), "unbatched")
      local t = F.conv_transpose2d(x, lunet.randn(2, 4, 2, 2), nil, { stride = 2 })
      assert.are.same({ 4, 10, 12 }, t:shape())
    end)

    it("accepts an empty batch, as PyTorch does", function()
      local x, w = lunet.randn(0, 3, 5, 5), lunet.randn(4, 3, 3, 3)
      x:requires_grad(true); w:requires_grad(true)
      local y = F.conv2d(x, w, lunet.randn(4), { padding = 1 })
      assert.are.same({ 0, 4, 5, 5 }, y:shape())
      y:sum():backward()
      assert.are.same({ 0, 3, 5, 5 }, x.grad:shape())
      assert.are.equal(0, w.grad:abs():sum():item())
      assert.are.same({ 0, 2, 10, 10 },
        F.conv_transpose2d(lunet.randn(0, 3, 5, 5), lunet.randn(3, 2, 2, 2), nil, { stride = 2 }):shape())
    end)

    it("writes every output element (outputs are allocated uninitialised)", function()
      lunet.manual_seed(6)
      local cases = {
        { "conv2d", { 2, 5, 7, 16 }, { 7, 5, 3, 3 }, { padding = 1 } },            -- direct
        { "conv2d", { 2, 5, 7, 9 }, { 7, 5, 3, 2 }, { stride = 2, padding = 1 } },  -- im2col + GEMM
        { "conv2d", { 2, 5, 7, 9 }, { 7, 5, 1, 1 } },                               -- pointwise
        { "conv_transpose2d", { 2, 5, 4, 8 }, { 5, 3, 2, 2 }, { stride = 2 } },      -- tiling
        { "conv_transpose2d", { 2, 5, 4, 8 }, { 5, 3, 3, 3 }, { stride = 2, padding = 1 } },
      }
      for _, c in ipairs(cases) do
        local x, w = lunet.randn(c[2]), lunet.randn(c[3])
        local want = core.nn[c[1] .. "_forward_naive"](x, w, nil, c[4])
        for _ = 1, 3 do   -- recycle storage full of NaN, of the output's size
          local junk = lunet.full(want:shape(), 0 / 0)
          junk = nil
          collectgarbage()
        end
        assert_same_tensor(F[c[1]](x, w, nil, c[4]), want, c[1] .. " after NaN garbage")
      end
    end)

    it("reads non-contiguous inputs", function()
      lunet.manual_seed(4)
      local xt = lunet.randn(1, 6, 5, 2)
      local x = xt:permute(1, 4, 3, 2)          -- (1, 2, 5, 6), a strided view
      local w, b = lunet.randn(3, 2, 3, 3), lunet.randn(3)
      assert_same_tensor(F.conv2d(x, w, b, { padding = 1 }), F.conv2d(x:contiguous(), w, b, { padding = 1 }),
        "strided input")
    end)

    it("computes no input gradient when the input does not require one", function()
      lunet.manual_seed(5)
      local x, w = lunet.randn(1, 2, 4, 4), lunet.randn(3, 2, 3, 3)
      w:requires_grad(true)
      F.conv2d(x, w, { padding = 1 }):sum():backward()
      assert.is_nil(x.grad)
      assert.are.same({ 3, 2, 3, 3 }, w.grad:shape())
    end)
  end)

  describe("argument errors", function()
    local R = lunet.randn
    local cases = {
      { "conv2d", function() return R(2, 4, 8, 8), R(6, 3, 3, 3) end, nil,
        "conv2d: input has 4 channels, weight expects 3 (input [2, 4, 8, 8], weight [6, 3, 3, 3])" },
      { "conv2d", function() return R(1, 4, 8, 8), R(6, 3, 3, 3) end, { groups = 2 },
        "conv2d: input has 4 channels, weight expects 6 (input [1, 4, 8, 8], weight [6, 3, 3, 3], groups 2)" },
      { "conv_transpose2d", function() return R(1, 3, 4, 4), R(2, 3, 3, 3) end, nil,
        "conv_transpose2d: input has 3 channels, weight expects 2 (input [1, 3, 4, 4], weight [2, 3, 3, 3])" },
      { "conv2d", function() return R(1, 1, 2, 2), R(1, 1, 5, 5) end, { padding = 1 },
        "conv2d: kernel (5, 5) with dilation (1, 1) is larger than the padded input (4, 4) (input [1, 1, 2, 2], padding (1, 1))" },
      { "conv2d", function() return R(1, 1, 5, 5), R(1, 1, 3, 3) end, { dilation = { 1, 3 } },
        "conv2d: kernel (3, 3) with dilation (1, 3) is larger than the padded input (5, 5) (input [1, 1, 5, 5], padding (0, 0))" },
      { "conv_transpose2d", function() return R(1, 2, 4, 4), R(2, 3, 3, 3) end, { stride = 2, output_padding = 2 },
        "conv_transpose2d: output_padding (2, 2) must be smaller than stride (2, 2) or dilation (1, 1)" },
      { "conv_transpose2d", function() return R(1, 2, 4, 4), R(2, 3, 3, 3) end, { output_padding = { 0, 1 } },
        "conv_transpose2d: output_padding (0, 1) must be smaller than stride (1, 1) or dilation (1, 1)" },
      { "conv_transpose2d", function() return R(1, 2, 4, 4), R(2, 3, 3, 3) end, { output_padding = -1 },
        "conv_transpose2d: output_padding must be non-negative, got (-1, -1)" },
      { "conv2d", function() return R(1, 4, 5, 5), R(6, 2, 3, 3) end, { groups = 3 },
        "conv2d: groups 3 does not divide input channels 4 (input [1, 4, 5, 5])" },
      { "conv2d", function() return R(1, 4, 5, 5), R(5, 2, 3, 3) end, { groups = 2 },
        "conv2d: groups 2 does not divide output channels 5 (weight [5, 2, 3, 3])" },
      { "conv_transpose2d", function() return R(1, 3, 4, 4), R(3, 2, 3, 3) end, { groups = 2 },
        "conv_transpose2d: groups 2 does not divide input channels 3 (weight [3, 2, 3, 3])" },
      { "conv2d", function() return R(4, 8), R(6, 4, 3, 3) end, nil,
        "conv2d: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got [4, 8]" },
      { "conv2d", function() return R(1, 4, 8, 8), R(6, 4, 3) end, nil,
        "conv2d: weight must be 4-D (out, in/groups, kh, kw), got [6, 4, 3]" },
      { "conv_transpose2d", function() return R(1, 4, 8, 8), R(4, 6) end, nil,
        "conv_transpose2d: weight must be 4-D (in, out/groups, kh, kw), got [4, 6]" },
      { "conv2d", function() return R(1, 4, 8, 8), R(6, 4, 3, 3), R(5) end, nil,
        "conv2d: bias must be 1-D of size 6, got [5]" },
      { "conv_transpose2d", function() return R(1, 4, 8, 8), R(4, 3, 3, 3), R(4) end, { groups = 2 },
        "conv_transpose2d: bias must be 1-D of size 6, got [4]" },
      { "conv2d", function() return R(1, 4, 8, 8), R(6, 4, 3, 3) end, { stride = 0 },
        "conv2d: stride must be positive, got (0, 0)" },
      { "conv2d", function() return R(1, 4, 8, 8), R(6, 4, 3, 3) end, { stride = { 1, -2 } },
        "conv2d: stride must be positive, got (1, -2)" },
      { "conv_transpose2d", function() return R(1, 4, 8, 8), R(4, 3, 3, 3) end, { dilation = { 0, 1 } },
        "conv_transpose2d: dilation must be positive, got (0, 1)" },
      { "conv2d", function() return R(1, 4, 8, 8), R(6, 4, 3, 3) end, { padding = { 1, -1 } },
        "conv2d: padding must be non-negative, got (1, -1)" },
      { "conv2d", function() return R(1, 4, 8, 8), R(6, 4, 3, 3) end, { groups = 0 },
        "conv2d: groups must be positive, got 0" },
      { "conv_transpose2d", function() return R(1, 2, 1, 1), R(2, 2, 1, 1) end, { padding = 1 },
        "conv_transpose2d: output size (-1, -1) is not positive (input [1, 2, 1, 1], weight [2, 2, 1, 1], padding (1, 1))" },
    }
    for k, c in ipairs(cases) do
      it(string.format("%s case %d: %s", c[1], k, c[4]), function()
        local x, w, b = c[2]()
        local ok, err = pcall(F[c[1]], x, w, b, c[3])
        assert.is_false(ok)
        assert.are.equal(c[4], (err:gsub("^[^:]*:%d+: ", "")))
      end)
    end

    it("rejects non-float32 tensors", function()
      local ok, err = pcall(F.conv2d, lunet.zeros({ 1, 2, 4, 4 }, { dtype = "int32" }), lunet.randn(3, 2, 3, 3))
      assert.is_false(ok)
      assert.is_truthy(err:find("conv2d", 1, true) and err:find("float32", 1, true), err)
      ok, err = pcall(F.conv_transpose2d, lunet.randn(1, 2, 4, 4), lunet.zeros({ 2, 3, 3, 3 }, { dtype = "uint8" }))
      assert.is_false(ok)
      assert.is_truthy(err:find("conv_transpose2d", 1, true) and err:find("weight", 1, true), err)
    end)

    it("checks the gradient shape given to the backward kernels", function()
      local ok, err = pcall(core.nn.conv2d_backward, lunet.randn(1, 3, 4, 4), lunet.randn(1, 2, 4, 4),
        lunet.randn(3, 2, 3, 3), { padding = 0 })
      assert.is_false(ok)
      assert.are.equal("conv2d_backward: grad_output has shape [1, 3, 4, 4], expected [1, 3, 2, 2]",
        (err:gsub("^[^:]*:%d+: ", "")))
    end)
  end)

  describe("reproducibility", function()
    it("gives bitwise identical weight gradients on every run with two threads", function()
      local old = lunet.get_num_threads()
      lunet.set_num_threads(2)
      local g = lunet.Generator(21)
      local x = g:randn(6, 8, 48, 48)
      local gy = g:randn(6, 16, 48, 48)
      local gyt = g:randn(6, 4, 96, 96)
      local function grads(op, w, gout, opts)
        w = w:clone():requires_grad(true)
        local y = F[op](x, w, nil, opts)
        y:backward(gout)
        return w.grad:tolist()
      end
      for _, algo in ipairs(ALGOS) do
        with_algo(algo, function()
          local w = g:randn(16, 8, 3, 3)
          local first = grads("conv2d", w, gy, { padding = 1 })
          local wt = g:randn(8, 4, 2, 2)
          local firstt = grads("conv_transpose2d", wt, gyt, { stride = 2 })
          for _ = 1, 3 do
            assert.are.same(first, grads("conv2d", w, gy, { padding = 1 }))
            assert.are.same(firstt, grads("conv_transpose2d", wt, gyt, { stride = 2 }))
          end
        end)
      end
      lunet.set_num_threads(old)
    end)
  end)
end)
