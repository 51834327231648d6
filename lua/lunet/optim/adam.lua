-- lunet.optim.Adam and AdamW, PyTorch 1.13's update rules (single-tensor):
--   Adam:  g = grad (negated if maximize) + weight_decay * p
--   AdamW: g = grad (negated if maximize);  p = p * (1 - lr * weight_decay)
--   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
--   vmax = max(vmax, v) if amsgrad;  denom = sqrt(v or vmax) / sqrt(1 - beta2^t) + eps
--   p = p - lr / (1 - beta1^t) * m / denom
-- step() updates each parameter group with ONE call of the fused C update (core.nn.adam_step,
-- csrc/lt_optim.c: one pass over p, grad and the state per parameter, the same float32
-- operations); parameters it cannot take (not contiguous float32, state of another shape)
-- go through the per-parameter Lua update, which is the reference: an optimizer with
-- opt._update_group = false uses it for everything (spec/optim_fused_spec.lua compares them).
local lunet = require "lunet"
local core = require "lunet.core"
local E = require "lunet.errors"
local Optimizer = require "lunet.optim.optimizer"
local util = require("lunet.nn.module").util

local format, concat, type, sqrt = string.format, table.concat, type, math.sqrt
local raise, num, bool, finite = util.raise, Optimizer.check_number, Optimizer.check_bool, Optimizer.finite

-- PyTorch's checks: lr, eps, weight_decay >= 0, each beta in [0, 1); values finite.
local function validate(fn, g, where)
  num(fn, where, "lr", g.lr, 0)
  num(fn, where, "eps", g.eps, 0)
  local b = g.betas
  local ok = type(b) == "table" and #b == 2 and finite(b[1]) and finite(b[2])
      and b[1] >= 0 and b[1] < 1 and b[2] >= 0 and b[2] < 1
  if not ok then
    local shown = E.show(b)
    if type(b) == "table" then
      local parts = {}
      for i = 1, #b do parts[i] = E.show(b[i]) end
      shown = "{" .. concat(parts, ", ") .. "}"
    end
    raise(format("%s: betas must be a pair of numbers in [0, 1), got %s%s", fn, shown, where))
  end
  num(fn, where, "weight_decay", g.weight_decay, 0)
  bool(fn, where, "amsgrad", g.amsgrad)
  bool(fn, where, "maximize", g.maximize)
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

-- Whether the fused update can take p (its gradient and state as the Lua update would
-- leave them): contiguous float32 tensors of one shape.
local function fusable(p, grad, st, amsgrad)
  local function ok(t) return t:dtype() == "float32" and t:is_contiguous() end
  if not (ok(p) and grad:dtype() == "float32" and ok(st.exp_avg) and ok(st.exp_avg_sq)) then
    return false
  end
  local n = p:numel()
  if grad:numel() ~= n or st.exp_avg:numel() ~= n or st.exp_avg_sq:numel() ~= n then return false end
  local d = p:dim()
  if grad:dim() ~= d then return false end
  for k = 1, d do if grad:size(k) ~= p:size(k) then return false end end
  return not amsgrad or (ok(st.max_exp_avg_sq) and st.max_exp_avg_sq:numel() == n)
end

local adam_step = core.nn.adam_step

local function update_group(decoupled)
  return function(self, g, ps, gs, sts)
    local amsgrad = g.amsgrad
    local P, G, Mv, V, VM, S, n = {}, {}, {}, {}, amsgrad and {} or nil, {}, 0
    for i = 1, #ps do
      local p, grad, st = ps[i], gs[i], sts[i]
      if st.step == nil then
        st.step = 0
        st.exp_avg = lunet.zeros(p:shape())
        st.exp_avg_sq = lunet.zeros(p:shape())
      end
      if amsgrad and st.max_exp_avg_sq == nil then st.max_exp_avg_sq = lunet.zeros(p:shape()) end
      if fusable(p, grad, st, amsgrad) then
        st.step = st.step + 1
        n = n + 1
        P[n], G[n], Mv[n], V[n], S[n] = p, grad:contiguous(), st.exp_avg, st.exp_avg_sq, st.step
        if amsgrad then VM[n] = st.max_exp_avg_sq end
      else
        self:update(g, p, grad, st)
      end
    end
    if n > 0 then
      adam_step(P, G, Mv, V, VM, S, { lr = g.lr, beta1 = g.betas[1], beta2 = g.betas[2], eps = g.eps,
        weight_decay = g.weight_decay, amsgrad = amsgrad, maximize = g.maximize, decoupled = decoupled })
    end
  end
end

local tensor_states = { "exp_avg", "exp_avg_sq", "max_exp_avg_sq" }

local M = {}
M.Adam = Optimizer.class("Adam", {
  defaults = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0, amsgrad = false,
               maximize = false },
  tensor_states = tensor_states, validate = validate, update = update(false),
  _update_group = update_group(false),
})
M.AdamW = Optimizer.class("AdamW", {
  defaults = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 1e-2, amsgrad = false,
               maximize = false },
  tensor_states = tensor_states, validate = validate, update = update(true),
  _update_group = update_group(true),
})
return M
