-- End to end: a two-layer conv net written as an nn.Module subclass overfits a fixed batch
-- of 8 small images/masks to >= 0.99 pixel accuracy within a bounded number of steps with
-- every optimizer, reproducibly (two runs give bit-identical losses).
local lunet = require "lunet"
local nn = require "lunet.nn"
local optim = require "lunet.optim"

local TwoLayer = nn.Module:extend("TwoLayer")
function TwoLayer:__init(opts)
  self.conv1 = nn.Conv2d(opts.in_channels, opts.hidden, 3, { padding = 1 })
  self.act = nn.ReLU()
  self.conv2 = nn.Conv2d(opts.hidden, opts.classes, 3, { padding = 1 })
end
function TwoLayer:forward(x)
  return self.conv2(self.act(self.conv1(x)))
end

local N, C, H, W, K = 8, 3, 8, 8, 3

-- A fixed batch: blocky masks with K classes; images are noisy one-hot codes of the mask
-- mixed across channels, so the net must combine channels and neighbours.
local function batch(seed)
  local g = lunet.Generator(seed)
  local coarse = g:randint(0, K, { N, 1, H // 2, W // 2 })
  local mask = lunet.zeros({ N, H, W }, { dtype = "int32" })
  local img = lunet.zeros(N, C, H, W)
  local mix = { { 1.0, 0.5, -0.5 }, { -0.5, 1.0, 0.5 }, { 0.5, -0.5, 1.0 } }
  local noise = g:randn(N, C, H, W)
  for n = 1, N do
    for y = 1, H do
      for x = 1, W do
        local k = coarse:get(n, 1, (y + 1) // 2, (x + 1) // 2)
        mask:set(k, n, y, x)
        for c = 1, C do
          img:set(mix[k + 1][c] + 0.8 * noise:get(n, c, y, x), n, c, y, x)
        end
      end
    end
  end
  return img, mask
end

local function accuracy(logits, mask)
  local pred = logits:argmax(2):to("int32") - 1        -- class ids 0..K-1
  return pred:eq(mask):to("int32"):sum():item() / mask:numel()
end

local OPTIMIZERS = {
  { "SGD", { lr = 0.1, momentum = 0.9 } },
  { "Adam", { lr = 0.02 } },
  { "AdamW", { lr = 0.02, weight_decay = 1e-4 } },
  { "RMSprop", { lr = 0.005 } },
}
local MAX_STEPS = 200

-- Trains from a fixed seed until the updated model reaches 0.99 pixel accuracy on the batch;
-- returns that step (nil if never) and the list of losses.
local function train(name, opts)
  lunet.manual_seed(1234)
  local img, mask = batch(99)
  local model = TwoLayer { in_channels = C, hidden = 8, classes = K }
  local criterion = nn.CrossEntropyLoss()
  local opt = optim[name](model:parameters(), opts)
  local losses, reached = {}, nil
  for step = 1, MAX_STEPS do
    opt:zero_grad()
    local loss = criterion(model(img), mask)
    loss:backward()
    opt:step()
    losses[step] = loss:item()
    local acc = lunet.no_grad(function() return accuracy(model(img), mask) end)
    if acc >= 0.99 then reached = step; break end
  end
  return reached, losses
end

describe("a two-layer conv net overfits a fixed batch", function()
  for _, o in ipairs(OPTIMIZERS) do
    it("with " .. o[1] .. " in at most " .. MAX_STEPS .. " steps, reproducibly", function()
      if not (nn.functional.conv2d and nn.CrossEntropyLoss) then
        pending("needs F.conv2d and nn.CrossEntropyLoss (not in this tree yet)")
        return
      end
      local reached, losses = train(o[1], o[2])
      assert.is_not_nil(reached, o[1] .. " did not reach 0.99 pixel accuracy in " .. MAX_STEPS
        .. " steps (last loss " .. tostring(losses[#losses]) .. ")")
      assert.is_true(losses[#losses] < losses[1])
      local reached2, losses2 = train(o[1], o[2])
      assert.are.equal(reached, reached2)
      for i = 1, #losses do
        assert.are.equal(("%.17g"):format(losses[i]), ("%.17g"):format(losses2[i]))
      end
    end)
  end
end)
