-- bench/distributed.lua: the benchmark U-Net training step (bench/unet.lua: 128x128x3, base 16,
-- depth 5, batch-norm blocks, BCE with logits, Adam, batch 8 per process) in one process, or on
-- every rank of an mpirun job with DistributedDataParallel (gradients averaged each step), and
-- the time of one all-reduce of the model's gradients.
--   lua5.4 bench/distributed.lua [--threads N] [--steps N] [--sync]
--   mpirun -np 2 lua5.4 bench/distributed.lua --threads 1 [--sync] [--allreduce N]
-- --sync converts the batch norms to SyncBatchNorm. --allreduce N also times N all-reduces
-- of the gradients (bucketed as DistributedDataParallel does) and N of the whole flat buffer.
-- Prints one JSON line (rank 0): processes, threads, step_ms (median), images_per_s (all
-- ranks), and with --allreduce: floats, allreduce_ms (median), busbw_gbs (2(p-1)/p * bytes / t).
local lunet = require "lunet"
local nn = require "lunet.nn"
local UNet = require "lunet.models.unet"

local F = nn.functional
local opts = { threads = 2, steps = 10, batch = 8, size = 128, allreduce = 0 }
local sync = false
local i = 1
while i <= #arg do
  local key = arg[i]:match("^%-%-(%w+)$")
  if key == "sync" then sync = true
  elseif key and opts[key] ~= nil and tonumber(arg[i + 1]) then
    opts[key] = math.tointeger(tonumber(arg[i + 1]))
    i = i + 1
  else
    io.stderr:write("usage: [mpirun -np N] lua5.4 bench/distributed.lua [--threads N] [--steps N] [--batch N] "
      .. "[--size N] [--sync] [--allreduce N]\n")
    os.exit(2)
  end
  i = i + 1
end

local dist, rank, world = nil, 0, 1
if os.getenv("OMPI_COMM_WORLD_SIZE") then
  dist = require "lunet.distributed"
  rank, world = dist.init()
end
lunet.set_num_threads(opts.threads)
lunet.manual_seed(0)
local model = UNet { in_channels = 3, num_classes = 1, base = 16, depth = 5, norm = "batch" }
if sync then model = nn.SyncBatchNorm.convert(model) end
local net = dist and dist.DistributedDataParallel(model) or model
local opt = lunet.optim.Adam(net:parameters(), { lr = 1e-3 })
local g = lunet.Generator(100 + rank)   -- each rank its own batch
local x = g:randn(opts.batch, 3, opts.size, opts.size)
local y = g:rand(opts.batch, 1, opts.size, opts.size):gt(0.5):to("float32")

local function step()
  opt:zero_grad()
  local loss = F.binary_cross_entropy_with_logits(net(x), y)
  loss:backward()
  opt:step()
end

local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end

net:train()
for _ = 1, 2 do step() end
local times = {}
for k = 1, opts.steps do
  if dist then dist.barrier() end
  local t0 = lunet.now()
  step()
  times[k] = lunet.now() - t0
end
local step_ms = median(times) * 1e3

local out = string.format('{"processes": %d, "threads": %d, "batch_per_process": %d, "sync_bn": %s, '
  .. '"step_ms": %.1f, "images_per_s": %.1f', world, opts.threads, opts.batch, tostring(sync), step_ms,
  world * opts.batch / (step_ms / 1e3))

if dist and opts.allreduce > 0 then
  local C = require "lunet.distributed.core"
  local grads, n = {}, 0
  for _, p in ipairs(model:parameters()) do
    grads[#grads + 1] = p.grad
    n = n + p.grad:numel()
  end
  local flat = lunet.randn(n)
  local tb, tf = {}, {}
  for k = 1, opts.allreduce do
    dist.barrier()
    local t0 = lunet.now()
    C.all_reduce_coalesced(grads, { op = "mean" })
    tb[k] = lunet.now() - t0
    dist.barrier()
    t0 = lunet.now()
    dist.all_reduce(flat)
    tf[k] = lunet.now() - t0
  end
  local t = median(tb)
  out = out .. string.format(', "floats": %d, "allreduce_ms": %.2f, "allreduce_flat_ms": %.2f, "busbw_gbs": %.2f',
    n, t * 1e3, median(tf) * 1e3, 2 * (world - 1) / world * n * 4 / median(tf) / 1e9)
end
if rank == 0 then print(out .. "}") end
if dist then dist.finalize() end
