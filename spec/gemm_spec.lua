-- lunet's own SGEMM (csrc/lt_gemm.c through core.gemm.sgemm) against the naive reference
-- (triple loop, double accumulation) on every ISA this CPU runs, and the conv / matmul paths
-- that use it.
local lunet = require "lunet"
local core = require "lunet.core"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()

local G = core.gemm
local EPS = 2 ^ -24      -- float32 unit roundoff

-- m, n, k: ones, primes, sizes just past the tiles (AVX-512 8x48, AVX2 6x16, C 4x16) and
-- the cache blocks (KC 256, NC 384/512), last vectors of 1 or 2 columns (the dot-product
-- path: n = 49, 97, 18, 50, 386), many M panels (B read in place or packed), a Fashion-MNIST
-- conv shape
local SHAPES = {
  { 1, 1, 1 }, { 1, 17, 5 }, { 13, 1, 7 }, { 1, 1, 300 }, { 2, 3, 1 }, { 7, 13, 29 },
  { 8, 48, 256 }, { 9, 49, 257 }, { 17, 97, 263 }, { 31, 61, 530 }, { 64, 49, 576 },
  { 5, 400, 3 }, { 100, 37, 2 }, { 6, 779, 19 }, { 7, 18, 9 }, { 12, 50, 300 }, { 5, 386, 40 },
  { 70, 256, 20 },
}
local TRANS = { { false, false }, { true, false }, { false, true }, { true, true } }
-- alpha, beta: beta 0 must not read C (it starts as NaN), beta 1 accumulates
local SCALES = { { 1, 0 }, { -0.75, 1 }, { 1.5, 0.5 } }

local function buffer(n, fill)
  if n < 1 then n = 1 end
  if fill then return lunet.full({ n }, fill) end
  return lunet.randn(n)
end

-- Runs one case with impl against the naive reference; returns nil or a failure message.
-- pad: leading dimensions larger than the minimum (the gaps must stay untouched).
local function check_case(impl, m, n, k, ta, tb, alpha, beta, pad, threads)
  local arows, acols = ta and k or m, ta and m or k
  local brows, bcols = tb and n or k, tb and k or n
  local lda = math.max(1, acols) + (pad and 3 or 0)
  local ldb = math.max(1, bcols) + (pad and 5 or 0)
  local ldc = math.max(1, n) + (pad and 2 or 0)
  local a, b = buffer(arows * lda), buffer(brows * ldb)
  local c0 = buffer(m * ldc, beta == 0 and 0 / 0 or nil)
  if pad then   -- a sentinel in C's gaps
    local v = c0:tolist()
    for i = 0, m - 1 do for j = n, ldc - 1 do v[i * ldc + j + 1] = 777 end end
    c0 = lunet.tensor(v)
  end
  local opts = { m = m, n = n, k = k, transa = ta, transb = tb, lda = lda, ldb = ldb, ldc = ldc,
                 alpha = alpha, beta = beta, impl = impl, threads = threads }
  local c = c0:clone()
  G.sgemm(c, a, b, opts)
  local ref = c0:clone()
  opts.impl, opts.threads = "naive", nil
  G.sgemm(ref, a, b, opts)
  -- |alpha| sum_p |a_ip| |b_pj|: the scale of the rounding error of a float32 dot product
  local scale = lunet.zeros(math.max(1, m * ldc))
  opts.alpha, opts.beta = math.abs(alpha), 0
  G.sgemm(scale, a:abs(), b:abs(), opts)
  local cv, rv, sv, c0v = c:tolist(), ref:tolist(), scale:tolist(), c0:tolist()
  local tol = 2 * (k + 3) * EPS
  for i = 0, m - 1 do
    for j = 0, ldc - 1 do
      local q = i * ldc + j + 1
      if j >= n then
        if cv[q] ~= 777 then return ("gap C[%d][%d] written: %s"):format(i, j, cv[q]) end
      else
        local base = beta == 0 and 0 or math.abs(beta * c0v[q])
        local bound = tol * (sv[q] + base) + 1e-30
        local err = math.abs(cv[q] - rv[q])
        if not (err <= bound) then
          return ("C[%d][%d] = %.9g, reference %.9g (error %.3g > bound %.3g)"):format(i, j, cv[q],
            rv[q], err, bound)
        end
      end
    end
  end
  return nil
end

local function tag(ta, tb) return (ta and "T" or "N") .. (tb and "T" or "N") end

describe("gemm", function()
  local isas = G.isas()

  it("lists the ISAs this CPU runs, generic always last", function()
    assert.is_true(#isas >= 1)
    assert.equal("generic", isas[#isas])
    for _, isa in ipairs(isas) do
      assert.is_true(isa == "avx512" or isa == "avx2" or isa == "generic", isa)
    end
  end)

  for _, isa in ipairs(isas) do
    it(isa .. " matches the naive reference on every shape, transpose, alpha, beta and padding", function()
      lunet.manual_seed(1)
      local bad, n = {}, 0
      for si, s in ipairs(SHAPES) do
        for ti, t in ipairs(TRANS) do
          for ci, sc in ipairs(SCALES) do
            local pad = (si + ti + ci) % 2 == 0
            local msg = check_case(isa, s[1], s[2], s[3], t[1], t[2], sc[1], sc[2], pad, 1)
            n = n + 1
            if msg then
              bad[#bad + 1] = ("%dx%dx%d %s alpha %g beta %g%s: %s"):format(s[1], s[2], s[3],
                tag(t[1], t[2]), sc[1], sc[2], pad and " padded" or "", msg)
            end
          end
        end
      end
      assert.equal(#SHAPES * #TRANS * #SCALES, n)
      assert.same({}, bad)
    end)

    it(isa .. " handles k = 0 (C = beta C), alpha = 0 (A, B unread) and empty C", function()
      local c = lunet.tensor { 1, 2, 3, 4, 5, 6 }
      local nan = lunet.full({ 6 }, 0 / 0)
      G.sgemm(c, nan, nan, { m = 2, n = 3, k = 0, beta = 0.5, impl = isa })
      assert.same({ 0.5, 1, 1.5, 2, 2.5, 3 }, c:tolist())
      G.sgemm(c, nan, nan, { m = 2, n = 3, k = 2, alpha = 0, beta = 2, impl = isa })
      assert.same({ 1, 2, 3, 4, 5, 6 }, c:tolist())
      local z = lunet.full({ 6 }, 0 / 0)
      G.sgemm(z, nan, nan, { m = 2, n = 3, k = 0, impl = isa })
      assert.same({ 0, 0, 0, 0, 0, 0 }, z:tolist())
      G.sgemm(c, nan, nan, { m = 0, n = 3, k = 2, impl = isa })
      G.sgemm(c, nan, nan, { m = 2, n = 0, k = 2, impl = isa })
      assert.same({ 1, 2, 3, 4, 5, 6 }, c:tolist())
    end)

    it(isa .. " computes a known product exactly", function()
      -- [1 2 3; 4 5 6] x [7 8; 9 10; 11 12] = [58 64; 139 154]
      local c = lunet.zeros(4)
      G.sgemm(c, lunet.tensor { 1, 2, 3, 4, 5, 6 }, lunet.tensor { 7, 8, 9, 10, 11, 12 },
        { m = 2, n = 2, k = 3, impl = isa })
      assert.same({ 58, 64, 139, 154 }, c:tolist())
      G.sgemm(c, lunet.tensor { 1, 4, 2, 5, 3, 6 }, lunet.tensor { 7, 9, 11, 8, 10, 12 },
        { m = 2, n = 2, k = 3, transa = true, transb = true, alpha = 2, beta = 1, impl = isa })
      assert.same({ 174, 192, 417, 462 }, c:tolist())
    end)
  end

  it("splits one GEMM over threads (N slices, M slices) with the same results", function()
    lunet.manual_seed(2)
    local bad = {}
    -- wide (N split), tall (M split), too small to split
    for _, s in ipairs { { 20, 1000, 70 }, { 700, 30, 50 }, { 3, 5, 7 }, { 97, 389, 131 } } do
      for _, t in ipairs(TRANS) do
        for _, threads in ipairs { 2, 3 } do
          local msg = check_case("auto", s[1], s[2], s[3], t[1], t[2], 1.25, 1, threads == 3, threads)
          if msg then bad[#bad + 1] = ("%dx%dx%d %s threads %d: %s"):format(s[1], s[2], s[3],
            tag(t[1], t[2]), threads, msg) end
        end
      end
    end
    assert.same({}, bad)
  end)

  it("is what matmul runs, on one thread and split (batched, transposed views)", function()
    lunet.manual_seed(3)
    for _, threads in ipairs { 1, 2 } do
      H.with_threads(threads, function()
        -- 2 x (300 x 200) @ (200 x 150): 18 MFLOP per product, above the split threshold
        local a, b = lunet.randn(2, 300, 200), lunet.randn(150, 200):transpose(1, 2)
        local c = a:matmul(b)
        assert.same({ 2, 300, 150 }, c:shape())
        local ref = lunet.zeros(300 * 150)
        for i = 1, 2 do
          G.sgemm(ref, a:select(1, i):contiguous(), b:contiguous(), { m = 300, n = 150, k = 200, impl = "naive" })
          local d = (c:select(1, i):reshape(300 * 150) - ref):abs():max():item()
          assert.is_true(d < 1e-3, ("threads %d batch %d: max error %g"):format(threads, i, d))
        end
      end)
    end
  end)

  it("is what the im2col convolutions run: conv2d on 7x7 images matches the direct loops", function()
    lunet.manual_seed(4)
    local F = require "lunet.nn.functional"
    -- 7x7 (width not a multiple of 8) runs im2col + GEMM forward and backward
    local x, w, b = lunet.randn(3, 32, 7, 7), lunet.randn(64, 32, 3, 3), lunet.randn(64)
    local y = F.conv2d(x, w, b, { padding = 1 })
    local ref = core.nn.conv2d_forward_naive(x, w, b, { padding = 1 })
    local d = (y - ref):abs():max():item()
    assert.is_true(d < 1e-3, ("max error %g"):format(d))
  end)

  H.error_cases {
    { "an unknown option", function() G.sgemm(lunet.zeros(1), lunet.zeros(1), lunet.zeros(1), { m = 1, n = 1, k = 1, trnasa = true }) end,
      "sgemm: unknown option 'trnasa' (did you mean 'transa'?)" },
    { "a missing size", function() G.sgemm(lunet.zeros(1), lunet.zeros(1), lunet.zeros(1), { m = 1, k = 1 }) end,
      "sgemm: option n is required" },
    { "a negative size", function() G.sgemm(lunet.zeros(1), lunet.zeros(1), lunet.zeros(1), { m = 1, n = -2, k = 1 }) end,
      "sgemm: option n must be >= 0, got -2" },
    { "a leading dimension below the columns", function()
        G.sgemm(lunet.zeros(6), lunet.zeros(6), lunet.zeros(9), { m = 2, n = 3, k = 3, lda = 2 }) end,
      "sgemm: lda must be >= 3 (the columns of the stored a), got 2" },
    { "a transposed leading dimension below the columns", function()
        G.sgemm(lunet.zeros(6), lunet.zeros(6), lunet.zeros(9), { m = 2, n = 3, k = 3, transb = true, ldb = 2 }) end,
      "sgemm: ldb must be >= 3 (the columns of the stored b), got 2" },
    { "a buffer too small for its matrix", function()
        G.sgemm(lunet.zeros(6), lunet.zeros(6), lunet.zeros(9), { m = 2, n = 3, k = 3, lda = 4 }) end,
      "sgemm: a holds 6 elements, a 2 x 3 matrix with lda 4 needs 7" },
    { "a transposed buffer too small", function()
        G.sgemm(lunet.zeros(6), lunet.zeros(5), lunet.zeros(9), { m = 2, n = 3, k = 3, transa = true }) end,
      "sgemm: a holds 5 elements, a 3 x 2 matrix with lda 2 needs 6" },
    { "an output too small", function()
        G.sgemm(lunet.zeros(5), lunet.zeros(6), lunet.zeros(9), { m = 2, n = 3, k = 3 }) end,
      "sgemm: c holds 5 elements, a 2 x 3 matrix with ldc 3 needs 6" },
    { "an unknown impl", function()
        G.sgemm(lunet.zeros(1), lunet.zeros(1), lunet.zeros(1), { m = 1, n = 1, k = 1, impl = "avx1024" }) end,
      "sgemm: option impl must be one of auto, avx512, avx2, generic, naive, openblas, got avx1024" },
    { "zero threads", function()
        G.sgemm(lunet.zeros(1), lunet.zeros(1), lunet.zeros(1), { m = 1, n = 1, k = 1, threads = 0 }) end,
      "sgemm: option threads must be in [1, 1024], got 0" },
    { "an int32 buffer", function()
        G.sgemm(lunet.zeros(1), lunet.zeros({ 1 }, { dtype = "int32" }), lunet.zeros(1), { m = 1, n = 1, k = 1 }) end,
      "sgemm: a must be float32, got int32" },
    { "a size that overflows", function()
        G.sgemm(lunet.zeros(1), lunet.zeros(1), lunet.zeros(1), { m = 1 << 62, n = 1, k = 1, lda = 4 }) end,
      "sgemm: a as 4611686018427387904 x 1 with lda 4 overflows" },
    { "a non-contiguous buffer", function()
        G.sgemm(lunet.zeros(4, 4):transpose(1, 2), lunet.zeros(16), lunet.zeros(16), { m = 4, n = 4, k = 4 }) end,
      "sgemm: c must be contiguous" },
  }
end)
