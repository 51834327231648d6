-- The main job (make demo). Until the segmentation training loop lands, it fits a
-- logistic regression with autograd on a seeded two-blob problem and prints the loss falling.
local lunet = require "lunet"

lunet.manual_seed(0)
local n = 512
local g = lunet.Generator(1)
local labels = g:randint(0, 2, { n, 1 }):to("float32")
local x = g:randn(n, 2) + labels * 3 - 1.5       -- two Gaussian blobs, 3 units apart
local w = lunet.zeros(2, 1):requires_grad()
local b = lunet.zeros(1):requires_grad()

local function loss_fn()
  local z = x:matmul(w) + b
  -- binary cross-entropy with logits: log(1 + e^z) - y z, computed stably
  local l = z:clamp(0) - z * labels + (-z:abs()):exp():log1p()
  return l:mean(), z
end

print("logistic regression on 512 points, full-batch gradient descent (lr 0.5)")
for step = 0, 100 do
  local loss = loss_fn()
  if step % 20 == 0 then print(("step %3d  loss %.4f"):format(step, loss:item())) end
  loss:backward()
  lunet.no_grad(function()
    w:sub_(w.grad, 0.5)
    b:sub_(b.grad, 0.5)
  end)
  w.grad, b.grad = nil, nil
end
local _, z = loss_fn()
local acc = z:gt(0):to("float32"):eq(labels):to("float32"):mean():item()
print(("training accuracy %.3f"):format(acc))
