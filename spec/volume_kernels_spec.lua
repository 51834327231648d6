-- The 3-D kernels (csrc/lt_conv3d.c, csrc/lt_pool3d.c, 5-D norms): PyTorch 1.13 values and
-- gradients (spec/ref/gen_volume_kernels.py), the fast kernels against the naive references
-- on random shapes (one and two threads), gradcheck of every differentiable op, the 3-D
-- modules, and argument errors with their exact messages.
local lunet = require "lunet"
local F = require "lunet.nn.functional"
local nn = require "lunet.nn"
local core = require "lunet.core"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local flat = H.flat

local refs = dofile("spec/ref/volume_kernels.lua")
local raw = core.nn

local function T(r)
  if r == nil then return nil end
  local t = lunet.tensor(r.data, { shape = r.shape })
  if r.dtype == "int32" then t = t:to("int32") end
  return t
end

-- "file:line: " prefixes of Lua-side checks
local function strip(msg) return (tostring(msg):gsub("^[^:]*:%d+: ", "")) end

-- |got - want| <= atol + rtol * |want| elementwise, the worst element in the message
local function assert_close(got, want, what, rtol, atol)
  rtol, atol = rtol or 1e-4, atol or 1e-4
  assert.are.same(want:shape(), got:shape(), what .. ": shape")
  local g, w = flat(got), flat(want)
  local worst, at = 0, 0
  for i = 1, #w do
    local e = math.abs(g[i] - w[i]) - (atol + rtol * math.abs(w[i]))
    if e ~= e then e = math.huge end
    if e > worst then worst, at = e, i end
  end
  assert(worst <= 0, string.format("%s: element %d is %.9g, expected %.9g", what, at,
    g[at] or 0 / 0, w[at] or 0 / 0))
end

local function with_threads(n, fn)
  local old = lunet.get_num_threads()
  lunet.set_num_threads(n)
  local ok, err = pcall(fn)
  lunet.set_num_threads(old)
  if not ok then error(err, 0) end
end

-- op(case, inputs) -> y [, idx]; inputs are tensors that require grad where they should
local run = {
  conv3d = function(c, i) return F.conv3d(i.x, i.w, i.b, c.opts) end,
  conv_transpose3d = function(c, i) return F.conv_transpose3d(i.x, i.w, i.b, c.opts) end,
  max_pool3d = function(c, i) return F.max_pool3d(i.x, c.opts) end,
  max_unpool3d = function(c, i) return F.max_unpool3d(i.x, T(c.indices), c.opts) end,
  avg_pool3d = function(c, i) return F.avg_pool3d(i.x, c.opts) end,
  adaptive_avg_pool3d = function(c, i) return F.adaptive_avg_pool3d(i.x, c.opts.size) end,
  interpolate = function(c, i) return F.interpolate(i.x, c.opts) end,
  batch_norm = function(c, i)
    i.rm, i.rv = T(c.rm0), T(c.rv0)
    return F.batch_norm(i.x, i.rm, i.rv, i.w, i.b, c.opts)
  end,
  group_norm = function(c, i)
    return F.group_norm(i.x, c.opts.groups, i.w, i.b, { eps = c.opts.eps })
  end,
  instance_norm = function(c, i)
    i.rm, i.rv = T(c.rm0), T(c.rv0)
    local o = { running_mean = i.rm, running_var = i.rv, weight = i.w, bias = i.b }
    for k, v in pairs(c.opts) do o[k] = v end
    return F.instance_norm(i.x, o)
  end,
  prelu = function(c, i) return F.prelu(i.x, i.w) end,
}

describe("3-D kernels against PyTorch 1.13", function()
  for _, c in ipairs(refs) do
    it(c.op .. ": " .. c.name, function()
      local i = {}
      for _, k in ipairs { "x", "w", "b" } do
        if c[k] then i[k] = T(c[k]):requires_grad(true) end
      end
      local y, idx = run[c.op](c, i)
      assert_close(y, T(c.y), "y")
      if c.idx then assert.are.same(flat(T(c.idx)), flat(idx), "indices") end
      if c.rm then
        assert_close(i.rm, T(c.rm), "running_mean after", 1e-5, 1e-6)
        assert_close(i.rv, T(c.rv), "running_var after", 1e-5, 1e-6)
      end
      y:backward(T(c.gy))
      for _, k in ipairs { "x", "w", "b" } do
        if c["g" .. k] then assert_close(i[k].grad, T(c["g" .. k]), "grad " .. k, 1e-4, 2e-4) end
      end
    end)
  end
end)

describe("fast 3-D kernels against the naive references", function()
  local gen = lunet.Generator(7)
  local function R(...) return gen:randn({ ... }) end
  local function ri(lo, hi) return gen:randint(lo, hi + 1, { 1 }):item() end

  -- random conv configurations: small ones and ones big enough for a two-thread team
  local function conv_case(big)
    local g = ({ 1, 1, 2, 3 })[ri(1, 4)]
    local cin, cout = g * ri(1, 3), g * ri(1, 3)
    if big then cin, cout = g * ri(3, 6), g * ri(3, 6) end
    local k = { ri(1, 3), ri(1, 3), ri(1, 3) }
    local s = { ri(1, 2), ri(1, 2), ri(1, 2) }
    local p = { ri(0, 1), ri(0, 2), ri(0, 1) }
    local d = { ri(1, 2), 1, ri(1, 2) }
    local size = big and { ri(8, 12), ri(8, 12), ri(8, 14) } or { ri(3, 7), ri(3, 7), ri(3, 7) }
    for j = 1, 3 do
      if size[j] + 2 * p[j] < d[j] * (k[j] - 1) + 1 then size[j] = d[j] * (k[j] - 1) + 1 end
    end
    return { n = ri(1, 2), cin = cin, cout = cout, g = g, k = k, s = s, p = p, d = d, size = size }
  end

  local function check_conv(c, threads)
    with_threads(threads, function()
      local x = R(c.n, c.cin, c.size[1], c.size[2], c.size[3])
      local w = R(c.cout, c.cin // c.g, c.k[1], c.k[2], c.k[3])
      local b = R(c.cout)
      local o = { stride = c.s, padding = c.p, dilation = c.d, groups = c.g }
      local what = string.format("conv3d x [%d,%d,%d,%d,%d] k {%d,%d,%d} s {%d,%d,%d} p {%d,%d,%d} "
        .. "d {%d,%d,%d} g %d, %d threads", c.n, c.cin, c.size[1], c.size[2], c.size[3], c.k[1],
        c.k[2], c.k[3], c.s[1], c.s[2], c.s[3], c.p[1], c.p[2], c.p[3], c.d[1], c.d[2], c.d[3], c.g, threads)
      local y = raw.conv3d_forward(x, w, b, o)
      assert_close(y, raw.conv3d_forward_naive(x, w, b, o), what .. " forward")
      local gy = R(table.unpack(y:shape()))
      local dx, dw, db = raw.conv3d_backward(gy, x, w, o)
      local nx, nw, nb = raw.conv3d_backward_naive(gy, x, w, o)
      assert_close(dx, nx, what .. " dx")
      assert_close(dw, nw, what .. " dw", 1e-4, 1e-3)
      assert_close(db, nb, what .. " db", 1e-4, 1e-3)
      -- the transposed conv with the same weight layout read as (Cin_t, Cout_t / g, ...)
      local wt = R(c.cin, c.cout // c.g, c.k[1], c.k[2], c.k[3])
      local op = { c.s[1] > 1 and 1 or 0, 0, 0 }
      local ot = { stride = c.s, padding = c.p, dilation = c.d, groups = c.g, output_padding = op }
      local ok, t = pcall(raw.conv_transpose3d_forward, x, wt, R(c.cout), ot)
      if ok then
        local bt = R(c.cout)
        t = raw.conv_transpose3d_forward(x, wt, bt, ot)
        assert_close(t, raw.conv_transpose3d_forward_naive(x, wt, bt, ot), what .. " transposed forward")
        local gt = R(table.unpack(t:shape()))
        local ax, aw, ab = raw.conv_transpose3d_backward(gt, x, wt, ot)
        local bx, bw, bb = raw.conv_transpose3d_backward_naive(gt, x, wt, ot)
        assert_close(ax, bx, what .. " transposed dx")
        assert_close(aw, bw, what .. " transposed dw", 1e-4, 1e-3)
        assert_close(ab, bb, what .. " transposed db", 1e-4, 1e-3)
      end
    end)
  end

  it("conv3d and conv_transpose3d on 40 small random configurations", function()
    for _ = 1, 40 do check_conv(conv_case(false), 1) end
  end)

  it("conv3d and conv_transpose3d on larger random configurations, 1 and 2 threads", function()
    for _ = 1, 4 do
      local c = conv_case(true)
      check_conv(c, 1)
      check_conv(c, 2)
    end
  end)

  -- the unit-depth-stride kernels split an output plane into row blocks of about 64k floats
  -- of columns, at least 192 columns (forward, input gradient) or 512 (weight gradient): with
  -- 24-30 input channels per group and 3x3 taps, planes of 500-700 columns take several blocks
  -- in both, with uneven last blocks, depth padding and dilation, groups
  it("conv3d on planes split into row blocks, 1 and 2 threads", function()
    for _ = 1, 3 do
      local g = ({ 1, 2 })[ri(1, 2)]
      local c = { n = ri(1, 2), cin = g * ri(24, 30), cout = g * ri(1, 3), g = g,
        k = { ri(2, 3), 3, 3 }, s = { 1, 1, 1 }, p = { ri(0, 2), 1, 1 },
        d = { ri(1, 2), 1, 1 }, size = { ri(3, 4), ri(20, 25), ri(27, 28) } }
      check_conv(c, 1)
      check_conv(c, 2)
    end
  end)

  it("the U-Net layer shapes: 3x3x3 padding 1, 1x1x1, 2x2x2 stride 2 (transposed), 2 threads", function()
    with_threads(2, function()
      for _, c in ipairs {
        { n = 2, cin = 4, cout = 8, g = 1, k = { 3, 3, 3 }, s = { 1, 1, 1 }, p = { 1, 1, 1 }, d = { 1, 1, 1 }, size = { 8, 8, 8 } },
        { n = 2, cin = 8, cout = 3, g = 1, k = { 1, 1, 1 }, s = { 1, 1, 1 }, p = { 0, 0, 0 }, d = { 1, 1, 1 }, size = { 8, 8, 8 } },
        { n = 1, cin = 6, cout = 4, g = 1, k = { 2, 2, 2 }, s = { 2, 2, 2 }, p = { 0, 0, 0 }, d = { 1, 1, 1 }, size = { 8, 8, 8 } },
      } do
        check_conv(c, 2)
      end
    end)
  end)

  it("max_pool3d, avg_pool3d, adaptive_avg_pool3d and interpolation on random shapes", function()
    for trial = 1, 30 do
      local threads = trial % 2 + 1
      with_threads(threads, function()
        local k = { ri(1, 3), ri(1, 3), ri(1, 3) }
        local s = { ri(1, 3), ri(1, 3), ri(1, 3) }
        local p = { ri(0, k[1] // 2), ri(0, k[2] // 2), ri(0, k[3] // 2) }
        local d = { ri(1, 2), ri(1, 2), 1 }
        local big = trial % 5 == 0
        local n, c = ri(1, 2), big and 8 or ri(1, 3)
        local size = {}
        for j = 1, 3 do size[j] = math.max(big and ri(10, 16) or ri(2, 7), d[j] * (k[j] - 1) + 1) end
        local x = R(n, c, size[1], size[2], size[3])
        local cm = ri(0, 1) == 1
        local mo = { kernel = k, stride = s, padding = p, dilation = d, ceil_mode = cm }
        local what = string.format("trial %d", trial)
        local y1, i1 = raw.max_pool3d(x, mo, true)
        local y2, i2 = raw.max_pool3d_naive(x, mo, true)
        assert_close(y1, y2, what .. " max_pool3d", 0, 0)
        assert.are.same(flat(i2), flat(i1), what .. " max_pool3d indices")
        local ao = { kernel = k, stride = s, padding = p, ceil_mode = cm, count_include_pad = ri(0, 1) == 1 }
        if trial % 3 == 0 then ao.divisor_override = ri(1, 9) end
        assert_close(raw.avg_pool3d(x, ao), raw.avg_pool3d_naive(x, ao), what .. " avg_pool3d", 1e-5, 1e-6)
        local io = { size = { ri(1, 9), ri(1, 9), ri(1, 9) }, mode = "trilinear", align_corners = ri(0, 1) == 1 }
        assert_close(raw.interpolate3d(x, io), raw.interpolate3d_naive(x, io), what .. " trilinear", 1e-5, 1e-6)
        local no = trial % 2 == 0 and { size = { ri(1, 9), ri(1, 9), ri(1, 9) } }
          or { scale_factor = { ri(5, 25) / 10, ri(5, 25) / 10, ri(5, 25) / 10 } }
        assert_close(raw.interpolate3d(x, no), raw.interpolate3d_naive(x, no), what .. " nearest", 0, 0)
        local asz = { ri(1, 9), ri(1, 9), ri(1, 9) }
        assert_close(raw.adaptive_avg_pool3d(x, asz), raw.adaptive_avg_pool3d_naive(x, asz),
          what .. " adaptive_avg_pool3d", 1e-5, 1e-6)
      end)
    end
  end)

  it("the 2x2x2 max pooling fast path keeps PyTorch's NaN and tie rules", function()
    local x = lunet.zeros(1, 1, 2, 2, 4)
    local v = flat(x)
    v[2] = 0 / 0; v[3] = 5; v[8] = 5
    x = lunet.tensor(v, { shape = { 1, 1, 2, 2, 4 } })
    local y1, i1 = raw.max_pool3d(x, { kernel = 2 }, true)
    local y2, i2 = raw.max_pool3d_naive(x, { kernel = 2 }, true)
    assert.are.same(flat(i2), flat(i1))
    assert.is_true(flat(y1)[1] ~= flat(y1)[1])   -- NaN wins
    assert.are.same({ 2, 3 }, flat(i1))            -- the first of the tied 5s
    assert.are.equal(5, flat(y2)[2])
  end)
end)

describe("gradcheck of the 3-D ops", function()
  local gen = lunet.Generator(11)
  local function P(...) return gen:randn({ ... }):requires_grad(true) end
  local function check(name, fn, inputs, opts)
    local ok, msg = lunet.gradcheck(fn, inputs, opts or { eps = 1e-2, atol = 1e-2, rtol = 1e-2 })
    assert(ok, name .. ": " .. tostring(msg))
  end
  it("conv3d (stride, padding, dilation, groups)", function()
    check("conv3d", function(x, w, b)
      return F.conv3d(x, w, b, { stride = { 1, 2, 1 }, padding = { 1, 0, 1 }, dilation = { 1, 1, 2 }, groups = 2 })
    end, { P(1, 4, 3, 4, 5), P(2, 2, 2, 2, 3), P(2) })
  end)
  it("conv_transpose3d (output_padding)", function()
    check("conv_transpose3d", function(x, w, b)
      return F.conv_transpose3d(x, w, b, { stride = 2, padding = { 0, 1, 0 }, output_padding = { 1, 0, 1 } })
    end, { P(1, 2, 2, 3, 2), P(2, 2, 2, 3, 2), P(2) })
  end)
  it("max_pool3d", function()
    check("max_pool3d", function(x) return F.max_pool3d(x, { kernel = 2, stride = { 1, 2, 2 }, padding = 1 }) end,
      { P(1, 2, 3, 4, 4) })
  end)
  it("avg_pool3d", function()
    check("avg_pool3d", function(x)
      return F.avg_pool3d(x, { kernel = 3, stride = 2, padding = 1, ceil_mode = true, count_include_pad = false })
    end, { P(1, 2, 4, 5, 3) })
  end)
  it("max_unpool3d", function()
    local x = gen:randn({ 1, 2, 4, 4, 4 })
    local y, idx = F.max_pool3d(x, { kernel = 2, return_indices = true })
    check("max_unpool3d", function(v) return F.max_unpool3d(v, idx, { kernel = 2 }) end,
      { y:detach():requires_grad(true) })
  end)
  it("adaptive_avg_pool3d", function()
    check("adaptive_avg_pool3d", function(x) return F.adaptive_avg_pool3d(x, { 2, 3, 2 }) end, { P(1, 2, 5, 4, 3) })
  end)
  it("interpolate trilinear (both align_corners) and nearest", function()
    check("trilinear", function(x)
      return F.interpolate(x, { size = { 4, 3, 5 }, mode = "trilinear", align_corners = false })
    end, { P(1, 2, 2, 3, 3) })
    check("trilinear ac", function(x)
      return F.interpolate(x, { scale_factor = 2, mode = "trilinear", align_corners = true })
    end, { P(1, 1, 2, 3, 2) })
    check("nearest", function(x) return F.interpolate(x, { size = { 3, 5, 4 } }) end, { P(1, 2, 2, 3, 3) })
  end)
  it("batch_norm, group_norm and instance_norm on 5-D input, prelu", function()
    local x = P(2, 3, 2, 3, 2)
    check("batch_norm", function(v, w, b)
      return F.batch_norm(v, nil, nil, w, b, { training = true })
    end, { x, P(3), P(3) })
    check("group_norm", function(v, w, b) return F.group_norm(v, 3, w, b) end, { P(2, 3, 2, 2, 3), P(3), P(3) })
    check("instance_norm", function(v, w, b) return F.instance_norm(v, { weight = w, bias = b }) end,
      { P(2, 3, 2, 3, 2), P(3), P(3) })
    -- prelu has a kink at 0: inputs at least 0.1 away from it
    local v = gen:randn({ 2, 3, 2, 2, 2 })
    v = (v + v:sign() * 0.1):detach():requires_grad(true)
    check("prelu", function(a, w) return F.prelu(a, w) end, { v, P(3) })
  end)
end)

describe("fused ops of the volume models (lunet.nn.functional.fused)", function()
  local fused = require "lunet.nn.functional.fused"
  it("bn_relu and conv_transpose3d_cat give the values and gradients of the plain ops", function()
    local gen = lunet.Generator(21)
    local function leaf(...) return gen:randn({ ... }):requires_grad(true) end
    local x, w, b = leaf(2, 3, 2, 3, 4), leaf(3), leaf(3)
    local rm1, rv1, rm2, rv2 = lunet.zeros(3), lunet.ones(3), lunet.zeros(3), lunet.ones(3)
    local o1 = { training = true, momentum = 0.3 }
    local y1 = fused.bn_relu(x, rm1, rv1, w, b, o1)
    local g = gen:randn({ 2, 3, 2, 3, 4 })
    y1:backward(g)
    local gx1, gw1, gb1 = x.grad, w.grad, b.grad
    x.grad, w.grad, b.grad = nil, nil, nil
    local y2 = F.relu(F.batch_norm(x, rm2, rv2, w, b, o1))
    y2:backward(g)
    assert_close(y1, y2, "bn_relu y", 1e-6, 1e-6)
    assert_close(gx1, x.grad, "bn_relu gx", 1e-5, 1e-6)
    assert_close(gw1, w.grad, "bn_relu gw", 1e-5, 1e-6)
    assert_close(gb1, b.grad, "bn_relu gb", 1e-5, 1e-6)
    assert_close(rm1, rm2, "bn_relu running_mean", 0, 0)
    local u, wt, bt, skip = leaf(1, 4, 2, 2, 3), leaf(4, 2, 2, 2, 2), leaf(2), leaf(1, 3, 4, 4, 6)
    local c1 = fused.conv_transpose3d_cat(u, wt, bt, skip, { stride = 2 })
    local gc = gen:randn({ 1, 5, 4, 4, 6 })
    c1:backward(gc)
    local r = { u.grad, wt.grad, bt.grad, skip.grad }
    u.grad, wt.grad, bt.grad, skip.grad = nil, nil, nil, nil
    local c2 = lunet.cat({ F.conv_transpose3d(u, wt, bt, { stride = 2 }), skip }, 2)
    c2:backward(gc)
    assert_close(c1, c2, "conv_transpose3d_cat y", 0, 0)
    for k, t in ipairs { u, wt, bt, skip } do assert_close(r[k], t.grad, "conv_transpose3d_cat grad " .. k, 1e-6, 1e-6) end
  end)
  it("pass gradcheck", function()
    local gen = lunet.Generator(22)
    local function leaf(...) return gen:randn({ ... }):requires_grad(true) end
    assert(lunet.gradcheck(function(x, w, b) return fused.bn_relu(x, nil, nil, w, b, { training = true }) end,
      { leaf(2, 2, 2, 2, 3), leaf(2), leaf(2) }, { eps = 1e-2, atol = 2e-2, rtol = 2e-2 }))
    assert(lunet.gradcheck(function(x, w, s, b) return fused.conv_transpose3d_cat(x, w, b, s, { stride = 2 }) end,
      { leaf(1, 2, 2, 1, 2), leaf(2, 2, 2, 2, 2), leaf(1, 1, 4, 2, 4), leaf(2) }, { eps = 1e-2, atol = 1e-2, rtol = 1e-2 }))
  end)
end)

describe("3-D modules", function()
  it("have PyTorch's weight layouts, defaults and state-dict names", function()
    local c = nn.Conv3d(4, 6, { 3, 1, 2 }, { groups = 2 })
    assert.are.same({ 6, 2, 3, 1, 2 }, c.weight:shape())
    local t = nn.ConvTranspose3d(4, 6, 2, { stride = 2, groups = 2 })
    assert.are.same({ 4, 3, 2, 2, 2 }, t.weight:shape())
    assert.are.same({ 2, 6, 6, 8, 10 }, t(lunet.randn(2, 4, 3, 4, 5)):shape())
    local bn = nn.BatchNorm3d(3)
    local names = {}
    for k in pairs(bn:state_dict()) do names[#names + 1] = k end
    table.sort(names)
    assert.are.same({ "bias", "num_batches_tracked", "running_mean", "running_var", "weight" }, names)
    local inn = nn.InstanceNorm3d(3)
    assert.are.equal(0, inn:num_parameters())
    assert.is_nil(inn.running_mean)
    local p = nn.PReLU(3)
    assert.are.same({ 0.25, 0.25, 0.25 }, flat(p.weight))
    assert.are.same({ 2, 3, 2, 2, 3 }, nn.AvgPool3d(2)(lunet.randn(2, 3, 4, 5, 6)):shape())
    assert.are.same({ 2, 3, 1, 2, 3 }, nn.AdaptiveAvgPool3d { output_size = { 1, 2, 3 } }(lunet.randn(2, 3, 4, 5, 6)):shape())
  end)

  it("MaxPool3d with indices round-trips through MaxUnpool3d", function()
    local x = lunet.rand(2, 3, 4, 6, 4) + 0.1   -- positive: the zeros unpooling adds never win
    local y, idx = nn.MaxPool3d { kernel_size = 2, return_indices = true }(x)
    local u = nn.MaxUnpool3d(2)(y, idx)
    assert.are.same(x:shape(), u:shape())
    -- every pooled maximum is back at its place, the rest is zero
    assert.is_true(lunet.allclose(F.max_pool3d(u, { kernel = 2 }), y))
  end)

  it("InstanceNorm3d tracks running statistics and uses them in eval mode", function()
    local m = nn.InstanceNorm3d(2, { track_running_stats = true, affine = true })
    local x = lunet.randn(2, 2, 3, 3, 3) * 3 + 1
    m(x)
    assert.are.equal(1, m.num_batches_tracked:item())
    assert.is_true(m.running_mean:abs():sum():item() > 0)
    m:eval()
    local y = m(x)
    local want = F.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, { training = false })
    assert.is_true(lunet.allclose(y, want))
    -- unbatched input
    assert.are.same({ 2, 3, 3, 3 }, m(x:select(1, 1)):shape())
  end)
end)

describe("3-D argument errors", function()
  local x5, w5 = lunet.randn(2, 3, 4, 4, 4), lunet.randn(4, 3, 3, 3, 3)
  local cases = {
    { function() return F.conv2d(x5, lunet.randn(4, 3, 3, 3)) end,
      "conv2d: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got [2, 3, 4, 4, 4]" },
    { function() return F.conv3d(lunet.randn(3, 4, 4), w5) end,
      "conv3d: input must be 4-D (C, D, H, W) or 5-D (N, C, D, H, W), got [3, 4, 4]" },
    { function() return F.conv3d(x5, lunet.randn(4, 3, 3, 3)) end,
      "conv3d: weight must be 5-D (out, in/groups, kd, kh, kw), got [4, 3, 3, 3]" },
    { function() return F.conv3d(lunet.randn(2, 2, 4, 4, 4), w5) end,
      "conv3d: input has 2 channels, weight expects 3 (input [2, 2, 4, 4, 4], weight [4, 3, 3, 3, 3])" },
    { function() return F.conv3d(x5, w5, lunet.randn(3)) end, "conv3d: bias must be 1-D of size 4, got [3]" },
    { function() return F.conv3d(x5, lunet.randn(4, 3, 5, 3, 3)) end,
      "conv3d: kernel (5, 3, 3) with dilation (1, 1, 1) is larger than the padded input (4, 4, 4) "
      .. "(input [2, 3, 4, 4, 4], padding (0, 0, 0))" },
    { function() return F.conv3d(x5, w5, { stride = { 1, 0, 1 } }) end,
      "conv3d: stride must be positive, got (1, 0, 1)" },
    { function() return F.conv3d(x5, w5, { padding = { 1, 1 } }) end,
      "conv3d: padding must be an integer or a table {d, h, w} of integers, got {1, 1}" },
    { function() return F.conv3d(x5, w5, { paddin = 1 }) end,
      "conv3d: unknown option 'paddin' (did you mean 'padding'?)" },
    { function() return F.conv3d(x5, lunet.randn(4, 1, 3, 3, 3), { groups = 2 }) end,
      "conv3d: groups 2 does not divide input channels 3 (input [2, 3, 4, 4, 4])" },
    { function() return F.conv_transpose3d(x5, lunet.randn(3, 2, 3, 3, 3), { stride = 2, output_padding = 2 }) end,
      "conv_transpose3d: output_padding (2, 2, 2) must be smaller than stride (2, 2, 2) or dilation (1, 1, 1)" },
    { function() return F.max_pool3d(x5, { kernel = 2, padding = 2 }) end,
      "max_pool3d: padding (2, 2, 2) must be at most half the kernel (2, 2, 2)" },
    { function() return F.max_pool3d(x5, { kernel = { 5, 2, 2 } }) end,
      "max_pool3d: kernel (5, 2, 2) (dilation (1, 1, 1)) is larger than the padded input (4, 4, 4) "
      .. "(input [2, 3, 4, 4, 4], padding (0, 0, 0))" },
    { function() return F.max_pool3d(x5, {}) end, "max_pool3d: opts.kernel is required" },
    { function() return F.avg_pool3d(x5, { kernel = 2, divisor_override = 0 }) end,
      "avg_pool3d: divisor_override must be positive, got 0" },
    { function()
        local y, i = F.max_pool3d(x5, { kernel = 2, return_indices = true })
        return F.max_unpool3d(y, i, { kernel = 2, output_size = { 6, 4, 4 } })
      end, "max_unpool3d: output_size depth 6 must be strictly between 2 and 6" },
    { function() return F.max_unpool3d(lunet.randn(1, 1, 2, 2, 2), lunet.full({ 1, 1, 2, 2, 2 }, 65):to("int32"), { kernel = 2 }) end,
      "max_unpool3d: index 65 is outside [1, 64] (1-based positions in an output volume of (4, 4, 4))" },
    { function() return F.interpolate(x5, { scale_factor = 2, mode = "bilinear" }) end,
      "interpolate: mode must be \"nearest\" or \"trilinear\" for 5-D input, got 'bilinear'" },
    { function() return F.interpolate(x5, { size = { 2, 2 } }) end,
      "interpolate: size must be an integer or a table {d, h, w} of integers, got {2, 2}" },
    { function() return F.interpolate(x5, { scale_factor = 2, align_corners = true }) end,
      "interpolate: align_corners can only be set with mode \"trilinear\"" },
    { function() return F.adaptive_avg_pool3d(x5, { 0, 1, 1 }) end,
      "adaptive_avg_pool3d: output size must be positive, got (0, 1, 1) (x [2, 3, 4, 4, 4])" },
    { function() return F.instance_norm(lunet.randn(2, 3, 1, 1, 1)) end,
      "instance_norm: expected more than 1 spatial element when training, got x [2, 3, 1, 1, 1]" },
    { function() return F.instance_norm(x5, { use_input_stats = false }) end,
      "instance_norm: running_mean and running_var are required when use_input_stats is false" },
    { function() return F.prelu(x5, lunet.ones(2)) end,
      "prelu: weight has 2 elements, expected 1 or the 3 channels of x [2, 3, 4, 4, 4]" },
    { function() return nn.Conv3d(3, 4, { 3, 3 }) end,
      "Conv3d: kernel_size must be an integer >= 1 or a {d, h, w} table of them, got {3, 3}" },
    { function() return nn.BatchNorm3d(3)(lunet.randn(2, 3, 4, 4)) end,
      "BatchNorm3d: expected a 5-D input (N, C, D, H, W), got [2, 3, 4, 4]" },
  }
  for i, c in ipairs(cases) do
    it("case " .. i .. ": " .. c[2]:sub(1, 60), function()
      local ok, err = pcall(c[1])
      assert.is_false(ok)
      assert.are.equal(c[2], strip(err))
    end)
  end
end)
