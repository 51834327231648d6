-- lunet.optim: optimizers (SGD, Adam, AdamW, RMSprop), learning-rate schedulers and
-- gradient clipping.
--
--   local opt = optim.AdamW(model:parameters(), {lr = 1e-3, weight_decay = 1e-2})
--   local sched = optim.OneCycleLR(opt, {max_lr = 1e-2, total_steps = 1000})
--   loss:backward(); optim.clip_grad_norm(model:parameters(), 1.0); opt:step(); sched:step()
--   opt:zero_grad()
--
-- Parameter groups, e.g. no weight decay on biases and normalisation parameters (1-D):
--   local decay, no_decay = {}, {}
--   for _, p in ipairs(model:parameters()) do
--     if p:dim() == 1 then no_decay[#no_decay + 1] = p else decay[#decay + 1] = p end
--   end
--   local opt = optim.AdamW({ { params = decay }, { params = no_decay, weight_decay = 0 } }, { lr = 1e-3 })
local lunet = require "lunet"
local E = require "lunet.errors"
local util = require("lunet.nn.module").util
local Optimizer = require "lunet.optim.optimizer"
local sched = require "lunet.optim.lr_scheduler"
local adam = require "lunet.optim.adam"

local raise, is_tensor, typename = util.raise, util.is_tensor, util.typename
local type, pairs, ipairs, tostring, format, sqrt, huge, max = type, pairs, ipairs, tostring, string.format,
    math.sqrt, math.huge, math.max

local optim = {
  Optimizer = Optimizer,
  SGD = require "lunet.optim.sgd",
  Adam = adam.Adam,
  AdamW = adam.AdamW,
  RMSprop = require "lunet.optim.rmsprop",
}
for k, v in pairs(sched) do optim[k] = v end

-- The tensors of params: one tensor, a list of tensors, or a module.
local function param_list(fn, params)
  if is_tensor(params) then return { params } end
  if require("lunet.nn.module").is_module(params) then return params:parameters() end
  if type(params) ~= "table" then
    raise(format("%s: params must be a tensor or a list of tensors, got %s", fn, typename(params)))
  end
  for i, p in ipairs(params) do
    if not is_tensor(p) then
      raise(format("%s: params item %d is a %s, expected a tensor", fn, i, typename(p)))
    end
  end
  return params
end

-- Scales the gradients of params in place so that their joint norm is at most max_norm, as
-- torch.nn.utils.clip_grad_norm_: total = (sum_p ||grad_p||^q)^(1/q) (q = norm_type, 2 by
-- default, math.huge or "inf" for the max norm); grads are multiplied by
-- max_norm / (total + 1e-6) when that is < 1. Parameters without grad are skipped.
-- Returns the total norm (before clipping) as a number.
function optim.clip_grad_norm(params, max_norm, norm_type)
  local fn = "clip_grad_norm"
  local ps = param_list(fn, params)
  if type(max_norm) ~= "number" or max_norm ~= max_norm or max_norm < 0 then
    raise(format("%s: max_norm must be a number >= 0, got %s", fn, E.show(max_norm)))
  end
  if norm_type == nil then norm_type = 2 end
  if norm_type == "inf" then norm_type = huge end
  if type(norm_type) ~= "number" or not (norm_type > 0) then
    raise(format("%s: norm_type must be a positive number or \"inf\", got %s", fn, E.show(norm_type)))
  end
  local grads = {}
  for _, p in ipairs(ps) do
    local g = p.grad
    if g ~= nil then grads[#grads + 1] = g end
  end
  if #grads == 0 then return 0 end
  local total = 0
  lunet.no_grad(function()
    for _, g in ipairs(grads) do
      if norm_type == huge then
        total = max(total, g:abs():max():item())
      elseif norm_type == 2 then
        total = total + (g * g):sum():item()
      elseif norm_type == 1 then
        total = total + g:abs():sum():item()
      else
        total = total + g:abs():pow(norm_type):sum():item()
      end
    end
    if norm_type == 2 then total = sqrt(total)
    elseif norm_type ~= 1 and norm_type ~= huge then total = total ^ (1 / norm_type) end
    local coef = max_norm / (total + 1e-6)
    if coef < 1 then
      for _, g in ipairs(grads) do g:mul_(coef) end
    end
  end)
  return total
end

-- Clamps every gradient of params to [-clip_value, clip_value] in place.
function optim.clip_grad_value(params, clip_value)
  local fn = "clip_grad_value"
  local ps = param_list(fn, params)
  if type(clip_value) ~= "number" or clip_value ~= clip_value or clip_value < 0 then
    raise(format("%s: clip_value must be a number >= 0, got %s", fn, E.show(clip_value)))
  end
  lunet.no_grad(function()
    for _, p in ipairs(ps) do
      local g = p.grad
      if g ~= nil then g:copy_(g:clamp(-clip_value, clip_value)) end
    end
  end)
end

return optim
