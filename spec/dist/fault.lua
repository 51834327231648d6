-- spec/dist/fault.lua: rank 1 fails in the middle of a loop of all-reduces, the others carry
-- on; distributed_spec.lua checks how the job ends.
-- usage: mpirun -np W lua5.4 spec/dist/fault.lua error|kill|hang|exit|finalize TIMEOUT
--   error     rank 1 raises a Lua error at step 3
--   kill      rank 1 is killed with SIGKILL at step 3
--   hang      rank 1 sleeps 60 s at step 3 (the others time out)
--   exit      rank 1 calls os.exit(3) at step 3 (no finalize, no state close)
--   finalize  rank 1 calls finalize() at step 3 and returns
local lunet = require "lunet"
local dist = require "lunet.distributed"

local mode, timeout = arg[1], tonumber(arg[2])
local rank = dist.init { timeout = timeout }
local t = lunet.zeros(1000)
for step = 1, 6 do
  if rank == 1 and step == 3 then
    if mode == "error" then error("fault: rank 1 fails on purpose", 0) end
    if mode == "kill" then os.execute("kill -9 " .. io.open("/proc/self/stat"):read("n")) end
    if mode == "hang" then os.execute("sleep 60") end
    if mode == "exit" then os.exit(3) end
    if mode == "finalize" then dist.finalize() return end
  end
  dist.all_reduce(t)
end
print("rank " .. rank .. " finished")
dist.finalize()
