-- train_fashion.lua: the smallest complete training script: a U-Net on Fashion-MNIST as
-- 11-class segmentation (Debian dataset-fashion-mnist) with lunet.train.fit. Interrupt it
-- (Ctrl-C) and run it again: it resumes from the last checkpoint as if never stopped.
--   LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/build/lua/?.lua;$PWD/build/lua/?/init.lua;;" \
--   LUA_CPATH="$PWD/build/?.so;;" lua5.4 examples/train_fashion.lua [epochs] [train_images]
local lunet = require "lunet"
local nn, optim, data, train = lunet.nn, lunet.optim, lunet.data, lunet.train
local UNet = require "lunet.models.unet"

local epochs = math.tointeger(tonumber(arg[1] or "")) or 3
local limit = math.tointeger(tonumber(arg[2] or "")) or 60000
lunet.manual_seed(0)
local train_ds = data.fashion_mnist{ split = "train", limit = limit }
local test_ds = data.fashion_mnist{ split = "test" }
local loader = data.DataLoader(train_ds, { batch_size = 64, shuffle = true, drop_last = true, seed = 1 })
local test_loader = data.DataLoader(test_ds, { batch_size = 500 })

local model = UNet{ in_channels = 1, num_classes = 11, base = 16, depth = 3, norm = "batch" }
local opt = optim.Adam(model:parameters(), { lr = 6e-3 })
os.execute("mkdir -p out")
local history = train.fit{
  model = model, loss = nn.CrossEntropyLoss{}, optimizer = opt,
  scheduler = optim.OneCycleLR(opt, { max_lr = 6e-3, total_steps = epochs * loader:len() }),
  scheduler_interval = "step",
  train_loader = loader, val_loader = test_loader, epochs = epochs,
  metrics = { "miou", "pixel_accuracy", "dice" },
  checkpoint = "out/train_fashion.safetensors", log = "out/train_fashion.csv",
}
if history.confusion then print(history.confusion) end   -- nil when nothing was left to train
print(("best mIoU %.4f at epoch %d"):format(history.best, history.best_epoch))
