-- lunet.models.shared: helpers of the second part of the zoo (not a model): the input check
-- every model starts its forward with, parameter counting for conv layers, and the
-- convention for models with several outputs (deep supervision).
--
-- Several outputs. U^2-Net (side outputs), UNet++ (deep_supervision), the stacked hourglass
-- (one output per stack) and PSPNet (aux) return, IN TRAINING MODE, a plain list of logits
-- tensors in the reference code's order, whose field `main` is the output that metrics and
-- prediction use (U^2-Net: the fused d0, first; UNet++: the last; hourglass: the last stack;
-- PSPNet: the main head, first). In eval mode they return the main output alone, so
-- evaluation, predict and any code written for one output work unchanged; model:forward_all(x)
-- returns the whole list in either mode. lunet.train.fit weights the loss over the list
-- (its deep_supervision option; default: model.deep_supervision_weights, else all 1).
--
--   local shared = require "lunet.models.shared"
--   shared.check_input("SegNet", x, 3)             -- raises unless x is N x 3 x H x W
--   return shared.outputs(self, {d0, d1, d2}, 1)   -- the list in training, d0 in eval
local lunet = require "lunet"
local E = require "lunet.errors"

local concat = table.concat

local M = {}

-- A tensor's shape as "[2, 3, 4]", for messages.
local function shape_str(x) return "[" .. concat(x:shape(), ", ") .. "]" end
M.shape_str = shape_str

-- Raises unless x is a 4-d float tensor with cin channels.
function M.check_input(fn, x, cin)
  if not lunet.is_tensor(x) or x:dim() ~= 4 then
    E.fail(fn, "input must be a 4-d tensor (N, C, H, W), got %s",
      lunet.is_tensor(x) and shape_str(x) or E.typename(x))
  end
  if x:size(2) ~= cin then
    E.fail(fn, "input has %d channels, the model expects %d (input %s)", x:size(2), cin, shape_str(x))
  end
  if x:dtype() ~= "float32" then
    E.fail(fn, "input must be float32, got %s (divide uint8 images by 255, or use :to(\"float32\"))", x:dtype())
  end
  if x:size(3) == 0 or x:size(4) == 0 then
    E.fail(fn, "input %s has a zero-size spatial dim", shape_str(x))
  end
end

-- Parameters of a k x k conv (bias optional) and of a batch norm, in floating point.
function M.conv(cin, cout, k, bias)
  return cin * cout * k * k + (bias == false and 0 or cout)
end
-- Parameters of a BatchNorm2d over c channels (weight and bias).
function M.bn(c) return 2 * c end

-- The multi-output convention of the file header: list.main = list[main]; returns the list
-- when the model is in training mode (or all is true), the main output otherwise.
function M.outputs(model, list, main, all)
  list.main = list[main]
  if all or model.training then return list end
  return list.main
end

-- The main output of what a model returned: a tensor as is, a list's `main` (else its first).
function M.main_output(out)
  if type(out) == "table" and not lunet.is_tensor(out) then
    return out.main or out[1]
  end
  return out
end

return M
