-- The fused batch norm + ReLU of the 2-D training step (core.nn.batch_norm_relu_forward /
-- _backward, fused.bn_relu, BatchNorm2d:forward_relu, the U-Net blocks): fast kernels
-- against their naive twins, the fused op against relu(batch_norm(x)) with separate kernels,
-- gradcheck, and the U-Net with fused blocks against the same net run layer by layer.
local lunet = require "lunet"
local core = require "lunet.core"
local nn = require "lunet.nn"
local F = nn.functional
local fused = require "lunet.nn.functional.fused"
local UNet = require "lunet.models.unet"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()

local knn = core.nn

-- max |a - b| <= atol + rtol * max |b|
local function assert_close(a, b, what, atol, rtol)
  assert.are.same(a:shape(), b:shape(), what .. ": shapes differ")
  local d = (a - b):abs():max():item()
  local m = b:numel() > 0 and b:abs():max():item() or 0
  assert(d <= atol + rtol * m, string.format("%s: max difference %g (max |ref| %g)", what, d, m))
end

local function same_bits(a, b, what)
  assert.are.same(a:shape(), b:shape(), what .. ": shapes differ")
  local d = (a - b):abs():max():item()
  assert(d == 0, string.format("%s: max difference %g, expected identical values", what, d))
end

describe("batch_norm_relu kernels", function()
  it("fast and naive agree on random shapes, training and eval, with and without affine", function()
    local g = lunet.Generator(31)
    local shapes = { { 2, 4, 64, 80 }, { 1, 3, 1, 1 }, { 3, 5, 7 }, { 4, 2 }, { 2, 3, 2, 3, 4 } }
    for _ = 1, 6 do
      shapes[#shapes + 1] = { g:randint(1, 5, {}):item(), g:randint(1, 7, {}):item(),
        g:randint(1, 19, {}):item(), g:randint(1, 23, {}):item() }
    end
    for _, threads in ipairs { 1, 2 } do
      H.with_threads(threads, function()
        for i, sh in ipairs(shapes) do
          local c = sh[2]
          local x = g:randn(sh) * 2 + 0.5
          local affine = i % 2 == 1
          local w = affine and (g:rand({ c }) + 0.5) or nil
          local b = affine and g:randn({ c }) or nil
          local s = 1
          for d = 3, #sh do s = s * sh[d] end
          local training = sh[1] * s > 1 and i % 3 ~= 0
          local rm, rv = g:randn({ c }), g:rand({ c }) + 0.5
          local rm2, rv2 = rm:clone(), rv:clone()
          local o = { training = training, momentum = 0.2 }
          local r1, m1, is1 = knn.batch_norm_relu_forward(x, rm, rv, w, b, o)
          local r2, m2, is2 = knn.batch_norm_relu_forward_naive(x, rm2, rv2, w, b, o)
          local what = string.format("[%s] training=%s threads=%d", table.concat(sh, ", "), tostring(training), threads)
          assert_close(r1, r2, "r " .. what, 1e-5, 1e-5)
          assert_close(m1, m2, "mean " .. what, 1e-6, 1e-5)
          assert_close(is1, is2, "invstd " .. what, 1e-6, 1e-5)
          assert_close(rm, rm2, "running_mean " .. what, 1e-6, 1e-5)
          assert_close(rv, rv2, "running_var " .. what, 1e-6, 1e-5)
          local dy = g:randn(sh)
          local gx1, gw1, gb1 = knn.batch_norm_relu_backward(dy, r1, x, m1, is1, w, b, training)
          local gx2, gw2, gb2 = knn.batch_norm_relu_backward_naive(dy, r1, x, m1, is1, w, b, training)
          assert_close(gx1, gx2, "gx " .. what, 1e-5, 1e-4)
          if affine then
            assert_close(gw1, gw2, "gw " .. what, 1e-5, 1e-4)
            assert_close(gb1, gb2, "gb " .. what, 1e-5, 1e-4)
          else
            assert.is_nil(gw1)
            assert.is_nil(gb1)
          end
        end
      end)
    end
  end)

  it("equal relu(batch_norm) computed by the separate kernels", function()
    local g = lunet.Generator(32)
    for _, training in ipairs { true, false } do
      local x = g:randn({ 3, 4, 9, 10 })
      local w, b = g:rand({ 4 }) + 0.5, g:randn({ 4 })
      local rm, rv = g:randn({ 4 }), g:rand({ 4 }) + 0.5
      local o = { training = training }
      local r, m, is = knn.batch_norm_relu_forward(x, rm:clone(), rv:clone(), w, b, o)
      local y, m2, is2 = knn.batch_norm_forward(x, rm:clone(), rv:clone(), w, b, o)
      same_bits(m, m2, "mean")
      same_bits(is, is2, "invstd")
      same_bits(r, knn.relu_forward(y), "r")
      local dy = g:randn({ 3, 4, 9, 10 })
      local gx, gw, gb = knn.batch_norm_relu_backward(dy, r, x, m, is, w, b, training)
      local gx2, gw2, gb2 = knn.batch_norm_backward(knn.relu_backward(dy, r), x, m, is, w, b, training)
      assert_close(gx, gx2, "gx", 1e-6, 1e-5)
      assert_close(gw, gw2, "gw", 1e-6, 1e-5)
      assert_close(gb, gb2, "gb", 1e-6, 1e-5)
    end
  end)

  it("keep NaN through the relu, as F.relu does", function()
    local x = lunet.tensor({ { { 1, 0 / 0, -1, 2 } }, { { 0.5, -3, 4, 1 } } })   -- (2, 1, 4)
    local r = knn.batch_norm_relu_forward(x, lunet.zeros(1), lunet.ones(1), nil, nil, { training = false })
    local t = r:tolist()
    assert(t[2] ~= t[2], "NaN expected")   -- tolist is flat, row-major
    assert.are.equal(0, t[3])
  end)

  it("check their arguments with batch_norm's messages", function()
    local x = lunet.randn(2, 3, 4, 4)
    assert.has_error(function() knn.batch_norm_relu_forward(x, nil, nil, lunet.ones(4), nil, { training = true }) end,
      "batch_norm: weight has shape [4], expected [3] (x [2, 3, 4, 4])")
    assert.has_error(function() knn.batch_norm_relu_forward(x, nil, nil, nil, nil, { trainig = true }) end,
      "batch_norm: unknown option 'trainig' (did you mean 'training'?)")
    assert.has_error(function() knn.batch_norm_relu_forward(lunet.randn(1, 3), nil, nil, nil, nil, { training = true }) end,
      "batch_norm: expected more than 1 value per channel when training, got x [1, 3]")
    local r, m, is = knn.batch_norm_relu_forward(x, nil, nil, nil, nil, { training = true })
    assert.has_error(function() knn.batch_norm_relu_backward(lunet.randn(2, 3, 4), r, x, m, is, nil, nil, true) end,
      "batch_norm_relu_backward: grad has shape [2, 3, 4], expected the shape of x [2, 3, 4, 4]")
    assert.has_error(function() knn.batch_norm_relu_backward(r, lunet.randn(2, 3, 4), x, m, is, nil, nil, true) end,
      "batch_norm_relu_backward: r has shape [2, 3, 4], expected the shape of x [2, 3, 4, 4]")
  end)
end)

describe("fused.bn_relu on 2-D batches", function()
  it("gives the values, gradients and running statistics of F.relu(F.batch_norm(...))", function()
    local gen = lunet.Generator(33)
    for _, training in ipairs { true, false } do
      local function leaf(...) return gen:randn({ ... }):requires_grad(true) end
      local x, w, b = leaf(4, 3, 6, 7), leaf(3), leaf(3)
      local rm1, rv1 = gen:randn({ 3 }), gen:rand({ 3 }) + 0.5
      local rm2, rv2 = rm1:clone(), rv1:clone()
      local o = { training = training, momentum = 0.3 }
      local y1 = fused.bn_relu(x, rm1, rv1, w, b, o)
      local g = gen:randn({ 4, 3, 6, 7 })
      y1:backward(g)
      local gx1, gw1, gb1 = x.grad, w.grad, b.grad
      x.grad, w.grad, b.grad = nil, nil, nil
      local y2 = F.relu(F.batch_norm(x, rm2, rv2, w, b, o))
      y2:backward(g)
      same_bits(y1, y2, "y")
      assert_close(gx1, x.grad, "gx", 1e-6, 1e-5)
      assert_close(gw1, w.grad, "gw", 1e-6, 1e-5)
      assert_close(gb1, b.grad, "gb", 1e-6, 1e-5)
      same_bits(rm1, rm2, "running_mean")
      same_bits(rv1, rv2, "running_var")
    end
  end)

  it("routes the gradients of a bias given without a weight", function()
    local gen = lunet.Generator(34)
    local x, b = gen:randn({ 3, 2, 4, 4 }):requires_grad(true), gen:randn({ 2 }):requires_grad(true)
    local g = gen:randn({ 3, 2, 4, 4 })
    fused.bn_relu(x, nil, nil, nil, b, { training = true }):backward(g)
    local gx, gb = x.grad, b.grad
    x.grad, b.grad = nil, nil
    F.relu(F.batch_norm(x, nil, nil, nil, b, { training = true })):backward(g)
    assert_close(gx, x.grad, "gx", 1e-6, 1e-5)
    assert_close(gb, b.grad, "gb", 1e-6, 1e-5)
  end)

  it("passes gradcheck in training and eval mode", function()
    local gen = lunet.Generator(35)
    local function leaf(...) return gen:randn({ ... }):requires_grad(true) end
    -- x away from the relu's kink at 0 after normalisation is not guaranteed: the tolerances
    -- are those of the volume spec's bn_relu gradcheck
    assert(lunet.gradcheck(function(x, w, b) return fused.bn_relu(x, nil, nil, w, b, { training = true }) end,
      { leaf(3, 2, 3, 4), leaf(2), leaf(2) }, { eps = 1e-2, atol = 2e-2, rtol = 2e-2 }))
    local rm, rv = gen:randn({ 2 }), gen:rand({ 2 }) + 0.5
    assert(lunet.gradcheck(function(x, w, b) return fused.bn_relu(x, rm, rv, w, b, { training = false }) end,
      { leaf(2, 2, 3, 3), leaf(2), leaf(2) }, { eps = 1e-2, atol = 2e-2, rtol = 2e-2 }))
  end)
end)

describe("BatchNorm2d:forward_relu and the U-Net blocks", function()
  it("BatchNorm2d:forward_relu equals relu(bn(x)), counts batches, and raises the module's messages", function()
    lunet.manual_seed(3)
    local a, b = nn.BatchNorm2d(3), nn.BatchNorm2d(3)
    local x = lunet.randn(2, 3, 5, 5)
    same_bits(a:forward_relu(x), F.relu(b(x)), "train y")
    same_bits(a.running_mean, b.running_mean, "running_mean")
    assert.are.equal(1, a.num_batches_tracked:item())
    a:eval(); b:eval()
    same_bits(a:forward_relu(x), F.relu(b(x)), "eval y")
    assert.has_error(function() a:forward_relu(lunet.randn(2, 4, 5, 5)) end,
      "BatchNorm2d: input has 4 channels, expected 3 (input [2, 4, 5, 5])")
  end)

  it("leaves subclasses (SyncBatchNorm) to their own forward", function()
    local Sub = nn.BatchNorm2d:extend("SubNorm")
    local calls = 0
    function Sub:forward(x)
      calls = calls + 1
      return nn.BatchNorm2d.forward(self, x)
    end
    local m = Sub(3)
    local x = lunet.randn(2, 3, 4, 4):requires_grad(true)
    local y = m:forward_relu(x)
    assert.are.equal(1, calls)
    assert.are_not.equal("bn_relu", y._node.name)
    local plain = nn.BatchNorm2d(3)
    assert.are.equal("bn_relu", plain:forward_relu(x)._node.name)
  end)

  for _, depth in ipairs { 2, 3 } do
    it("a U-Net (depth " .. depth .. ") gives the outputs and gradients of its blocks run layer by layer", function()
      lunet.manual_seed(5)
      local m1 = UNet { in_channels = 2, num_classes = 3, base = 4, depth = depth, norm = "batch" }
      lunet.manual_seed(5)
      local m2 = UNet { in_channels = 2, num_classes = 3, base = 4, depth = depth, norm = "batch" }
      -- m2's blocks call their children one by one (nn.Sequential's forward)
      for _, list in ipairs { m2.down, m2.dec } do
        for i = 1, #list do rawget(list[i], "_attrs").forward = nn.Sequential.forward end
      end
      local x = lunet.Generator(6):randn({ 2, 2, 12, 10 })
      local y = lunet.Generator(7):randint(0, 3, { 2, 12, 10 })
      for step = 1, 2 do
        for _, m in ipairs { m1, m2 } do
          for _, p in ipairs(m:parameters()) do p.grad = nil end
          F.cross_entropy(m(x), y):backward()
        end
        local p1, p2 = m1:parameters(), m2:parameters()
        assert.are.equal(#p1, #p2)
        for i = 1, #p1 do
          assert_close(p1[i].grad, p2[i].grad, "step " .. step .. " grad of parameter " .. i, 1e-6, 1e-4)
        end
        local s1, s2 = m1:state_dict(), m2:state_dict()
        for k, v in pairs(s2) do
          if v:dtype() == "float32" then assert_close(s1[k], v, k, 1e-6, 1e-5) end
        end
      end
      m1:eval(); m2:eval()
      lunet.no_grad(function() assert_close(m1(x), m2(x), "eval logits", 1e-6, 1e-5) end)
      -- the state dict keeps the plain Sequential numbering (down.1.2.weight is the first norm)
      assert(m1:state_dict()["down.1.2.weight"] ~= nil)
      assert.are.equal("Sequential", m1.down[1].__name)
      -- and the fused path is the one taken in training
      m1:train()
      assert.are.equal("bn_relu", m1.down[1](x)._node.name)
    end)
  end
end)
