-- lunet: image segmentation for Lua 5.4. `local lunet = require "lunet"` gives the tensor
-- constructors and autograd entry points; every submodule is a field loaded on first use
-- (lazily, so `require "lunet"` stays cheap) and is also requirable on its own:
--   lunet.nn, lunet.optim, lunet.data, lunet.transforms, lunet.metrics, lunet.train,
--   lunet.image, lunet.models, lunet.io, lunet.predict, lunet.errors, lunet.autograd, lunet.core
-- `lunet.X` is `require "lunet.X"` for any other Lua module installed as lunet.X too (a
-- later lunet.classic or lunet.distributed), and nil when there is none.
-- lunet.save / lunet.load are lunet.io's (safetensors).
local tensor = require "lunet.tensor"

local type, rawset, require, setmetatable = type, rawset, require, setmetatable
local searchpath = package.searchpath

local lunet = { _VERSION = "lunet 0.1.0" }
for k, v in pairs(tensor) do lunet[k] = v end
lunet.autograd = require "lunet.autograd"
lunet.core = require "lunet.core"

-- lunet.config() -> {version, cpu, gemm_isa, conv_isa, threads, blas, blas_config, blas_core,
-- blas_threads, openmp, lua}: the kernels and thread budget this state computes with.
function lunet.config()
  local c = lunet.core.config()
  c.version = lunet._VERSION
  return c
end

-- The documented submodules (field name -> module name).
local submodules = {
  nn = "lunet.nn", optim = "lunet.optim", data = "lunet.data", transforms = "lunet.transforms",
  metrics = "lunet.metrics", train = "lunet.train", image = "lunet.image", models = "lunet.models",
  io = "lunet.io", predict = "lunet.predict", errors = "lunet.errors",
}
local from_io = { save = true, load = true }
-- Names looked up and not found as lunet.<name> modules (so a repeated miss costs no search).
local missing = {}

local function find_module(k)
  if type(k) ~= "string" or missing[k] or k == "init" or not k:match("^[%a_][%w_]*$") then return nil end
  local name = "lunet." .. k
  if searchpath(name, package.path) then return name end
  missing[k] = true
  return nil
end

return setmetatable(lunet, {
  __index = function(t, k)
    if from_io[k] then
      local f = require("lunet.io")[k]
      rawset(t, k, f)
      return f
    end
    local name = submodules[k] or find_module(k)
    if name then
      local m = require(name)
      rawset(t, k, m)
      return m
    end
    return nil
  end,
  __tostring = function() return lunet._VERSION end,
})
