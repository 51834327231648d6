-- lunet.autograd: the tape. Each differentiable op records, on its output tensor, a node
-- holding its inputs and a backward closure (whose upvalues are the saved tensors).
-- backward() walks the nodes in reverse topological order, calls each closure once with
-- grad mode off, accumulates gradients (summed over every use of a tensor) and drops the
-- closures, so saved tensors are freed as soon as backward has used them.
--
--   local out = core.nn.my_op_forward(x, w)
--   if ag.needs_grad(x, w) then
--     ag.record(out, {x, w}, function(g) return gx, gw end, "my_op")
--   end
local E = require "lunet.errors"
local core = require "lunet.core"

local is_tensor, select, ipairs, error, pcall = core.is_tensor, select, ipairs, error, pcall
local table_pack, table_unpack, concat = table.pack, table.unpack, table.concat
local raw = {}
for k, v in pairs(core.methods) do raw[k] = v end

local M = {}
local enabled = true

function M.is_enabled() return enabled end

-- Sets grad mode; returns the previous mode.
function M.set_enabled(flag)
  local old = enabled
  enabled = not not flag
  return old
end

local function run_with(mode, fn, ...)
  if type(fn) ~= "function" then
    E.raise((mode and "enable_grad" or "no_grad") .. ": expected a function, got " .. type(fn))
  end
  local old = enabled
  enabled = mode
  local res = table_pack(pcall(fn, ...))
  enabled = old
  if not res[1] then error(res[2], 0) end
  return table_unpack(res, 2, res.n)
end

-- no_grad(fn, ...): runs fn with no graph recording; returns fn's results.
function M.no_grad(fn, ...) return run_with(false, fn, ...) end
function M.enable_grad(fn, ...) return run_with(true, fn, ...) end

-- A tensor takes part in autograd when it is a leaf with requires_grad or an op output.
local function tracked(t)
  return t._rg or t._node ~= nil
end
M.tracked = tracked

function M.needs_grad(...)
  if not enabled then return false end
  for i = 1, select("#", ...) do
    local t = select(i, ...)
    if is_tensor(t) and tracked(t) then return true end
  end
  return false
end

-- Attaches the node to out; inputs may hold numbers or nil (they receive no gradient).
function M.record(out, inputs, backward, name)
  out._node = { inputs = inputs, backward = backward, name = name or "op" }
  return out
end

local function shape_str(t) return "[" .. concat(raw.shape(t), ", ") .. "]" end

local function same_shape(a, b)
  local sa, sb = raw.shape(a), raw.shape(b)
  if #sa ~= #sb then return false end
  for i = 1, #sa do if sa[i] ~= sb[i] then return false end end
  return true
end

-- Post-order of the tensors with nodes reachable from root (iterative: graphs are deep).
local function topo(root)
  local order, seen, done = {}, {}, {}
  local stack = { root }
  while #stack > 0 do
    local t = stack[#stack]
    if not seen[t] then
      seen[t] = true
      local node = t._node
      if node.freed then
        error("backward: the graph through '" .. node.name .. "' was already used by a backward "
          .. "and its saved tensors were freed; pass {retain_graph=true} to the first backward", 0)
      end
      for _, inp in ipairs(node.inputs) do
        if is_tensor(inp) and inp._node and not seen[inp] then stack[#stack + 1] = inp end
      end
    else
      stack[#stack] = nil
      if not done[t] then
        done[t] = true
        order[#order + 1] = t
      end
    end
  end
  return order
end

-- Callbacks queued by backward closures run once, in order, after the whole pass (as
-- PyTorch's queue_callback; DistributedDataParallel averages gradients there).
local queued = {}
function M.queue_callback(fn) queued[#queued + 1] = fn end

local function accumulate_leaf(t, g)
  local cur = t.grad
  if cur == nil then
    t.grad = raw.clone(g)
  else
    raw.add_(cur, g)
  end
end

-- backward(root [, grad] [, {retain_graph=}])
function M.backward(root, grad, opts)
  if not is_tensor(root) then E.raise("backward: expected a tensor, got " .. type(root)) end
  if not tracked(root) then
    E.raise("backward: tensor does not require grad (no graph was recorded: mark an input with "
      .. "requires_grad() and compute outside no_grad)")
  end
  if grad == nil then
    if raw.numel(root) ~= 1 then
      E.raise("backward: grad can be omitted only for a one-element output, got shape "
        .. shape_str(root))
    end
    grad = core.ones(raw.shape(root))
  elseif not is_tensor(grad) then
    E.raise("backward: grad must be a tensor, got " .. type(grad))
  elseif not same_shape(grad, root) then
    E.raise("backward: grad has shape " .. shape_str(grad) .. ", output has " .. shape_str(root))
  elseif raw.dtype(grad) ~= "float32" then
    E.raise("backward: grad must be float32, got " .. raw.dtype(grad))
  end
  if opts ~= nil then
    local msg = type(opts) ~= "table" and ("backward: options must be a table, got " .. type(opts))
      or core.check_options(opts, "backward", { "retain_graph" })
    if msg then E.raise(msg) end
  end
  local retain = opts and opts.retain_graph
  if not root._node then
    accumulate_leaf(root, grad)
    return
  end
  local order = topo(root)
  local grads = { [root] = grad }
  local old = enabled
  enabled = false
  local ok, err = pcall(function()
    for i = #order, 1, -1 do
      local t = order[i]
      order[i] = nil   -- every consumer of t ran before it: t can be collected once done
      local g = grads[t]
      grads[t] = nil
      local node = t._node
      if g ~= nil then
        local inputs = node.inputs
        local gi = table_pack(node.backward(g))
        if not retain then
          node.backward, node.inputs, node.freed = nil, nil, true
        end
        for k, inp in ipairs(inputs) do
          local gk = gi[k]
          if gk ~= nil and is_tensor(inp) and tracked(inp) then
            if not same_shape(gk, inp) then
              error("backward: gradient " .. k .. " of '" .. node.name .. "' has shape "
                .. shape_str(gk) .. " but the input has shape " .. shape_str(inp), 0)
            end
            if inp._node then
              local cur = grads[inp]
              grads[inp] = cur == nil and gk or raw.add(cur, gk)
            else
              accumulate_leaf(inp, gk)
            end
          end
        end
      elseif not retain then
        node.backward, node.inputs, node.freed = nil, nil, true
      end
    end
  end)
  enabled = old
  local callbacks = queued
  queued = {}
  if not ok then error(err, 0) end
  for i = 1, #callbacks do callbacks[i]() end
end

return M
