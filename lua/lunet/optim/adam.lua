-- lunet.optim.Adam and AdamW, PyTorch 1.13's update rules (single-tensor):
--   Adam:  g = grad (negated if maximize) + weight_decay * p
--   AdamW: g = grad (negated if maximize);  p = p * (1 - lr * weight_decay)
--   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
--   vmax = max(vmax, v) if amsgrad;  denom = sqrt(v or vmax) / sqrt(1 - beta2^t) + eps
--   p = p - lr / (1 - beta1^t) * m / denom
local lunet = require "lunet"
local Optimizer = require "lunet.optim.optimizer"
local util = require("lunet.nn.module").util

local format, concat, tostring, type, sqrt = string.format, table.concat, tostring, type, math.sqrt
local raise = util.raise

local function num(v) return type(v) == "number" and v == v end

local function validate(fn, g, where)
  local function check(key, ok, what, shown)
    if not ok then
      raise(format("%s: %s must be %s, got %s%s", fn, key, what, shown or tostring(g[key]), where))
    end
  end
  check("lr", num(g.lr) and g.lr >= 0, "a number >= 0")
  check("eps", num(g.eps) and g.eps >= 0, "a number >= 0")
  local b = g.betas
  local ok = type(b) == "table" and #b == 2 and num(b[1]) and num(b[2])
      and b[1] >= 0 and b[1] < 1 and b[2] >= 0 and b[2] < 1
  check("betas", ok, "a pair of numbers in [0, 1)",
    type(b) == "table" and "{" .. concat(b, ", ") .. "}" or tostring(b))
  check("weight_decay", num(g.weight_decay) and g.weight_decay >= 0, "a number >= 0")
  check("amsgrad", type(g.amsgrad) == "boolean", "a boolean")
  check("maximize", type(g.maximize) == "boolean", "a boolean")
end

local function update(decoupled)
  return function(_, g, p, grad, st)
    local beta1, beta2 = g.betas[1], g.betas[2]
    if st.step == nil then
      st.step = 0
      st.exp_avg = lunet.zeros(p:shape())
      st.exp_avg_sq = lunet.zeros(p:shape())
    end
    if g.amsgrad and st.max_exp_avg_sq == nil then st.max_exp_avg_sq = lunet.zeros(p:shape()) end
    st.step = st.step + 1
    grad = grad:contiguous()
    if g.maximize then grad = -grad end
    if decoupled then
      p:mul_(1 - g.lr * g.weight_decay)
    elseif g.weight_decay ~= 0 then
      grad = grad:clone():add_(p, g.weight_decay)
    end
    local m, v = st.exp_avg, st.exp_avg_sq
    m:mul_(beta1):add_(grad, 1 - beta1)
    v:mul_(beta2):addcmul_(grad, grad, 1 - beta2)
    local bc1 = 1 - beta1 ^ st.step
    local bc2 = 1 - beta2 ^ st.step
    local step_size = g.lr / bc1
    local denom
    if g.amsgrad then
      local vmax = st.max_exp_avg_sq
      vmax:copy_(vmax:maximum(v))
      denom = vmax:sqrt():div_(sqrt(bc2)):add_(g.eps)
    else
      denom = v:sqrt():div_(sqrt(bc2)):add_(g.eps)
    end
    p:addcdiv_(m, denom, -step_size)
  end
end

local tensor_states = { "exp_avg", "exp_avg_sq", "max_exp_avg_sq" }

local M = {}
M.Adam = Optimizer.class("Adam", {
  defaults = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0, amsgrad = false,
               maximize = false },
  tensor_states = tensor_states, validate = validate, update = update(false),
})
M.AdamW = Optimizer.class("AdamW", {
  defaults = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 1e-2, amsgrad = false,
               maximize = false },
  tensor_states = tensor_states, validate = validate, update = update(true),
})
return M
