-- spec/dist/equiv.lua: trains a small segmentation net for 20 SGD steps and saves the final
-- state dict, either in one process with batch 2B or on every rank of an mpirun job with
-- batch B each (DistributedDataParallel, SyncBatchNorm for the batch-norm net), on the same
-- data order. distributed_spec.lua compares the two.
-- usage: lua5.4 spec/dist/equiv.lua single|dist bn|plain OUT.safetensors [B]
local lunet = require "lunet"
local nn = require "lunet.nn"

local mode, kind, out, B = arg[1], arg[2], arg[3], math.tointeger(tonumber(arg[4] or "2"))
assert(mode == "single" or mode == "dist", "mode must be single or dist")
assert(kind == "bn" or kind == "plain", "model must be bn or plain")
local steps = 20
local dist
local world = 1
if mode == "dist" then
  dist = require "lunet.distributed"
  local _
  _, world = dist.init()
end
lunet.set_num_threads(1)

-- the data: 2B * steps items, one epoch
local per_step = B * world
local n = 2 * B * steps
local g = lunet.Generator(123)
local images = g:randn(n, 3, 12, 12)
local masks = g:randint(0, 3, { n, 12, 12 }):to("int32")
local ds = lunet.data.TensorDataset { image = images, mask = masks }
local loader = lunet.data.DataLoader(ds, { batch_size = mode == "dist" and B or 2 * B, shuffle = true, seed = 7,
  distributed = mode == "dist" or nil })
assert(#loader == steps, "expected " .. steps .. " steps, got " .. #loader)
assert(per_step == 2 * B or mode == "single", "the equivalence needs 2 ranks")

-- the model: the same initial weights on rank 0 and in the single process (rank 1 seeds
-- differently: DistributedDataParallel must copy rank 0's)
lunet.manual_seed(mode == "dist" and 1000 + dist.rank() or 1000)
local model
if kind == "bn" then
  model = nn.Sequential(nn.Conv2d(3, 8, 3, { padding = 1 }), nn.BatchNorm2d(8), nn.ReLU(),
    nn.Conv2d(8, 8, 3, { padding = 1 }), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 3, 1))
else
  model = nn.Sequential(nn.Conv2d(3, 8, 3, { padding = 1 }), nn.ReLU(), nn.Conv2d(8, 8, 3, { padding = 1 }),
    nn.ReLU(), nn.Conv2d(8, 3, 1))
end
if mode == "dist" and dist.rank() ~= 0 then
  lunet.manual_seed(1000)   -- rank 1's dropout-free model: only the weights differ, by the seed above
end
if mode == "dist" then
  if kind == "bn" then model = nn.SyncBatchNorm.convert(model) end
  model = dist.DistributedDataParallel(model)
end
local opt = lunet.optim.SGD(model:parameters(), { lr = 0.05, momentum = 0.9 })
local loss_fn = nn.CrossEntropyLoss {}
model:train()
for batch in loader:iter() do
  opt:zero_grad()
  local loss = loss_fn(model(batch.image), batch.mask)
  loss:backward()
  opt:step()
end
local sd = model:state_dict()
if mode == "dist" then
  -- every rank must hold the same weights: compare with rank 0's
  for name, t in pairs(sd) do
    if t:dtype() == "float32" then
      local c = t:clone()
      dist.broadcast(c, { root = 0 })
      assert(lunet.allclose(c, t, 0, 0), "rank " .. dist.rank() .. " differs from rank 0 in " .. name)
    end
  end
  if dist.rank() == 0 then lunet.save(out, sd) end
  dist.finalize()
else
  lunet.save(out, sd)
end
