-- lunet.summary: a layer-by-layer table of a model, as torchinfo's summary prints it: per
-- module call the name, type, output shape, parameters and multiply-adds, then the totals and
-- the memory of a forward pass.
--
--   local lunet = require "lunet"
--   local text, rows, totals = lunet.summary(model, {1, 3, 128, 128})       -- nothing printed
--   lunet.summary(model, {1, 3, 128, 128}, {print = true, depth = 2})       -- prints the table
--
-- summary(model, input, opts): input is a shape (a list {N, C, H, W}: the model gets standard
-- normal values from a private generator, so the caller's random state is untouched) or a
-- tensor. The model runs once in eval mode under no_grad (each
-- module's train/eval flag is restored afterwards, also on error), with every module's forward
-- wrapped to record its call. Options:
--   depth = 3      rows deeper than this (the model is depth 0, its children 1, ...: the
--                  number of components of the dotted name) are not printed; a printed row
--                  then shows its own parameters and mult-adds plus those of the rows hidden
--                  below it (as torchinfo); rows holds every call
--   print = false  also print the text (to io.stdout, or to opts.output: anything with :write)
--   output         see print
-- Each row of the text is "name: Type", the state-dict prefix of the module, indented by its
-- depth. Returns text, rows, totals. rows[i] = {name = "stage1.rebnconvin.conv_s1" (the state-dict
-- prefix; "" for the model), type = "Conv2d", depth = 3, output_shape = {N, C, H, W} (the
-- first tensor when a module returns several; output_shapes lists all), params = the
-- module's own parameters (not its children's; 0 on its second and later calls), flops =
-- multiply-adds, output_bytes}. totals = {params, trainable_params, flops, input_bytes,
-- activation_bytes, param_bytes, total_bytes}.
--
-- Counting, as torchinfo: a convolution does (weight + bias elements) x N x H_out x W_out
-- multiply-adds (every output position applies the whole kernel once per output channel);
-- a transposed convolution (weight + bias elements) x N x H_in x W_in; Linear (weight + bias
-- elements) x the rows of its input; any other module with parameters (batch norm, ...)
-- N x its parameter elements; modules without parameters count 0 (ReLU, pooling, upsampling,
-- and the functional calls a forward makes outside modules: F.max_pool2d, lunet.cat, ...).
-- Activation memory = the bytes of the outputs of every leaf-module call (modules without
-- children) in one forward: what a training step keeps for the backward, roughly, and what
-- torchinfo reports as the forward pass size (its "forward/backward" figure doubles it).
-- Params size = 4 bytes per parameter element; total = input + activations + params.
local lunet = require "lunet"
local E = require "lunet.errors"

local type, ipairs, pairs, tostring, pcall, error = type, ipairs, pairs, tostring, pcall, error
local getmetatable, rawget = getmetatable, rawget
local fmt, concat, rep = string.format, table.concat, string.rep
local max, tointeger = math.max, math.tointeger

local M = {}

-- n with thousands separators ("1,944,049"), as the summary table prints counts.
local function count_str(n)
  if type(n) ~= "number" or n ~= n or n == math.huge or n == -math.huge then
    E.fail("count_str", "n must be a finite number, got %s", E.show(n))
  end
  local s = fmt("%.0f", math.abs(n)):reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (n <= -0.5 and "-" or "") .. (s:gsub("^,", ""))
end
M.count_str = count_str

local function shape_str(s) return "[" .. concat(s, ", ") .. "]" end

local function prod(list, from, to)
  local p = 1
  for i = from or 1, to or #list do p = p * list[i] end
  return p
end

-- Every tensor in what a forward returned (a tensor, or a list of them), in order.
local function tensors_of(out, acc, depth)
  acc = acc or {}
  if lunet.is_tensor(out) then acc[#acc + 1] = out
  elseif type(out) == "table" and (depth or 0) < 4 then
    for _, v in ipairs(out) do tensors_of(v, acc, (depth or 0) + 1) end
  end
  return acc
end

local function own_params(m)
  local n = 0
  for _, p in pairs(rawget(m, "_parameters") or {}) do n = n + p:numel() end
  return n
end

local function has_children(m)
  return next(rawget(m, "_modules") or {}) ~= nil
end

-- Multiply-adds of one call (see the header).
local function flops_of(m, cls, params, x, out)
  if params == 0 or out == nil then return 0 end
  local os = out:shape()
  if cls == "Conv2d" or cls == "Conv3d" or cls == "Conv1d" then
    return params * os[1] * prod(os, 3)
  elseif cls == "ConvTranspose2d" or cls == "ConvTranspose3d" then
    if lunet.is_tensor(x) then
      local xs = x:shape()
      return params * xs[1] * prod(xs, 3)
    end
    return 0
  elseif cls == "Linear" then
    return params * prod(os, 1, #os - 1)
  end
  return params * os[1]
end

local known = { "depth", "print", "output" }

--- summary(model, input_shape_or_tensor, {depth=3, print=false, output=}) -> text, rows, totals
function M.summary(model, input, opts)
  local fn = "summary"
  opts = E.options(opts, fn, known)
  local Module = require("lunet.nn").Module
  if not Module.is_module(model) then E.fail(fn, "model must be an nn.Module, got %s", E.typename(model)) end
  local depth = E.integer(fn, "depth", opts.depth == nil and 3 or opts.depth, 0)
  if opts.print ~= nil and type(opts.print) ~= "boolean" then
    E.fail(fn, "print must be a boolean, got %s", E.show(opts.print))
  end
  local out = opts.output
  if out ~= nil and ((type(out) ~= "table" and type(out) ~= "userdata") or out.write == nil) then
    E.fail(fn, "output must have a write method (a file), got %s", E.typename(out))
  end
  local x
  if lunet.is_tensor(input) then
    x = input
  elseif type(input) == "table" and #input >= 1 then
    for i, d in ipairs(input) do E.integer(fn, fmt("input_shape[%d]", i), d, 1, 1 << 31) end
    local n = 1
    for _, d in ipairs(input) do n = n * d end
    if n > (1 << 31) then
      E.fail(fn, "input_shape %s has %s elements, more than 2^31", shape_str(input), count_str(n))
    end
    x = lunet.Generator(0):randn(table.unpack(input))
  else
    E.fail(fn, "input must be a shape {N, C, H, W} or a tensor, got %s", E.typename(input))
  end

  -- wrap every module's forward; record calls in order
  local rows, wrapped, modes, seen_params = {}, {}, {}, {}
  local named = {}
  for name, m in model:named_modules() do named[#named + 1] = { name, m } end
  for _, e in ipairs(named) do
    local name, m = e[1], e[2]
    modes[m] = m.training
    local cls = getmetatable(m).__class.__name
    local d = name == "" and 0 or select(2, name:gsub("%.", "")) + 1
    local orig = m.forward
    wrapped[#wrapped + 1] = m
    m.forward = function(self, a, ...)
      local row = { name = name, type = cls, depth = d }
      rows[#rows + 1] = row
      local res = table.pack(orig(self, a, ...))
      local ts = tensors_of(res[1])
      local shapes, bytes = {}, 0
      for i, t in ipairs(ts) do
        shapes[i] = t:shape()
        bytes = bytes + t:numel() * (t:dtype() == "uint8" and 1 or 4)
      end
      row.output_shapes = shapes
      row.output_shape = shapes[1]
      row.output_bytes = bytes
      row.leaf = not has_children(self)
      local p = 0
      if not seen_params[self] then
        seen_params[self] = true
        p = own_params(self)
      end
      row.params = p
      row.flops = flops_of(self, cls, own_params(self), a, ts[1])
      return table.unpack(res, 1, res.n)
    end
  end
  local ok, err = pcall(function()
    model:eval()
    lunet.no_grad(function() model(x) end)
  end)
  for _, m in ipairs(wrapped) do m.forward = nil end
  for m, mode in pairs(modes) do m.training = mode end
  if not ok then
    E.raise(fmt("summary: the forward of %s on %s failed: %s", getmetatable(model).__class.__name,
      shape_str(x:shape()), (tostring(err):gsub("^[^\n:]+:%d+: ", ""))))
  end

  local totals = { params = model:num_parameters(), trainable_params = model:num_parameters { trainable = true },
                   flops = 0, activation_bytes = 0, input_bytes = x:numel() * 4 }
  for _, r in ipairs(rows) do
    totals.flops = totals.flops + r.flops
    if r.leaf then totals.activation_bytes = totals.activation_bytes + r.output_bytes end
  end
  totals.param_bytes = totals.params * 4
  totals.total_bytes = totals.input_bytes + totals.activation_bytes + totals.param_bytes
  for k, v in pairs(totals) do totals[k] = tointeger(v) or v end

  -- the text
  -- a shown row also counts the rows hidden below it (as torchinfo): each hidden row adds its
  -- parameters and mult-adds to its deepest shown ancestor
  local shown, shown_params, shown_flops = {}, {}, {}
  for _, r in ipairs(rows) do
    if r.depth <= depth then
      shown[#shown + 1] = r
      shown_params[r], shown_flops[r] = r.params, r.flops
    end
  end
  for _, r in ipairs(rows) do
    if r.depth > depth then
      local best
      for _, a in ipairs(shown) do
        if (a.name == "" or r.name:sub(1, #a.name + 1) == a.name .. ".") and (best == nil or a.depth > best.depth) then
          best = a
        end
      end
      if best then
        shown_params[best] = shown_params[best] + r.params
        shown_flops[best] = shown_flops[best] + r.flops
      end
    end
  end
  local lines = {}
  local function cell_layer(r)
    if r.name == "" then return r.type end
    return rep("  ", r.depth - 1) .. r.name .. ": " .. r.type
  end
  local function cell_shape(r)
    if not r.output_shape then return "--" end
    local s = shape_str(r.output_shape)
    if #r.output_shapes > 1 then s = s .. fmt(" (+%d more)", #r.output_shapes - 1) end
    return s
  end
  local w1, w2 = #"Layer (type)", #"Output shape"
  for _, r in ipairs(shown) do
    w1 = max(w1, #cell_layer(r))
    w2 = max(w2, #cell_shape(r))
  end
  local w3, w4 = 12, 16
  local width = w1 + w2 + w3 + w4 + 6
  local function line(a, b, c, d)
    lines[#lines + 1] = fmt("%-" .. w1 .. "s  %-" .. w2 .. "s  %" .. w3 .. "s  %" .. w4 .. "s", a, b, c, d)
  end
  lines[#lines + 1] = rep("=", width)
  line("Layer (type)", "Output shape", "Param #", "Mult-adds")
  lines[#lines + 1] = rep("=", width)
  for _, r in ipairs(shown) do
    local p, f = shown_params[r], shown_flops[r]
    line(cell_layer(r), cell_shape(r), p > 0 and count_str(p) or "--", f > 0 and count_str(f) or "--")
  end
  lines[#lines + 1] = rep("=", width)
  local mb = function(b) return fmt("%.2f", b / 1e6) end
  lines[#lines + 1] = "Total params: " .. count_str(totals.params)
  lines[#lines + 1] = "Trainable params: " .. count_str(totals.trainable_params)
  lines[#lines + 1] = "Non-trainable params: " .. count_str(totals.params - totals.trainable_params)
  lines[#lines + 1] = fmt("Total mult-adds: %s (%.2f G)", count_str(totals.flops), totals.flops / 1e9)
  lines[#lines + 1] = rep("=", width)
  lines[#lines + 1] = fmt("Input size (MB): %s   %s", mb(totals.input_bytes), shape_str(x:shape()))
  lines[#lines + 1] = "Forward pass activations (MB): " .. mb(totals.activation_bytes)
  lines[#lines + 1] = "Params size (MB): " .. mb(totals.param_bytes)
  lines[#lines + 1] = "Estimated total size (MB): " .. mb(totals.total_bytes)
  lines[#lines + 1] = rep("=", width)
  local text = concat(lines, "\n")
  if opts.print or out then
    out = out or io.stdout
    out:write(text, "\n")
  end
  return text, rows, totals
end

-- lunet.summary(model, input, opts) calls M.summary.
return setmetatable(M, { __call = function(_, ...) return M.summary(...) end })
