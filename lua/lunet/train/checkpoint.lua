-- lunet.train.checkpoint: one safetensors file holding everything a training run needs to
-- continue as if never stopped.
--
--   local ckpt = require "lunet.train.checkpoint"
--   ckpt.save("run/last.safetensors", {model = m, optimizer = opt, scheduler = sched,
--             generators = {default = lunet.default_generator(), train = loader.generator},
--             meta = {epoch = 3, best = 0.81}, history = history})
--   local c = ckpt.load("run/last.safetensors")          -- raw: c.model, c.optimizer, ...
--   ckpt.restore(c, {model = m, optimizer = opt, ...})   -- into live objects (strict)
--
-- Tensor names: model.<state dict name>, optimizer.<flat key>, scheduler.<flat key>,
-- rng.<name> (int32 Generator:get_state()). Metadata (strings): format = "lunet-checkpoint-1",
-- epoch, best, best_epoch, monitor, history (one line per epoch, "key=value" pairs separated
-- by ";", numbers as %.17g so they round-trip exactly) and any extra keys given in meta.
-- The model tensors under "model." load into a bare model with load_checkpoint_model.
-- Writes go through lunet.save: temporary file, fsync, rename (atomic).
local io_mod = require "lunet.io"

local type, pairs, ipairs, next, error, tostring, tonumber = type, pairs, ipairs, next, error, tostring, tonumber
local fmt, concat, sort = string.format, table.concat, table.sort
local huge = math.huge

local M = {}
M.FORMAT = "lunet-checkpoint-1"

local function num_str(v)
  if v ~= v then return "nan" end
  if v == huge then return "inf" end
  if v == -huge then return "-inf" end
  if math.type(v) == "integer" then return tostring(v) end
  return fmt("%.17g", v)
end
M.num_str = num_str

local function str_num(s)
  if s == "nan" then return 0 / 0 end
  if s == "inf" then return huge end
  if s == "-inf" then return -huge end
  return tonumber(s)
end
M.str_num = str_num

-- history: list of {key = number} -> text (keys sorted, one line per entry).
function M.encode_history(history)
  local lines = {}
  for i, e in ipairs(history) do
    local keys = {}
    for k, v in pairs(e) do
      if type(k) == "string" and type(v) == "number" then keys[#keys + 1] = k end
    end
    sort(keys)
    local parts = {}
    for j, k in ipairs(keys) do parts[j] = k .. "=" .. num_str(e[k]) end
    lines[i] = concat(parts, ";")
  end
  return concat(lines, "\n")
end

function M.decode_history(text)
  local out = {}
  if text == nil or text == "" then return out end
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local e = {}
    for k, v in line:gmatch("([^;=]+)=([^;]*)") do e[k] = str_num(v) end
    out[#out + 1] = e
  end
  return out
end

--- save(path, {model=, optimizer=, scheduler=, generators={name=gen}, meta={}, history={}})
function M.save(path, parts)
  local tensors, meta = {}, { format = M.FORMAT }
  if parts.model then
    for k, v in pairs(parts.model:state_dict()) do tensors["model." .. k] = v end
  end
  if parts.optimizer then
    for k, v in pairs(parts.optimizer:state_dict()) do tensors["optimizer." .. k] = v end
  end
  if parts.scheduler and type(parts.scheduler.state_dict) == "function" then
    for k, v in pairs(parts.scheduler:state_dict()) do tensors["scheduler." .. k] = v end
  end
  for name, g in pairs(parts.generators or {}) do tensors["rng." .. name] = g:get_state() end
  for k, v in pairs(parts.meta or {}) do
    meta[k] = type(v) == "number" and num_str(v) or tostring(v)
  end
  if parts.history then meta.history = M.encode_history(parts.history) end
  io_mod.save(path, tensors, meta)
end

--- load(path) -> {model={...}, optimizer={...}, scheduler={...}, rng={...}, meta={...}, history={...}}
function M.load(path)
  local tensors, meta = io_mod.load(path)
  meta = meta or {}
  if meta.format ~= M.FORMAT then
    error(fmt("load_checkpoint: '%s' is not a lunet training checkpoint (metadata format is %s, expected %s)",
              path, tostring(meta.format), M.FORMAT), 0)
  end
  local c = { model = {}, optimizer = {}, scheduler = {}, rng = {}, meta = meta }
  for k, v in pairs(tensors) do
    local group, rest = k:match("^(%a+)%.(.+)$")
    if group and c[group] and group ~= "meta" then c[group][rest] = v end
  end
  c.history = M.decode_history(meta.history)
  c.epoch = tonumber(meta.epoch) or 0
  c.best = meta.best and str_num(meta.best) or nil
  c.best_epoch = tonumber(meta.best_epoch)
  c.path = path
  return c
end

local function has_keys(t) return next(t) ~= nil end

--- restore(c, {model=, optimizer=, scheduler=, generators={name=gen}}): strict.
function M.restore(c, parts)
  local fn = "fit: resume from '" .. tostring(c.path) .. "'"
  if parts.model then parts.model:load_state_dict(c.model) end
  if parts.optimizer then
    if not has_keys(c.optimizer) then error(fn .. ": the checkpoint holds no optimizer state", 0) end
    parts.optimizer:load_state_dict(c.optimizer)
  end
  if parts.scheduler and type(parts.scheduler.load_state_dict) == "function" then
    if not has_keys(c.scheduler) then error(fn .. ": the checkpoint holds no scheduler state", 0) end
    parts.scheduler:load_state_dict(c.scheduler)
  end
  for name, g in pairs(parts.generators or {}) do
    local st = c.rng[name]
    if st == nil then error(fmt("%s: the checkpoint holds no state for generator '%s'", fn, name), 0) end
    g:set_state(st)
  end
end

--- Loads only the model weights of a checkpoint (or of a plain state-dict file) into model.
function M.load_model(model, path, opts)
  local tensors, meta = io_mod.load(path)
  local sd = tensors
  if meta and meta.format == M.FORMAT then
    sd = {}
    for k, v in pairs(tensors) do
      local rest = k:match("^model%.(.+)$")
      if rest then sd[rest] = v end
    end
  end
  model:load_state_dict(sd, opts)
  return model
end

return M
