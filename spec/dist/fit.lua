-- spec/dist/fit.lua: lunet.train.fit{distributed = true} on a small U-Net with SyncBatchNorm,
-- random data, a validation set whose size does not divide by the world size. Rank 0 then
-- evaluates the trained model on the whole validation set in one process and prints both.
-- usage: mpirun -np W lua5.4 spec/dist/fit.lua DIR EPOCHS     (or plain lua5.4 ... for W = 1)
-- Prints on rank 0: "history <epoch> <train_loss> <val_loss> <miou>" lines (%.17g), then
-- "whole <val_loss> <miou>" (the single-process evaluation), then "weights <sum of |w|>".
local lunet = require "lunet"
local nn = require "lunet.nn"
local dist = require "lunet.distributed"
local UNet = require "lunet.models.unet"

local dir, epochs = arg[1], math.tointeger(tonumber(arg[2]))
local rank, world = 0, 1
if os.getenv("OMPI_COMM_WORLD_SIZE") then rank, world = dist.init() end
lunet.set_num_threads(1)
lunet.manual_seed(5)

local g = lunet.Generator(77)
local function set(n)
  local img = g:rand(n, 3, 16, 16)
  local mask = img:select(2, 1):gt(0.5):to("int32")   -- learnable: threshold of channel 1
  return lunet.data.TensorDataset { image = img, mask = mask }
end
local train_ds, val_ds = set(24), set(7)
local dopt = world > 1 or nil
local train_loader = lunet.data.DataLoader(train_ds, { batch_size = 4, shuffle = true, seed = 3, distributed = dopt })
local val_loader = lunet.data.DataLoader(val_ds, { batch_size = 2 })
local model = UNet { in_channels = 3, num_classes = 2, base = 4, depth = 2, norm = "batch" }
model = nn.SyncBatchNorm.convert(model)
local opt = lunet.optim.Adam(model:parameters(), { lr = 1e-2 })
local out = assert(io.open(dir .. "/out_rank" .. rank .. ".txt", "w"))
local history = lunet.train.fit {
  model = model, loss = nn.CrossEntropyLoss {}, optimizer = opt, train_loader = train_loader,
  val_loader = val_loader, epochs = epochs, metrics = { "miou" }, checkpoint = dir .. "/ck.safetensors",
  log = dir .. "/log.csv", progress = "lines", output = out, distributed = world > 1 or nil,
}
out:close()
if rank == 0 then
  for _, e in ipairs(history) do
    print(string.format("history %d %.17g %.17g %.17g", e.epoch, e.train_loss, e.val_loss, e.miou))
  end
  local cm, vloss = lunet.train.evaluate(model, val_loader, { loss = nn.CrossEntropyLoss {} })
  print(string.format("whole %.17g %.17g", vloss, cm:miou()))
  local s = 0
  for _, p in ipairs(model:parameters()) do s = s + p:abs():sum():item() end
  print(string.format("weights %.17g", s))
end
-- no finalize(): the end of the script (the Lua state closing) finalizes
