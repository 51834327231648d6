-- lunet.classic.dense_crf: the O(N^2) reference (core.classic_seg.dense_crf_naive) against a
-- plain Lua transcription of the mean-field update, the permutohedral-lattice version against
-- the reference within the tolerances measured below, behaviour on a noisy two-region scene,
-- and input / option errors.
local lunet = require "lunet"
local classic = require "lunet.classic"
local core = require "lunet.core"

local K = core.classic_seg

local function strip(msg) return (tostring(msg):gsub("^[^:\n]+:%d+: ", "")) end

-- A piecewise-constant RGB scene (two halves and a centre box) with uint8 noise in [0, 12).
local function scene(h, w, seed)
  local g = lunet.Generator(seed)
  local noise = lunet.rand(3, h, w, { generator = g }):mul(12):floor():totable()
  local t = {}
  for c = 1, 3 do
    for y = 1, h do
      for x = 1, w do
        local v = (x <= w // 2) and 40 or 200
        if y > h // 3 and y <= 2 * h // 3 and x > w // 4 and x <= 3 * w // 4 then v = 100 + 30 * c end
        t[#t + 1] = v + noise[c][y][x]
      end
    end
  end
  return lunet.tensor(t, { dtype = "uint8", shape = { 3, h, w } }), g
end

local function random_probs(k, h, w, g)
  local p = lunet.randn(k, h, w, { generator = g }):mul(1.5):exp()
  return p:div(p:sum(1, true))
end

-- The update in plain Lua doubles: Q = softmax(log p); each iteration
-- Q_i(l) = softmax_l(log p_i(l) + sum_{j != i} (wp kp + wb kb) Q_j(l)).
local function lua_crf(p, rgb, o)
  local k, h, w = p:size(1), p:size(2), p:size(3)
  local P, I = p:totable(), rgb:float():totable()
  local n, U, Q = h * w, {}, {}
  local function xy(i) return (i - 1) % w, (i - 1) // w end
  for i = 1, n do
    local x, y = xy(i)
    U[i], Q[i] = {}, {}
    local s = 0
    for c = 1, k do
      U[i][c] = math.log(math.max(P[c][y + 1][x + 1], 1e-8))
      s = s + math.exp(U[i][c])
    end
    for c = 1, k do Q[i][c] = math.exp(U[i][c]) / s end
  end
  for _ = 1, o.iterations do
    local NQ = {}
    for i = 1, n do
      local xi, yi = xy(i)
      local m = {}
      for c = 1, k do m[c] = 0 end
      for j = 1, n do
        if j ~= i then
          local xj, yj = xy(j)
          local d2 = (xi - xj) ^ 2 + (yi - yj) ^ 2
          local c2 = 0
          for ch = 1, 3 do c2 = c2 + (I[ch][yi + 1][xi + 1] - I[ch][yj + 1][xj + 1]) ^ 2 end
          local kw = o.pos_w * math.exp(-d2 / (2 * o.pos_xy_std ^ 2))
            + o.bi_w * math.exp(-d2 / (2 * o.bi_xy_std ^ 2) - c2 / (2 * o.bi_rgb_std ^ 2))
          for c = 1, k do m[c] = m[c] + kw * Q[j][c] end
        end
      end
      local mx, e, s = -math.huge, {}, 0
      for c = 1, k do mx = math.max(mx, U[i][c] + m[c]) end
      for c = 1, k do
        e[c] = math.exp(U[i][c] + m[c] - mx)
        s = s + e[c]
      end
      NQ[i] = {}
      for c = 1, k do NQ[i][c] = e[c] / s end
    end
    Q = NQ
  end
  return Q
end

describe("classic.dense_crf reference", function()
  it("the O(N^2) kernel equals the Lua transcription (5 x 4, 3 classes, 2 iterations)", function()
    local rgb, g = scene(5, 4, 11)
    local p = random_probs(3, 5, 4, g)
    local o = { iterations = 2, pos_w = 0.7, pos_xy_std = 1.5, bi_w = 0.9, bi_xy_std = 3, bi_rgb_std = 30 }
    local q = K.dense_crf_naive(p, rgb, o)
    local want = lua_crf(p, rgb, o)
    local got = q:totable()
    for i = 1, 20 do
      local x, y = (i - 1) % 4, (i - 1) // 4
      for c = 1, 3 do
        assert.is_true(math.abs(got[c][y + 1][x + 1] - want[i][c]) < 2e-5)
      end
    end
  end)

  it("iterations = 0 or zero weights return the normalised probabilities", function()
    local rgb, g = scene(6, 7, 3)
    local p = random_probs(4, 6, 7, g)
    for _, o in ipairs { { iterations = 0 }, { pos_w = 0, bi_w = 0 } } do
      for _, f in ipairs { classic.dense_crf, K.dense_crf_naive } do
        local q, labels = f(p, rgb, o)
        assert.is_true(lunet.allclose(q, p, 0, 1e-6))
        assert.are.same(p:argmax(1):sub(1):totable(), labels:totable())
      end
    end
  end)
end)

describe("classic.dense_crf (permutohedral lattice) against the exact reference", function()
  -- Measured on the four scenes below: with small weights (messages about one logit, so q
  -- shows the filter's error) max |q - q_exact| = 0.052 (3 iterations, bi_xy_std 5,
  -- bi_rgb_std 20), 0.005-0.032 otherwise; bound 0.06. With DeepLab's defaults the argmax
  -- labels agree on 100 % of the pixels (5 iterations: >= 99.7 %); bound 99 %. With short
  -- kernels (bi_xy_std = bi_rgb_std = 10) on the 12 x 30 scene they agree on 83 %: the lattice
  -- approximates a 5-D Gaussian of 10 colour levels coarsely; bound 80 %.
  local scenes = { { 12, 12, 3, 1 }, { 16, 20, 4, 2 }, { 24, 24, 2, 3 }, { 12, 30, 5, 4 } }
  for _, s in ipairs(scenes) do
    it(("%d x %d, %d classes"):format(s[1], s[2], s[3]), function()
      local rgb, g = scene(s[1], s[2], s[4])
      local p = random_probs(s[3], s[1], s[2], g)
      for _, o in ipairs { { iterations = 1, pos_w = 0.02, bi_w = 0.02 },
                           { iterations = 3, pos_w = 0.02, bi_w = 0.02, bi_xy_std = 5, bi_rgb_std = 20 },
                           { iterations = 1, pos_w = 0.05, bi_w = 0 }, { iterations = 1, pos_w = 0, bi_w = 0.05 } } do
        local q1 = classic.dense_crf(p, rgb, o)
        local q2 = K.dense_crf_naive(p, rgb, o)
        assert.is_true(q1:sub(q2):abs():max():item() <= 0.06)
      end
      for _, c in ipairs { { {}, 0.99 }, { { iterations = 5 }, 0.99 }, { { bi_xy_std = 10, bi_rgb_std = 10 }, 0.8 } } do
        local _, l1 = classic.dense_crf(p, rgb, c[1])
        local _, l2 = K.dense_crf_naive(p, rgb, c[1])
        assert.is_true(l1:eq(l2):float():mean():item() >= c[2])
      end
    end)
  end

  it("float rgb in [0, 1] is the uint8 image / 255", function()
    local rgb, g = scene(10, 9, 5)
    local p = random_probs(3, 10, 9, g)
    local q1 = classic.dense_crf(p, rgb)
    local q2 = classic.dense_crf(p, rgb:float():div(255))
    assert.is_true(q1:sub(q2):abs():max():item() < 1e-4)
  end)

  it("cleans a noisy two-region prediction along the colour edge", function()
    local h, w = 32, 40
    local rgb, g = scene(h, w, 7)
    -- truth: the left half (x <= 20) is class 0, the rest class 1 (centre box ignored: it
    -- straddles the edge); probabilities 0.65 for the truth, flipped on 30 % of the pixels
    local flip = lunet.rand(h, w, { generator = g }):lt(0.3):totable()
    local t = {}
    for c = 0, 1 do
      for y = 1, h do
        for x = 1, w do
          local truth = x <= w // 2 and 0 or 1
          local lab = flip[y][x] == 1 and 1 - truth or truth
          t[#t + 1] = lab == c and 0.65 or 0.35
        end
      end
    end
    local p = lunet.tensor(t, { shape = { 2, h, w } })
    local function errors(labels)
      local l, bad = labels:totable(), 0
      for y = 1, h do
        for x = 1, w do
          local inbox = y > h // 3 and y <= 2 * h // 3 and x > w // 4 and x <= 3 * w // 4
          if not inbox and l[y][x] ~= (x <= w // 2 and 0 or 1) then bad = bad + 1 end
        end
      end
      return bad
    end
    local before = errors(p:argmax(1):sub(1))
    local _, labels = classic.dense_crf(p, rgb)
    assert.is_true(before > 200)
    assert.are.equal(0, errors(labels))
  end)
end)

describe("classic.dense_crf errors", function()
  local rgb = lunet.zeros(3, 4, 5):byte()
  local p = lunet.full({ 2, 4, 5 }, 0.5)
  local cases = {
    { function() return classic.dense_crf(p, rgb, { iteration = 3 }) end,
      "dense_crf: unknown option 'iteration' (did you mean 'iterations'?)" },
    { function() return classic.dense_crf(p:int(), rgb) end, "dense_crf: probs must be float32, got int32" },
    { function() return classic.dense_crf(lunet.zeros(4, 5), rgb) end,
      "dense_crf: probs must be K x H x W with K, H, W >= 1 (softmax output), got [4, 5]" },
    { function() return classic.dense_crf(p, lunet.zeros(4, 5)) end,
      "dense_crf: rgb must be 3 x H x W (RGB), got [4, 5]" },
    { function() return classic.dense_crf(p, lunet.zeros(3, 4, 6)) end,
      "dense_crf: rgb [3, 4, 6] does not match probs [2, 4, 5] in H x W" },
    { function() return classic.dense_crf(lunet.full({ 2, 4, 5 }, -0.5), rgb) end,
      "dense_crf: probs must hold finite probabilities >= 0, got -0.5 at flat index 1" },
    { function() return classic.dense_crf(lunet.full({ 2, 4, 5 }, 0 / 0), rgb) end,
      "dense_crf: probs must hold finite probabilities >= 0, got nan at flat index 1" },
    { function() return classic.dense_crf(p, lunet.full({ 3, 4, 5 }, 1 / 0)) end,
      "dense_crf: rgb holds a non-finite value (inf at flat index 1)" },
    { function() return classic.dense_crf(p, rgb, { iterations = -1 }) end,
      "dense_crf: option iterations must be in [0, 100000], got -1" },
    { function() return classic.dense_crf(p, rgb, { bi_xy_std = 0 }) end,
      "dense_crf: bi_xy_std must be a positive finite number, got 0" },
    { function() return classic.dense_crf(p, rgb, { pos_w = -1 }) end,
      "dense_crf: pos_w must be a finite number >= 0, got -1" },
    { function() return classic.dense_crf(p, rgb, { eps = 2 }) end,
      "dense_crf: option eps must be in (0, 1), got 2" },
    { function() return K.dense_crf_naive(lunet.full({ 2, 70, 70 }, 0.5), lunet.zeros(3, 70, 70)) end,
      "dense_crf_naive: the O(N^2) reference takes at most 4096 pixels, got [2, 70, 70]" },
  }
  for i, c in ipairs(cases) do
    it(("case %d: %s"):format(i, c[2]), function()
      local ok, e = pcall(c[1])
      assert.is_false(ok)
      assert.are.equal(c[2], strip(e))
    end)
  end
end)
