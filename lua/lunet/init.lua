-- lunet: image segmentation for Lua 5.4. `local lunet = require "lunet"` gives the tensor
-- constructors and autograd entry points; submodules (nn, optim, data, transforms, metrics,
-- train, image, models, io) load on first use as fields, and are requirable on their own.
local tensor = require "lunet.tensor"

local lunet = { _VERSION = "lunet 0.1.0" }
for k, v in pairs(tensor) do lunet[k] = v end
lunet.autograd = require "lunet.autograd"
lunet.core = require "lunet.core"

local submodules = {
  nn = "lunet.nn", optim = "lunet.optim", data = "lunet.data", transforms = "lunet.transforms",
  metrics = "lunet.metrics", train = "lunet.train", image = "lunet.image", models = "lunet.models",
  io = "lunet.io",
}
-- lunet.save / lunet.load live in lunet.io (safetensors).
local from_io = { save = true, load = true }

return setmetatable(lunet, {
  __index = function(t, k)
    local name = submodules[k]
    if name then
      local m = require(name)
      rawset(t, k, m)
      return m
    end
    if from_io[k] then
      local f = require("lunet.io")[k]
      rawset(t, k, f)
      return f
    end
    return nil
  end,
  __tostring = function() return lunet._VERSION end,
})
