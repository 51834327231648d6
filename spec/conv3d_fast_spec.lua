-- The Winograd F(2x2x2, 3x3x3) path of the 3-D convolution (csrc/lt_conv3d.c: forward, input
-- gradient through the gather convolution, weight gradient, and the transposed convolution,
-- which reuses them) and the GEMM paths beside it, each forced with conv_set_algo ("direct":
-- Winograd wherever the shape allows it, "gemm": never) and in "auto", against the naive
-- double-accumulating kernels on random shapes (odd sizes, rows of 30 to 69 voxels, padding 0
-- to 2, batch 1 and 2, small volumes whose rows hold fewer than 16 tiles, one block of the
-- whole batch (at most 256 tiles) or blocks of tiles,
-- channel counts that are not multiples of 16, and shapes Winograd must refuse: stride 2,
-- dilation, groups, other kernel sizes), on one and two threads, at every ISA level this CPU
-- runs (the level sets the GEMM's micro-kernels: AVX-512, AVX2, or OpenBLAS for generic, and
-- the transforms' vector code). The U-Net benchmark's channel counts bound Winograd's
-- relative error by 1e-4; the weight gradient does not depend on the thread count.
local lunet = require "lunet"
local core = require "lunet.core"
local F = require "lunet.nn.functional"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local flat = H.flat
local raw = core.nn

local _, cpu = core.isa()
local LEVELS = ({ generic = { "generic" }, avx2 = { "generic", "avx2" },
  avx512 = { "generic", "avx2", "avx512" } })[cpu]

-- Runs fn with the given ISA level, conv algorithm and thread count, restoring all three.
local function with(level, algo, threads, fn)
  local pl, pa, pt = core.set_isa(level), raw.conv_set_algo(algo), lunet.get_num_threads()
  lunet.set_num_threads(threads)
  local ok, err = pcall(fn)
  core.set_isa(pl)
  raw.conv_set_algo(pa)
  lunet.set_num_threads(pt)
  if not ok then error(err, 0) end
end

-- |got - want| <= atol + rtol * |want| elementwise, the worst element in the message
local function assert_close(got, want, what, rtol, atol)
  assert.are.same(want:shape(), got:shape(), what .. ": shape")
  local g, w = flat(got), flat(want)
  local worst, at = 0, 0
  for i = 1, #w do
    local e = math.abs(g[i] - w[i]) - (atol + rtol * math.abs(w[i]))
    if e > worst or g[i] ~= g[i] then worst, at = (g[i] ~= g[i]) and math.huge or e, i end
  end
  assert(worst <= 0, string.format("%s: element %d is %.9g, want %.9g (rtol %g, atol %g)", what,
    at, g[at] or 0 / 0, w[at] or 0 / 0, rtol, atol))
end

-- max |a - b| / max |b|
local function rel_err(a, b)
  return (a - b):abs():max():item() / b:abs():max():item()
end

local gen = lunet.Generator(11)
local function R(...) return gen:randn({ ... }) end
local function ri(lo, hi) return gen:randint(lo, hi + 1, { 1 }):item() end

-- Random cases: most of them 3x3x3 with unit stride (the Winograd shape), with odd sizes,
-- padding 0..2 per dimension and batch 1 or 2; some that Winograd must leave to the GEMM
-- paths. big: enough work for a two-thread team (more than 4 MFLOP).
local function case(kind, big)
  local c = { n = ri(1, 2), cin = ri(1, 20), cout = ri(1, 20), g = 1, k = { 3, 3, 3 },
    s = { 1, 1, 1 }, p = { ri(0, 2), ri(0, 2), ri(0, 2) }, d = { 1, 1, 1 } }
  if big then c.cin, c.cout = ri(16, 24), ri(16, 24) end
  if kind == "stride" then c.s = { ri(1, 2), 2, ri(1, 2) }
  elseif kind == "dilation" then c.d = { 2, ri(1, 2), 1 }
  elseif kind == "groups" then c.g = 2; c.cin, c.cout = 2 * ri(1, 8), 2 * ri(1, 8)
  elseif kind == "kernel" then c.k = { ri(1, 3), 2, 3 }
  end
  c.size = big and { ri(7, 10), ri(7, 10), ri(7, 11) } or { ri(1, 7), ri(1, 7), ri(1, 7) }
  -- rows of 16 tiles and more (the transforms' vector gathers and scatters), odd widths
  if kind == "wide" then c.size = { ri(4, 5), ri(4, 5), ri(30, 69) } end
  -- small volumes (the U-Net's 8^3 bottleneck): rows of fewer than 16 tiles (the vector
  -- gathers of lanes from several rows, planes and images), the whole batch one block of
  -- tiles (at most 256 tiles), U-Net-like channel counts that are not multiples of 16
  if kind == "small" then
    c.size = { ri(7, 9), ri(7, 9), ri(7, 9) }; c.p = { 1, ri(0, 2), 1 }
    c.cin, c.cout = ri(16, 24), ri(16, 24)
  end
  -- just over 256 tiles: the blocks of tiles of larger volumes with short rows
  if kind == "blocks" then
    c.n = 2; c.size = { ri(9, 10), ri(9, 10), ri(9, 12) }; c.p = { 1, 1, 1 }
    c.cin, c.cout = ri(16, 20), ri(16, 20)
  end
  -- rows whose patches are inside in depth and height but cut by the width's padding
  if kind == "clip" then c.p = { 0, 0, ri(1, 2) }; c.size = { ri(4, 6), ri(4, 6), ri(33, 70) } end
  for j = 1, 3 do
    local need = c.d[j] * (c.k[j] - 1) + 1 - 2 * c.p[j]
    if c.size[j] < need then c.size[j] = need end
  end
  return c
end

local function describe_case(c)
  return string.format("x [%d,%d,%d,%d,%d] cout %d k {%d,%d,%d} s {%d,%d,%d} p {%d,%d,%d} d {%d,%d,%d} g %d",
    c.n, c.cin, c.size[1], c.size[2], c.size[3], c.cout, c.k[1], c.k[2], c.k[3], c.s[1], c.s[2],
    c.s[3], c.p[1], c.p[2], c.p[3], c.d[1], c.d[2], c.d[3], c.g)
end

-- conv3d and conv_transpose3d, forward and all three gradients, against the naive kernels
local function check(c, what)
  local x = R(c.n, c.cin, c.size[1], c.size[2], c.size[3])
  local w, b = R(c.cout, c.cin // c.g, c.k[1], c.k[2], c.k[3]), R(c.cout)
  local o = { stride = c.s, padding = c.p, dilation = c.d, groups = c.g }
  local y = raw.conv3d_forward(x, w, b, o)
  assert_close(y, raw.conv3d_forward_naive(x, w, b, o), what .. " forward", 1e-4, 1e-4)
  local gy = R(table.unpack(y:shape()))
  local dx, dw, db = raw.conv3d_backward(gy, x, w, o)
  local nx, nw, nb = raw.conv3d_backward_naive(gy, x, w, o)
  assert_close(dx, nx, what .. " dx", 1e-4, 1e-4)
  assert_close(dw, nw, what .. " dw", 1e-4, 1e-3)
  assert_close(db, nb, what .. " db", 1e-4, 1e-3)
  -- the transposed convolution with x as its input (its adjoint is a conv of this shape
  -- family, so the Winograd kernels serve it too)
  local wt, bt = R(c.cin, c.cout // c.g, c.k[1], c.k[2], c.k[3]), R(c.cout)
  local ot = { stride = c.s, padding = c.p, dilation = c.d, groups = c.g }
  local ok = pcall(raw.conv_transpose3d_forward, x, wt, bt, ot)
  if ok then
    local t = raw.conv_transpose3d_forward(x, wt, bt, ot)
    assert_close(t, raw.conv_transpose3d_forward_naive(x, wt, bt, ot), what .. " transposed forward", 1e-4, 1e-4)
    local gt = R(table.unpack(t:shape()))
    local ax, aw, ab = raw.conv_transpose3d_backward(gt, x, wt, ot)
    local bx, bw, bb = raw.conv_transpose3d_backward_naive(gt, x, wt, ot)
    assert_close(ax, bx, what .. " transposed dx", 1e-4, 1e-4)
    assert_close(aw, bw, what .. " transposed dw", 1e-4, 1e-3)
    assert_close(ab, bb, what .. " transposed db", 1e-4, 1e-3)
  end
end

describe("3-D convolution paths against the naive kernels", function()
  for _, level in ipairs(LEVELS) do
    for _, algo in ipairs { "direct", "gemm", "auto" } do
      it(string.format("%s, algo %s: random shapes, 1 and 2 threads", level, algo), function()
        local kinds = { "wino", "wino", "wino", "wide", "clip", "small", "blocks", "stride", "dilation",
          "groups", "kernel" }
        for _, threads in ipairs { 1, 2 } do
          for i, kind in ipairs(kinds) do
            local c = case(kind, threads == 2 and i <= 2)
            with(level, algo, threads, function()
              check(c, string.format("%s %s %d threads %s", level, algo, threads, describe_case(c)))
            end)
          end
        end
      end)
    end
  end
end)

describe("3-D Winograd F(2x2x2, 3x3x3)", function()
  it("is the path forced by conv_set_algo('direct'): its rounding differs from the GEMM path's", function()
    local x, w = R(2, 16, 6, 6, 6), R(16, 16, 3, 3, 3)
    local o = { padding = 1 }
    local yw, yg
    with(cpu, "direct", 1, function() yw = raw.conv3d_forward(x, w, nil, o) end)
    with(cpu, "gemm", 1, function() yg = raw.conv3d_forward(x, w, nil, o) end)
    assert.is_true((yw - yg):abs():max():item() > 0)
    assert.is_true(rel_err(yw, yg) < 1e-5)
  end)

  -- the benchmark's channel counts (bench/unet3d.lua) at 8^3 and 4^3, batch 1 (the naive
  -- kernels take a few seconds on the full shapes): max |fast - naive| / max |naive| <= 1e-4
  it("stays within 1e-4 relative error of the naive kernels on the U-Net's channel counts", function()
    for _, s in ipairs { { 128, 128, 8 }, { 128, 256, 4 }, { 384, 128, 4 }, { 64, 64, 8 } } do
      local cin, cout, size = s[1], s[2], s[3]
      local x, w, b = R(1, cin, size, size, size), R(cout, cin, 3, 3, 3), R(cout)
      local o = { padding = 1 }
      with(cpu, "direct", 2, function()
        local what = string.format("%d->%d @%d", cin, cout, size)
        local y = raw.conv3d_forward(x, w, b, o)
        local e = rel_err(y, raw.conv3d_forward_naive(x, w, b, o))
        assert(e <= 1e-4, what .. string.format(" forward relative error %.3g", e))
        local gy = R(table.unpack(y:shape()))
        local dx, dw = raw.conv3d_backward(gy, x, w, o)
        local nx, nw = raw.conv3d_backward_naive(gy, x, w, o)
        e = rel_err(dx, nx)
        assert(e <= 1e-4, what .. string.format(" dx relative error %.3g", e))
        e = rel_err(dw, nw)
        assert(e <= 1e-4, what .. string.format(" dw relative error %.3g", e))
      end)
    end
  end)

  it("gives the same weight gradient on one and two threads (each position summed by one thread)", function()
    -- 160 tiles (one block of the whole batch) and 1600 (blocks of tiles)
    for _, size in ipairs { { 9, 8, 7 }, { 9, 8, 80 } } do
      local x, w = R(2, 16, size[1], size[2], size[3]), R(24, 16, 3, 3, 3)
      local o = { padding = 1 }
      local gy = R(2, 24, size[1], size[2], size[3])
      local a, b
      with(cpu, "direct", 1, function() _, a = raw.conv3d_backward(gy, x, w, o) end)
      with(cpu, "direct", 2, function() _, b = raw.conv3d_backward(gy, x, w, o) end)
      assert.are.equal(0, (a - b):abs():max():item())
    end
  end)

  it("passes gradcheck through F.conv3d and F.conv_transpose3d", function()
    with(cpu, "direct", 1, function()
      local x = R(1, 2, 3, 4, 3):requires_grad(true)
      local w = (R(3, 2, 3, 3, 3) * 0.5):requires_grad(true)
      local b = R(3):requires_grad(true)
      local ok, msg = lunet.gradcheck(function(a, c, e) return F.conv3d(a, c, e, { padding = 1 }) end,
        { x, w, b }, { eps = 1e-2, atol = 1e-2, rtol = 1e-2 })
      assert(ok, msg)
      local wt = (R(2, 3, 3, 3, 3) * 0.5):requires_grad(true)
      ok, msg = lunet.gradcheck(function(a, c) return F.conv_transpose3d(a, c, nil, { padding = 1 }) end,
        { x, wt }, { eps = 1e-2, atol = 1e-2, rtol = 1e-2 })
      assert(ok, msg)
    end)
  end)
end)
