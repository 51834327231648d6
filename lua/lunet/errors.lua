-- lunet.errors: the one option checker of the Lua side, and errors raised at the user's level.
--   local E = require "lunet.errors"
--   local o = E.options(opts, "Rotate", { "limit", "p", "border_mode", "fill", "fill_mask" })
--   E.number("Rotate", "p", o.p, 0, 1)           -- "Rotate: p must be in [0, 1], got 1.5"
--   E.raise("Rotate: limit must be a number or a {lo, hi} pair")
-- Every error is raised at the first stack frame outside lunet's own files, so a misuse in a
-- script reports that script's file and line, never a line inside lua/lunet or models/.
local core = require "lunet.core"

local getinfo, error, type, tostring, format = debug.getinfo, error, type, tostring, string.format
local math_type, sub = math.type, string.sub
local check_options = core.check_options

local M = {}

-- Source prefixes ("@/path/lua/lunet/") of lunet's Lua files: this file's folder, and the
-- folder lunet.models.* load from (build/lua/lunet/models is a symlink in the source tree).
local roots = { (getinfo(1, "S").source:match("^(@.*[/\\])errors%.lua$")) }
local models_root_done = false

local function internal(source)
  if not models_root_done then
    models_root_done = true
    local path = package.searchpath("lunet.models.unet", package.path)
    local dir = path and path:match("^(.*[/\\])models[/\\]unet%.lua$")
    if dir then roots[#roots + 1] = "@" .. dir end
  end
  for i = 1, #roots do
    local r = roots[i]
    if sub(source, 1, #r) == r then return true end
  end
  return false
end

-- The stack level (as error() counts from the function calling it) of the first Lua frame
-- outside lunet, seen from the function that calls user_level; 0 when there is none.
local function user_level(start)
  local level = start
  while true do
    local info = getinfo(level + 1, "S")
    if not info then return 0 end
    if info.what ~= "C" and not internal(info.source) then return level end
    level = level + 1
  end
end

-- Raises msg at the caller's level: the user's file and line, or no position at all.
function M.raise(msg)
  local level = user_level(1)
  error(msg, level == 0 and 0 or level)
end

-- f(...), with an error it raises (a core function's "fn: ..." message, no position)
-- raised again at the user's level; its results otherwise.
function M.call(f, ...)
  local r = table.pack(pcall(f, ...))
  if not r[1] then M.raise(tostring(r[2])) end
  return table.unpack(r, 2, r.n)
end

-- fn .. ": " .. format(fmt, ...), raised at the user's level.
function M.fail(fn, fmt, ...)
  local level = user_level(1)
  error(fn .. ": " .. format(fmt, ...), level == 0 and 0 or level)
end

-- True when v is a plain option table (not a tensor or a module).
local function is_plain_table(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  return mt == nil or not (rawget(v, "__name") or (type(mt) == "table" and mt.__name))
end

-- Checks that every key of opts is in known (a list of names or a set name -> true) and
-- returns opts, or a new empty table for nil. Raises
-- "fn: unknown option 'paddin' (did you mean 'padding'?)" or "fn: options must be a table".
function M.options(opts, fn, known)
  if opts == nil then return {} end
  local msg
  if not is_plain_table(opts) then
    msg = format("%s: options must be a table, got %s", fn, M.typename(opts))
  else
    msg = check_options(opts, fn, known)
  end
  if msg then
    local level = user_level(1)
    error(msg, level == 0 and 0 or level)
  end
  return opts
end

-- Lua type name with tensors and modules told apart, for messages.
function M.typename(v)
  if type(v) == "userdata" and core.is_tensor and core.is_tensor(v) then return "tensor" end
  if type(v) == "table" then
    local name = rawget(v, "__name") or (getmetatable(v) and getmetatable(v).__name)
    if type(name) == "string" then return name end
  end
  return type(v)
end

-- A value as a message shows it: numbers in full, strings quoted, other types by name.
function M.show(v)
  if type(v) == "number" then
    if math_type(v) == "integer" then return tostring(v) end
    if v ~= v then return "nan" end
    if v == math.huge then return "inf" end
    if v == -math.huge then return "-inf" end
    if v == math.floor(v) and math.abs(v) < 2^63 then return format("%.0f", v) end
    return (tostring(v))
  end
  if type(v) == "string" then return "'" .. v .. "'" end
  return M.typename(v)
end

local function range_text(lo, hi)
  if lo and hi then return format("in [%s, %s]", M.show(lo), M.show(hi)) end
  if lo then return ">= " .. M.show(lo) end
  return "<= " .. M.show(hi)
end

-- Checks that v is a number (not NaN) within [lo, hi] (either bound may be nil) and
-- returns it; what names it in the message ("option p", "std[2]").
function M.number(fn, what, v, lo, hi)
  if type(v) ~= "number" or v ~= v or (lo and v < lo) or (hi and v > hi) then
    local level = user_level(1)
    local want = (lo or hi) and "a number " .. range_text(lo, hi) or "a number"
    error(format("%s: %s must be %s, got %s", fn, what, want, M.show(v)), level == 0 and 0 or level)
  end
  return v
end

-- The same for an integer (a float with an integral value is accepted and converted).
function M.integer(fn, what, v, lo, hi)
  local i = type(v) == "number" and math.tointeger(v)
  if not i or (lo and i < lo) or (hi and i > hi) then
    local level = user_level(1)
    local want = (lo or hi) and "an integer " .. range_text(lo, hi) or "an integer"
    error(format("%s: %s must be %s, got %s", fn, what, want, M.show(v)), level == 0 and 0 or level)
  end
  return i
end

-- Checks that v is one of the strings in the list choices.
function M.choice(fn, what, v, choices)
  for i = 1, #choices do
    if v == choices[i] then return v end
  end
  local level = user_level(1)
  local list = {}
  for i = 1, #choices do list[i] = "'" .. choices[i] .. "'" end
  error(format("%s: %s must be %s, got %s", fn, what, table.concat(list, ", "):gsub(", ([^,]*)$", " or %1"),
    M.show(v)), level == 0 and 0 or level)
end

return M
