-- The fused cross-entropy forward+backward (core.nn.cross_entropy_forward with grad = true,
-- lt_cross_entropy_forward_grad): loss and gradient against the naive kernels on random
-- shapes, class weights, ignored pixels and label smoothing, with 1 and 2 threads; F.cross_entropy
-- built on it keeps its values and gradients (gout 1, scaled, retain_graph) and its gradcheck.
local lunet = require "lunet"
local core = require "lunet.core"
local F = require "lunet.nn".functional
local knn = core.nn

local function max_err(a, b)
  local d = (a - b):abs()
  local scale = b:abs() + 1
  return (d / scale):max():item()
end

local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local each_level = H.each_isa

describe("fused cross-entropy forward+backward", function()
  after_each(function() lunet.set_num_threads(2) end)

  it("matches the naive forward and backward on random cases", function()
    each_level(function(level)
      local g = lunet.Generator(11)
      for case = 1, 24 do
        local N, C = g:randint(1, 4, {}):item(), g:randint(1, 13, {}):item()
        local H, W = g:randint(1, 11, {}):item(), g:randint(1, 80, {}):item()
        local x = g:randn(N, C, H, W) * (case % 6 == 0 and 60 or 4)   -- 60: exponents below -87
        local y = g:randint(0, C, { N, H, W }):to("int32")
        local o = { reduction = case % 2 == 0 and "sum" or "mean" }
        if case % 3 == 0 then
          o.ignore_index = 255
          local drop = g:rand(N, H, W):lt(0.3)
          y = lunet.where(drop, lunet.full({ N, H, W }, 255, { dtype = "int32" }), y)
        end
        if case % 4 == 1 then o.weight = g:rand(C) + 0.2 end
        if case % 5 == 2 then o.label_smoothing = 0.15 end
        for _, threads in ipairs { 1, 2 } do
          lunet.set_num_threads(threads)
          local what = string.format("%s case %d [%d, %d, %d, %d] %s threads %d", level, case, N, C, H, W, o.reduction, threads)
          o.grad, o.naive = true, nil
          local l1, g1 = knn.cross_entropy_forward(x, y, o)
          o.naive = true
          local l2, g2 = knn.cross_entropy_forward(x, y, o)
          o.grad, o.naive = nil, nil
          local l3 = knn.cross_entropy_forward(x, y, o)
          local g3 = knn.cross_entropy_backward(lunet.tensor(1), x, y, o)
          assert.are.same(x:shape(), g1:shape())
          if l2:item() == l2:item() then   -- NaN when every pixel is ignored (mean), as PyTorch
            assert.is_true(max_err(l1, l2) < 1e-5, "loss vs naive " .. what)
            assert.is_true(max_err(l1, l3) < 1e-5, "loss vs separate kernel " .. what)
          else
            assert.is_true(l1:item() ~= l1:item(), "NaN loss " .. what)
          end
          if l2:item() == l2:item() then
            assert.is_true(max_err(g1, g2) < 1e-5, "grad vs naive " .. what)
            assert.is_true(max_err(g1, g3) < 1e-5, "grad vs separate kernel " .. what)
          end
        end
      end
    end)
  end)

  it("overwrites the whole gradient, ignored pixels included", function()
    local x = lunet.randn(2, 3, 5, 7)
    local y = lunet.full({ 2, 5, 7 }, 255, { dtype = "int32" })
    y:set(2, 1, 1, 1)
    local _, gr = knn.cross_entropy_forward(x, y, { ignore_index = 255, reduction = "sum", grad = true })
    local ref = knn.cross_entropy_backward(lunet.tensor(1), x, y, { ignore_index = 255, reduction = "sum" })
    assert.are.equal(0, (gr - ref):abs():max():item() > 1e-6 and 1 or 0)
    assert.are.equal(3, gr:ne(0):sum():item())   -- one pixel's three classes
  end)

  it("refuses grad with reduction none", function()
    local ok, err = pcall(knn.cross_entropy_forward, lunet.randn(1, 2, 3), lunet.zeros({ 1, 3 }, { dtype = "int32" }),
      { reduction = "none", grad = true })
    assert.is_false(ok)
    assert.are.equal("cross_entropy: grad = true needs reduction 'mean' or 'sum', got 'none'", err)
  end)

  it("F.cross_entropy: the gradient for gout 1, scaled gout and a retained second backward", function()
    local g = lunet.Generator(5)
    local x0 = g:randn(3, 4, 6, 5)
    local y = g:randint(0, 4, { 3, 6, 5 }):to("int32")
    local w = g:rand(4) + 0.5
    local ref = knn.cross_entropy_backward(lunet.tensor(1), x0, y, { weight = w, label_smoothing = 0.1 })
    -- gout 1
    local x = x0:clone():requires_grad()
    F.cross_entropy(x, y, { weight = w, label_smoothing = 0.1 }):backward()
    assert.is_true(max_err(x.grad, ref) < 1e-6)
    -- scaled (deep supervision weights, loss * 0.25)
    x = x0:clone():requires_grad()
    local scaled = F.cross_entropy(x, y, { weight = w, label_smoothing = 0.1 }) * 0.25
    scaled:backward()
    assert.is_true(max_err(x.grad, ref * 0.25) < 1e-6)
    -- retained graph, two backwards: the second recomputes and accumulates the same again
    x = x0:clone():requires_grad()
    local loss = F.cross_entropy(x, y, { weight = w, label_smoothing = 0.1 })
    loss:backward(nil, { retain_graph = true })
    loss:backward()
    assert.is_true(max_err(x.grad, ref * 2) < 1e-5)
    -- the loss value is the separate kernel's
    local l = knn.cross_entropy_forward(x0, y, { weight = w, label_smoothing = 0.1 })
    assert.is_true(max_err(loss:detach(), l) < 1e-6)
    -- reduction none still goes through the separate kernels
    x = x0:clone():requires_grad()
    local gout = g:randn(3, 6, 5)
    F.cross_entropy(x, y, { reduction = "none" }):backward(gout)
    local gn = knn.cross_entropy_backward(gout, x0, y, { reduction = "none" })
    assert.is_true(max_err(x.grad, gn) < 1e-6)
  end)

  it("passes gradcheck (mean, sum, weights, smoothing, ignored pixels)", function()
    local g = lunet.Generator(6)
    local y = g:randint(0, 3, { 2, 3, 4 }):to("int32")
    y:set(255, 1, 1, 1)
    local x = (g:randn(2, 3, 3, 4)):requires_grad()
    for _, o in ipairs {
      { reduction = "mean" }, { reduction = "sum" }, { weight = lunet.tensor { 0.5, 1, 2 }, ignore_index = 255 },
      { label_smoothing = 0.2, ignore_index = 255, reduction = "sum" },
    } do
      local yy = o.ignore_index and y or y:clamp(0, 2)
      local ok, msg = lunet.gradcheck(function(a) return F.cross_entropy(a, yy, o) end, { x })
      assert.is_true(ok, msg)
    end
  end)
end)
