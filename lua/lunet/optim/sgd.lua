-- lunet.optim.SGD: stochastic gradient descent with momentum, dampening, Nesterov momentum,
-- weight decay and maximize, PyTorch 1.13's update rule (torch.optim.SGD, single-tensor):
--   d = grad (negated if maximize) + weight_decay * p
--   buf = d (first step) | momentum * buf + (1 - dampening) * d;  d = nesterov and d + momentum * buf or buf
--   p = p - lr * d
local Optimizer = require "lunet.optim.optimizer"
local util = require("lunet.nn.module").util

local format = string.format
local raise, num, bool = util.raise, Optimizer.check_number, Optimizer.check_bool

-- The ranges PyTorch checks (lr, momentum, weight_decay >= 0; Nesterov needs momentum and
-- no dampening), every value finite; dampening in [0, 1].
return Optimizer.class("SGD", {
  defaults = { lr = Optimizer.REQUIRED, momentum = 0, dampening = 0, weight_decay = 0,
               nesterov = false, maximize = false },
  tensor_states = { "momentum_buffer" },
  validate = function(fn, g, where)
    num(fn, where, "lr", g.lr, 0)
    num(fn, where, "momentum", g.momentum, 0)
    num(fn, where, "dampening", g.dampening, 0, 1)
    num(fn, where, "weight_decay", g.weight_decay, 0)
    bool(fn, where, "nesterov", g.nesterov)
    bool(fn, where, "maximize", g.maximize)
    if g.nesterov and (g.momentum <= 0 or g.dampening ~= 0) then
      raise(format("%s: nesterov needs momentum > 0 and dampening = 0%s", fn, where))
    end
  end,
  update = function(_, g, p, grad, st)
    local d = grad
    if g.maximize then d = -d end
    if g.weight_decay ~= 0 then d = d:clone():add_(p, g.weight_decay) end
    if g.momentum ~= 0 then
      local buf = st.momentum_buffer
      if buf == nil then
        buf = d:clone()
        st.momentum_buffer = buf
      else
        buf:mul_(g.momentum):add_(d, 1 - g.dampening)
      end
      if g.nesterov then d = d:clone():add_(buf, g.momentum) else d = buf end
    end
    p:add_(d, -g.lr)
  end,
})
