-- lunet.models: the model zoo (U-Net, FC-DenseNet/Tiramisu, HRNetV2, DeepLabv3+, U^2-Net,
-- SegNet, FCN, PSPNet, UNet++, Attention U-Net, stacked hourglass), each a
-- Lua file written on lunet's public API; loaded on first use:
--   local model = lunet.models.unet{in_channels = 3, num_classes = 2}
local require, rawset = require, rawset

local zoo = { unet = true, tiramisu = true, hrnet = true, deeplabv3plus = true, resnet = true,
              u2net = true, segnet = true, fcn = true, pspnet = true, unetpp = true, attention_unet = true,
              hourglass = true, vgg = true, unet3d = true, vnet = true }

return setmetatable({}, {
  __index = function(t, k)
    if zoo[k] then
      local m = require("lunet.models." .. k)
      rawset(t, k, m)
      return m
    end
    return nil
  end,
})
