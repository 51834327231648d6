-- The batch-norm statistics and backward with float sums in chunks (double across chunks
-- and planes): forward and backward against the naive kernels on random shapes (planes
-- shorter and longer than a chunk), with and without relu and affine parameters, 1 and 2
-- threads, at every ISA level the CPU has; gradcheck through BatchNorm2d:forward_relu.
local lunet = require "lunet"
local core = require "lunet.core"
local knn = core.nn

local function max_rel(a, b)
  return ((a - b):abs() / (b:abs() + 1)):max():item()
end

local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local each_level = H.each_isa

describe("batch norm: chunked float sums in the statistics and the backward", function()
  after_each(function() lunet.set_num_threads(2) end)

  it("matches the naive kernels on random shapes", function()
    each_level(function(level)
      local g = lunet.Generator(21)
      for case = 1, 16 do
        local N, C = g:randint(1, 5, {}):item(), g:randint(1, 24, {}):item()
        local H, W = g:randint(1, 40, {}):item(), g:randint(1, 40, {}):item()
        if case % 4 == 0 then H, W = 70, 90 end   -- planes of several chunks
        if N * H * W > 1 then
          local x = g:randn(N, C, H, W) * 3 + 1.5
          local affine = case % 3 ~= 0
          local w = affine and (g:rand(C) + 0.5) or nil
          local b = affine and g:randn(C) or nil
          for _, threads in ipairs { 1, 2 } do
            lunet.set_num_threads(threads)
            for _, relu in ipairs { false, true } do
              local fwd = relu and knn.batch_norm_relu_forward or knn.batch_norm_forward
              local fwdn = relu and knn.batch_norm_relu_forward_naive or knn.batch_norm_forward_naive
              local rm1, rv1 = g:randn(C), g:rand(C) + 0.5
              local rm2, rv2 = rm1:clone(), rv1:clone()
              local o = { training = true, momentum = 0.3, eps = 1e-4 }
              local y1, m1, i1 = fwd(x, rm1, rv1, w, b, o)
              local y2, m2, i2 = fwdn(x, rm2, rv2, w, b, o)
              local what = string.format("%s case %d [%d, %d, %d, %d] relu %s threads %d", level, case, N, C, H, W, tostring(relu), threads)
              assert.is_true(max_rel(y1, y2) < 1e-5, "y " .. what)
              assert.is_true(max_rel(m1, m2) < 1e-6, "mean " .. what)
              assert.is_true(max_rel(i1, i2) < 1e-5, "invstd " .. what)
              assert.is_true(max_rel(rm1, rm2) < 1e-6, "running_mean " .. what)
              assert.is_true(max_rel(rv1, rv2) < 1e-5, "running_var " .. what)
              local dy = g:randn(N, C, H, W)
              local gx1, gw1, gb1, gx2, gw2, gb2
              if relu then
                gx1, gw1, gb1 = knn.batch_norm_relu_backward(dy, y1, x, m1, i1, w, b, true)
                gx2, gw2, gb2 = knn.batch_norm_relu_backward_naive(dy, y1, x, m1, i1, w, b, true)
              else
                gx1, gw1, gb1 = knn.batch_norm_backward(dy, x, m1, i1, w, b, true)
                gx2, gw2, gb2 = knn.batch_norm_backward_naive(dy, x, m1, i1, w, b, true)
              end
              assert.is_true(max_rel(gx1, gx2) < 1e-4, "gx " .. what)
              if affine then
                assert.is_true(max_rel(gw1, gw2) < 1e-4, "gw " .. what)
                assert.is_true(max_rel(gb1, gb2) < 1e-4, "gb " .. what)
              end
            end
          end
        end
      end
    end)
  end)

  it("keeps gradcheck of F.batch_norm + relu through the fused layer", function()
    local nn = require "lunet.nn"
    local g = lunet.Generator(23)
    local bn = nn.BatchNorm2d(3)
    bn:train()
    lunet.no_grad(function()
      bn.weight:copy_(g:rand(3) + 0.5)
      bn.bias:copy_(g:randn(3))
    end)
    local x = (g:randn(2, 3, 4, 5) * 2):requires_grad()
    local ok, msg = lunet.gradcheck(function(a) return bn:forward_relu(a) end, { x, bn.weight, bn.bias })
    assert.is_true(ok, msg)
  end)
end)
