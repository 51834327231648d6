-- lunet.io: tensors to and from safetensors files (interchange with PyTorch's safetensors).
--   lunet.save("model.safetensors", model:state_dict(), {epoch = "3"})
--   local sd, meta = lunet.load("model.safetensors")   -- name -> tensor, key -> string
-- Writes are atomic (temporary file in the same directory, fsync, rename) and store float32
-- as F32, int32 as I32, uint8 as U8, names in sorted order. Loading reads F32, I32, U8,
-- BOOL (as uint8) and I64 converted to int32 when every value fits (PyTorch's BatchNorm
-- num_batches_tracked is I64); other dtypes (F16, BF16, F64, ...) raise an error naming the
-- tensor. A missing, truncated or malformed file, or a header whose offsets/sizes do not
-- match the data, raises an error (load: ...): wrap in pcall to handle it. Only regular
-- files are read (a FIFO, directory or device raises at once instead of blocking). Names and
-- metadata holding a NUL byte raise on save and on load (C strings would cut them short).
local core = require "lunet.core"
local E = require "lunet.errors"

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local sort, format, find = table.sort, string.format, string.find
local cio = core.io

local M = {}

local is_tensor = core.is_tensor

-- Names and metadata are C strings in the file's JSON: a NUL would cut them short.
-- what: "tensor name", ...; suffix: the rest of the description (may be "").
local function check_nul(what, s, suffix)
  local at = find(s, "\0", 1, true)
  if at then
    E.fail("save", "%s %s%s holds a NUL byte (at byte %d): it cannot be stored", what,
           format("%q", s), suffix or "", at)
  end
end

--- lunet.save(path, {name = tensor, ...} [, metadata {key = string|number}])
function M.save(path, tensors, metadata)
  if type(path) ~= "string" or path == "" then
    E.fail("save", "path must be a non-empty string, got %s", E.typename(path))
  end
  if type(tensors) ~= "table" then
    E.fail("save", "tensors must be a table of name = tensor, got %s", E.typename(tensors))
  end
  local names = {}
  for k, v in pairs(tensors) do
    if type(k) ~= "string" then
      E.fail("save", "tensor names must be strings, got %s %s", type(k), tostring(k))
    end
    if k == "__metadata__" or k == "" then
      E.fail("save", "'%s' cannot be a tensor name", k)
    end
    check_nul("tensor name", k)
    if not is_tensor(v) then
      E.fail("save", "'%s' is not a tensor (%s)", k, E.typename(v))
    end
    names[#names + 1] = k
  end
  sort(names)
  local list = {}
  for i, k in ipairs(names) do list[i] = tensors[k] end
  local meta = {}
  if metadata ~= nil then
    if type(metadata) ~= "table" then
      E.fail("save", "metadata must be a table of string = string, got %s", E.typename(metadata))
    end
    local keys = {}
    for k, v in pairs(metadata) do
      if type(k) ~= "string" or (type(v) ~= "string" and type(v) ~= "number") then
        E.fail("save", "metadata must map strings to strings or numbers (key %s)", tostring(k))
      end
      check_nul("metadata key", k)
      if type(v) == "string" then check_nul("metadata value", v, " of key " .. format("%q", k)) end
      keys[#keys + 1] = k
    end
    sort(keys)
    for _, k in ipairs(keys) do
      meta[#meta + 1] = k
      meta[#meta + 1] = tostring(metadata[k])
    end
  end
  local ok, err = pcall(cio.save, path, names, list, meta)
  if not ok then E.raise(tostring(err)) end   -- "save: cannot create ...": at the user's line
end

--- lunet.load(path) -> {name = tensor}, {key = string} (metadata), {names in file order}
function M.load(path)
  if type(path) ~= "string" then
    E.fail("load", "path must be a string, got %s", E.typename(path))
  end
  local r = table.pack(pcall(cio.load, path))
  if not r[1] then E.raise(tostring(r[2])) end   -- "load: cannot open ...": at the user's line
  return table.unpack(r, 2, r.n)
end

return M
