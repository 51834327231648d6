-- lunet.nn: the Module base class, the layers, nn.init, the functional ops (nn.functional,
-- also known as F), the loss modules, and Module:predict.
--
--   local nn = require "lunet.nn"
--   local net = nn.Sequential(nn.Conv2d(3, 8, 3, {padding = 1}), nn.ReLU(), nn.Conv2d(8, 2, 1))
--   local F = nn.functional
local require, pairs = require, pairs
local E = require "lunet.errors"

local nn = {}
nn.Module = require "lunet.nn.module"
nn.init = require "lunet.nn.init_"
nn.functional = require "lunet.nn.functional"

local function merge(part, src)
  for k, v in pairs(src) do
    if nn[k] ~= nil then E.raise("lunet.nn: " .. k .. " defined twice (" .. part .. ")") end
    nn[k] = v
  end
end

merge("lunet.nn.layers", require "lunet.nn.layers")
merge("lunet.nn.losses", require "lunet.nn.losses")

-- model:predict(image, {tile=, overlap=, ...}): (tiled) inference in eval mode under
-- no_grad, for every module; lunet.predict holds the implementation and its options.
function nn.Module:predict(image, opts)
  nn.Module.util.need_module(self, "predict")
  return require("lunet.predict").predict(self, image, opts)
end

-- nn.SyncBatchNorm (lunet.nn.sync_batchnorm, with lunet.distributed) loads on first use.
return setmetatable(nn, { __index = function(t, k)
  if k ~= "SyncBatchNorm" then return nil end
  local v = require "lunet.nn.sync_batchnorm"
  rawset(t, k, v)
  return v
end })
