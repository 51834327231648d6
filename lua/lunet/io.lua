-- lunet.io: tensors to and from safetensors files (interchange with PyTorch's safetensors).
--   lunet.save("model.safetensors", model:state_dict(), {epoch = "3"})
--   local sd, meta = lunet.load("model.safetensors")   -- name -> tensor, key -> string
-- Writes are atomic (temporary file in the same directory, fsync, rename) and store float32
-- as F32, int32 as I32, uint8 as U8, names in sorted order. Loading reads F32, I32, U8,
-- BOOL (as uint8) and I64 converted to int32 when every value fits (PyTorch's BatchNorm
-- num_batches_tracked is I64); other dtypes (F16, BF16, F64, ...) raise an error naming the
-- tensor. A missing, truncated or malformed file, or a header whose offsets/sizes do not
-- match the data, raises an error (load: ...): wrap in pcall to handle it.
local core = require "lunet.core"

local type, pairs, ipairs, error, tostring = type, pairs, ipairs, error, tostring
local sort, format = table.sort, string.format
local cio = core.io

local M = {}

local is_tensor = core.is_tensor

--- lunet.save(path, {name = tensor, ...} [, metadata {key = string|number}])
function M.save(path, tensors, metadata)
  if type(path) ~= "string" or path == "" then
    error(format("save: path must be a non-empty string, got %s", type(path)), 2)
  end
  if type(tensors) ~= "table" then
    error(format("save: tensors must be a table of name = tensor, got %s", type(tensors)), 2)
  end
  local names = {}
  for k, v in pairs(tensors) do
    if type(k) ~= "string" then
      error(format("save: tensor names must be strings, got %s %s", type(k), tostring(k)), 2)
    end
    if k == "__metadata__" or k == "" then
      error(format("save: '%s' cannot be a tensor name", k), 2)
    end
    if not is_tensor(v) then
      error(format("save: '%s' is not a tensor (%s)", k, type(v)), 2)
    end
    names[#names + 1] = k
  end
  sort(names)
  local list = {}
  for i, k in ipairs(names) do list[i] = tensors[k] end
  local meta = {}
  if metadata ~= nil then
    if type(metadata) ~= "table" then
      error(format("save: metadata must be a table of string = string, got %s", type(metadata)), 2)
    end
    local keys = {}
    for k, v in pairs(metadata) do
      if type(k) ~= "string" or (type(v) ~= "string" and type(v) ~= "number") then
        error(format("save: metadata must map strings to strings or numbers (key %s)", tostring(k)), 2)
      end
      keys[#keys + 1] = k
    end
    sort(keys)
    for _, k in ipairs(keys) do
      meta[#meta + 1] = k
      meta[#meta + 1] = tostring(metadata[k])
    end
  end
  cio.save(path, names, list, meta)
end

--- lunet.load(path) -> {name = tensor}, {key = string} (metadata), {names in file order}
function M.load(path)
  if type(path) ~= "string" then
    error(format("load: path must be a string, got %s", type(path)), 2)
  end
  return cio.load(path)
end

return M
