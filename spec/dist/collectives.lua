-- spec/dist/collectives.lua: every collective of lunet.distributed on W ranks, checked on
-- each rank against values computed locally (rank r contributes values made from r).
-- usage: mpirun -np W lua5.4 spec/dist/collectives.lua
-- Prints "rank R of W: N checks passed" per rank, or fails with the check's message.
local lunet = require "lunet"
local dist = require "lunet.distributed"

local rank, W = dist.init { timeout = 60 }
assert(dist.is_initialized() and dist.rank() == rank and dist.world_size() == W)
local checks = 0
local function check(cond, msg)
  if not cond then error(string.format("rank %d: %s", rank, msg), 0) end
  checks = checks + 1
end
-- init() split the cores among the ranks on this machine
local here = tonumber(os.getenv("OMPI_COMM_WORLD_LOCAL_SIZE"))
local cores = require("lunet.distributed.core").cores()
check(lunet.get_num_threads() == math.max(1, cores // here), "threads: " .. lunet.get_num_threads())
local function same(t, list, what)
  local v = t:tolist()
  check(#v == #list, what .. ": " .. #v .. " values, expected " .. #list)
  for i = 1, #list do
    check(v[i] == list[i], string.format("%s: value %d is %s, expected %s", what, i, tostring(v[i]), tostring(list[i])))
  end
end
-- sum of f(r) over the ranks
local function over(f)
  local s = 0
  for r = 0, W - 1 do s = s + f(r) end
  return s
end
local function errors(fn, pattern, what)
  local ok, err = pcall(fn)
  check(not ok, what .. ": no error")
  check(tostring(err):find(pattern, 1, true) ~= nil, what .. ": got " .. tostring(err))
end

-- all_reduce: float32 and int32, every op; the result is the same tensor, in place
local t = lunet.tensor { 1 + rank, -2 * rank, 0.5 }
check(dist.all_reduce(t) == t, "all_reduce returns its tensor")
same(t, { over(function(r) return 1 + r end), over(function(r) return -2 * r end), 0.5 * W }, "sum")
t = lunet.tensor { 1 + rank, 3 }
dist.all_reduce(t, { op = "mean" })
same(t, { over(function(r) return 1 + r end) / W, 3 }, "mean")
t = lunet.tensor({ rank, -rank }, { dtype = "int32" })
dist.all_reduce(t, { op = "max" })
same(t, { W - 1, 0 }, "int32 max")
t = lunet.tensor({ rank, -rank }, { dtype = "int32" })
dist.all_reduce(t, { op = "min" })
same(t, { 0, -(W - 1) }, "int32 min")
t = lunet.tensor({ 100000000, -7 }, { dtype = "int32" })
dist.all_reduce(t)
same(t, { 100000000 * W, -7 * W }, "int32 sum")
-- a non-contiguous view is reduced in place through a copy
local base = lunet.arange(0, 6):view(2, 3):add(rank)
local col = base:select(2, 2)          -- {1 + rank, 4 + rank}, stride 3
dist.all_reduce(col)
same(base, { rank, over(function(r) return 1 + r end), 2 + rank, 3 + rank, over(function(r) return 4 + r end), 5 + rank },
  "strided view")
-- a 0-d tensor
local s = lunet.tensor(2.0)
dist.all_reduce(s, { op = "max" })
check(s:item() == 2, "0-d all_reduce")

-- broadcast from each root, any dtype
for root = 0, W - 1 do
  local b = lunet.tensor({ { rank, rank + 1 }, { 7, 8 } }, { dtype = "uint8" })
  dist.broadcast(b, { root = root })
  same(b, { root, root + 1, 7, 8 }, "broadcast from " .. root)
end

-- all_gather: a list of W tensors, rank k's at k + 1
local parts = dist.all_gather(lunet.full({ 2, 2 }, rank):to("int32"))
check(#parts == W, "all_gather gives W tensors")
for k = 1, W do
  same(parts[k], { k - 1, k - 1, k - 1, k - 1 }, "all_gather part " .. k)
  check(parts[k]:dtype() == "int32" and parts[k]:dim() == 2, "all_gather part shape")
end

-- numbers and strings
local n = dist.all_reduce_numbers({ 3, 0.25, rank })
check(n[1] == 3 * W and math.type(n[1]) == "integer", "numbers: integer sum")
check(n[2] == 0.25 * W and math.type(n[2]) == "float", "numbers: float sum")
check(n[3] == over(function(r) return r end), "numbers: rank sum")
check(dist.broadcast_string(rank == 0 and "checkpoint bytes\0and more" or nil) == "checkpoint bytes\0and more",
  "broadcast_string")
dist.barrier()

-- errors that every rank raises the same way, after which the group still works
errors(function()
  dist.all_reduce(lunet.zeros(rank == 0 and 4 or 5))
end, "all_reduce: the ranks made different calls: rank 0 is in call ", "different sizes")
errors(function()
  if rank == 0 then dist.barrier() else dist.all_reduce(lunet.zeros(3)) end
end, "(barrier), rank 1 in call", "different calls")
errors(function()
  dist.all_reduce(lunet.zeros(rank == 0 and { 2, 3 } or { 3, 2 }))
end, "all_reduce: the ranks passed tensors of different shapes (all_reduce of 6 float32 values (sum)): rank 0 and rank 1 differ",
  "different shapes")
errors(function()
  dist.all_reduce(lunet.tensor({ 2147483647, 1 }, { dtype = "int32" }))
end, "all_reduce: the int32 sum overflows at element 1: " .. (2147483647 * W) .. " does not fit int32", "int32 overflow")
errors(function() dist.all_reduce(lunet.zeros(2):expand(3, 2)) end,
  "all_reduce: tensor is an expanded view (dimension 1 has stride 0)", "expanded view")
errors(function() dist.broadcast(lunet.zeros(2), { root = W }) end,
  "broadcast: option root must be in [0, " .. (W - 1) .. "], got " .. W, "root out of range")
t = lunet.tensor { 1 }
dist.all_reduce(t)
same(t, { W }, "usable after the errors")

-- the root of a broadcast may finish it, finalize and leave while the others still receive:
-- its leave notice must not fail them
local last = lunet.tensor { rank }
dist.broadcast(last, { root = W - 1 })
check(last:item() == W - 1, "last broadcast")

dist.finalize()
check(not dist.is_initialized(), "finalized")
errors(function() dist.barrier() end, "barrier: called after finalize()", "after finalize")
print(string.format("rank %d of %d: %d checks passed", rank, W, checks))
