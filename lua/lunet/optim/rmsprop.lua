-- lunet.optim.RMSprop, PyTorch 1.13's update rule (single-tensor):
--   g = grad (negated if maximize) + weight_decay * p
--   s = alpha * s + (1 - alpha) * g * g
--   centered: a = alpha * a + (1 - alpha) * g;  avg = sqrt(s - a * a) + eps, else sqrt(s) + eps
--   momentum > 0: buf = momentum * buf + g / avg;  p = p - lr * buf,  else p = p - lr * g / avg
local lunet = require "lunet"
local Optimizer = require "lunet.optim.optimizer"

local num, bool = Optimizer.check_number, Optimizer.check_bool

-- PyTorch's checks (lr, eps, momentum, weight_decay, alpha >= 0), values finite, and alpha
-- <= 1 (a larger smoothing constant gives negative square averages).
return Optimizer.class("RMSprop", {
  defaults = { lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0,
               centered = false, maximize = false },
  tensor_states = { "square_avg", "momentum_buffer", "grad_avg" },
  validate = function(fn, g, where)
    num(fn, where, "lr", g.lr, 0)
    num(fn, where, "alpha", g.alpha, 0, 1)
    num(fn, where, "eps", g.eps, 0)
    num(fn, where, "weight_decay", g.weight_decay, 0)
    num(fn, where, "momentum", g.momentum, 0)
    bool(fn, where, "centered", g.centered)
    bool(fn, where, "maximize", g.maximize)
  end,
  update = function(_, g, p, grad, st)
    if st.step == nil then
      st.step = 0
      st.square_avg = lunet.zeros(p:shape())
    end
    st.step = st.step + 1
    grad = grad:contiguous()
    if g.maximize then grad = -grad end
    if g.weight_decay ~= 0 then grad = grad:clone():add_(p, g.weight_decay) end
    local s = st.square_avg
    s:mul_(g.alpha):addcmul_(grad, grad, 1 - g.alpha)
    local avg
    if g.centered then
      local a = st.grad_avg
      if a == nil then a = lunet.zeros(p:shape()); st.grad_avg = a end
      a:mul_(g.alpha):add_(grad, 1 - g.alpha)
      avg = s:clone():addcmul_(a, a, -1):sqrt()
    else
      avg = s:sqrt()
    end
    avg:add_(g.eps)
    if g.momentum > 0 then
      local buf = st.momentum_buffer
      if buf == nil then buf = lunet.zeros(p:shape()); st.momentum_buffer = buf end
      buf:mul_(g.momentum):addcdiv_(grad, avg)
      p:add_(buf, -g.lr)
    else
      p:addcdiv_(grad, avg, -g.lr)
    end
  end,
})
