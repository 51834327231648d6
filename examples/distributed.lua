-- examples/distributed.lua: the Tux Paint U-Net of the demo (foreground vs background on photo
-- cut-outs from Debian tuxpaint-stamps-default), trained data-parallel on several processes
-- with lunet.distributed: each rank trains on its shard of every epoch, gradients are averaged
-- over the ranks, batch-norm statistics span the global batch (SyncBatchNorm), and rank 0
-- prints the progress, writes the log and checkpoint, and evaluates the held-out set.
--
--   make && mpirun --allow-run-as-root -np 2 -x LUA_PATH -x LUA_CPATH lua5.4 examples/distributed.lua
--   (with LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/build/lua/?.lua;$PWD/build/lua/?/init.lua;;"
--    and LUA_CPATH="$PWD/build/?.so;;" exported; the README shows runs across machines)
-- Options: --epochs N (8) --train N (768) --size N (64) --batch N (per rank, 8) --threads N
-- (per rank, default: the cores divided among the ranks on this machine) --out DIR (out/distributed)
-- --fresh (ignore the checkpoint of an earlier run; by default a rerun resumes from it).
local lunet = require "lunet"
local dist = require "lunet.distributed"
local nn, optim, data, T = lunet.nn, lunet.optim, lunet.data, lunet.transforms
local UNet = require "lunet.models.unet"
local fmt = string.format

local cfg = { epochs = 8, train = 768, val = 64, test = 128, size = 64, batch = 8, lr = 6e-3, out = "out/distributed" }
do
  local int = "int"
  local o = require("lunet.cli").parse_args("distributed", arg or {}, { flags = {
    epochs = int, train = int, val = int, test = int, size = int, batch = int, lr = "num", threads = int,
    out = "str", fresh = "bool",
  } })
  if o.help then
    print("usage: mpirun -np N lua5.4 examples/distributed.lua [--epochs N] [--train N] [--val N] [--test N]\n" ..
          "  [--size N] [--batch N] [--lr X] [--threads N] [--out DIR] [--fresh]")
    os.exit(0)
  end
  for k, v in pairs(o) do cfg[k] = v end
end

-- init() splits this machine's cores among the ranks on it (unless --threads says otherwise)
local rank, world = dist.init { threads = cfg.threads }
if rank == 0 then os.execute("mkdir -p '" .. cfg.out .. "'") end
local ckpt = cfg.out .. "/tuxpaint_dist.safetensors"
if cfg.fresh and rank == 0 then os.remove(ckpt) end
dist.barrier()

-- every rank makes the same composites (same seeds) and trains on its shard of them
local t0 = lunet.now()
local all = data.tuxpaint { n = cfg.train + cfg.val, size = cfg.size, seed = 0 }
local function subset(first, n, transform)
  local t = {}
  for k, v in pairs(all.tensors) do t[k] = v:narrow(1, first, n) end
  t.transform = transform
  return data.TensorDataset(t)
end
-- the shuffle is the same on every rank; each sample's augmentation comes from the loader's
-- per-sample stream (lua/lunet/data/workers.lua), the same whichever rank draws the sample
local aug = T.Compose { T.HorizontalFlip {}, T.RandomRotate90 {}, seed = 2 }
local loader = data.DataLoader(subset(1, cfg.train, aug),
  { batch_size = cfg.batch, shuffle = true, drop_last = true, seed = 1, distributed = true })
local val_loader = data.DataLoader(subset(cfg.train + 1, cfg.val), { batch_size = 32 })

lunet.manual_seed(0)
local model = nn.SyncBatchNorm.convert(UNet { in_channels = 3, num_classes = 2, base = 16, depth = 4, norm = "batch" })
local opt = optim.Adam(model:parameters(), { lr = cfg.lr })
local sched = optim.OneCycleLR(opt, { max_lr = cfg.lr, total_steps = cfg.epochs * #loader })
if rank == 0 then
  print(fmt("%s; %d ranks x %d thread(s); %d composites of %dx%d made in %.1f s; global batch %d (%d per rank), "
    .. "%d steps per epoch", dist.version(), world, lunet.get_num_threads(), all:len(), cfg.size, cfg.size,
    lunet.now() - t0, cfg.batch * world, cfg.batch, #loader))
end

local history = lunet.train.fit {
  model = model, loss = nn.CrossEntropyLoss {} + nn.DiceLoss { mode = "multiclass" }, optimizer = opt,
  scheduler = sched, scheduler_interval = "step", train_loader = loader, val_loader = val_loader,
  epochs = cfg.epochs, metrics = { "miou", fg_iou = function(cm) return cm:iou()[2] end }, monitor = "fg_iou",
  checkpoint = ckpt, log = cfg.out .. "/tuxpaint_dist_log.csv", distributed = true,
}

if rank == 0 then
  local test = data.tuxpaint { n = cfg.test, size = cfg.size, seed = 1 }   -- held out: another seed
  local cm = lunet.train.evaluate(model, data.DataLoader(test, { batch_size = 64 }), { num_classes = 2 })
  print(fmt("held-out composites (%d, seed 1): foreground IoU %.4f, mIoU %.4f, pixel accuracy %.4f; best "
    .. "validation foreground IoU %.4f at epoch %d; %.0f s in all", test:len(), cm:iou()[2], cm:miou(),
    cm:pixel_accuracy(), history.best or 0 / 0, history.best_epoch or 0, lunet.now() - t0))
end
dist.finalize()
