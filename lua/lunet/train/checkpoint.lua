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
--
-- Writes are atomic and leave nothing behind. save(path) writes the whole file under the
-- writer's own temporary name `<path>.tmp.<pid>.<start>` (lunet.save: its own temporary file
-- `<that>.tmpXXXXXX`, fsync, rename) and then renames it over path; <pid> and <start> are the
-- writing process's id and start time (/proc/<pid>/stat, field 22), so a reader of the folder
-- can tell whose a temporary file is. Before writing, save removes the temporary files of
-- path that a killed or failed write left: `<path>.tmp.<pid>.<start>` and
-- `<path>.tmp.<pid>.<start>.tmpXXXXXX` whose writer is this process (an earlier write: saves
-- in one process never overlap) or no longer runs (no process <pid>, or one started at
-- another time, or a zombie). A write in progress in another live process is left alone.
-- Where /proc is missing (not Linux), the temporary name is `<path>.tmp` and nothing is
-- removed. Temporary files of lunet.save itself (`<path>.tmpXXXXXX`, with no writer in the
-- name) are never touched: nothing tells whether their writer still runs.
local io_mod = require "lunet.io"
local E = require "lunet.errors"
local listdir = require("lunet.core").image.listdir

local type, pairs, ipairs, next, tostring, tonumber = type, pairs, ipairs, next, tostring, tonumber
local fmt, concat, sort = string.format, table.concat, table.sort
local huge = math.huge
local io_open, os_rename, os_remove = io.open, os.rename, os.remove

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

-- "pid start state" of a process from /proc/<pid>/stat, or nil when there is none. The
-- command name (field 2) is in parentheses and may hold anything: fields are read after the
-- last ")".
local function proc_stat(pid)
  local f = io_open("/proc/" .. pid .. "/stat", "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  local id, rest = (s or ""):match("^(%d+) %(.*%) (.*)$")
  if not id then return nil end
  local fields = {}
  for w in rest:gmatch("%S+") do fields[#fields + 1] = w end
  -- rest starts at field 3 (state); starttime is field 22
  if not fields[20] then return nil end
  return id, fields[20], fields[1]
end

--- The writer tag of this process, "<pid>.<start>", or nil where /proc is missing (read at
--- every call, not cached: a forked child is another writer).
function M.writer_tag()
  local pid, start = proc_stat("self")
  return pid and (pid .. "." .. start) or nil
end

-- True when the process <pid> started at <start> still runs (and is not a zombie).
local function running(pid, start)
  local id, st, state = proc_stat(pid)
  return id ~= nil and st == start and state ~= "Z" and state ~= "X"
end

local function split_path(path)
  local dir, base = path:match("^(.*/)([^/]*)$")
  if not dir then return ".", "", path end
  return dir == "/" and "/" or dir:sub(1, -2), dir, base
end

--- Removes the stale temporary files of path (see the top of this file); returns the list
--- of removed file names. Files of running writers other than this process stay.
function M.remove_stale_temps(path)
  local removed = {}
  local me = M.writer_tag()
  if not me or type(path) ~= "string" or path == "" then return removed end
  local dir, prefix, base = split_path(path)
  local names = listdir(dir)
  if not names then return removed end
  local head = base .. ".tmp."
  for _, name in ipairs(names) do
    if name:sub(1, #head) == head then
      local tail = name:sub(#head + 1)
      local pid, start = tail:match("^(%d+)%.(%d+)$")
      if not pid then pid, start = tail:match("^(%d+)%.(%d+)%.tmp%w%w%w%w%w%w$") end
      if pid and (pid .. "." .. start == me or not running(pid, start)) then
        if os_remove(prefix .. name) then removed[#removed + 1] = name end
      end
    end
  end
  sort(removed)
  return removed
end

--- Atomic write of a file by write(tmp_path): through this process's temporary name
--- `<path>.tmp.<pid>.<start>`, then a rename over path; stale temporary files of path are
--- removed first. Without /proc the temporary name is `<path>.tmp` and nothing is removed.
function M.atomic_write(path, write, fn)
  local tag = M.writer_tag()
  if tag then M.remove_stale_temps(path) end
  local tmp = path .. ".tmp" .. (tag and ("." .. tag) or "")
  write(tmp)
  local ok, err = os_rename(tmp, path)
  if not ok then
    os_remove(tmp)
    E.raise(fmt("%s: cannot rename '%s' to '%s': %s", fn or "save", tmp, path, tostring(err)))
  end
end

local save_parts = { "model", "optimizer", "scheduler", "generators", "meta", "history" }

--- save(path, {model=, optimizer=, scheduler=, generators={name=gen}, meta={}, history={}})
function M.save(path, parts)
  local fn = "checkpoint.save"
  if type(path) ~= "string" or path == "" then
    E.fail(fn, "path must be a non-empty string, got %s", E.show(path))
  end
  parts = E.options(parts, fn, save_parts)
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
  M.atomic_write(path, function(p) io_mod.save(p, tensors, meta) end, fn)
end

--- load(path) -> {model={...}, optimizer={...}, scheduler={...}, rng={...}, meta={...}, history={...}}
function M.load(path)
  local tensors, meta = io_mod.load(path)
  meta = meta or {}
  if meta.format ~= M.FORMAT then
    E.raise(fmt("load_checkpoint: '%s' is not a lunet training checkpoint (metadata format is %s, expected %s)",
                path, tostring(meta.format), M.FORMAT))
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
local restore_parts = { "model", "optimizer", "scheduler", "generators" }
function M.restore(c, parts)
  parts = E.options(parts, "checkpoint.restore", restore_parts)
  local fn = "fit: resume from '" .. tostring(c.path) .. "'"
  if parts.model then parts.model:load_state_dict(c.model) end
  if parts.optimizer then
    if not has_keys(c.optimizer) then E.raise(fn .. ": the checkpoint holds no optimizer state") end
    parts.optimizer:load_state_dict(c.optimizer)
  end
  if parts.scheduler and type(parts.scheduler.load_state_dict) == "function" then
    if not has_keys(c.scheduler) then E.raise(fn .. ": the checkpoint holds no scheduler state") end
    parts.scheduler:load_state_dict(c.scheduler)
  end
  for name, g in pairs(parts.generators or {}) do
    local st = c.rng[name]
    if st == nil then E.raise(fmt("%s: the checkpoint holds no state for generator '%s'", fn, name)) end
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
