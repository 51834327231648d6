-- lunet.distributed across machines: 2 ranks that talk only through Open MPI's TCP transport
-- (--mca btl tcp,self) on the loopback interface, as ranks on two machines would over the
-- network (the README shows the hostfile run and how to choose the interface). Skipped,
-- with a message, where mpirun is not installed.
local lunet = require "lunet"
local MPI = dofile("spec/dist/mpi.lua")

if not MPI.mpirun then
  describe("lunet.distributed over TCP", function()
    pending("skipped: mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev; make test does)")
  end)
  return
end

describe("lunet.distributed over TCP on loopback", function()
  it("selects the TCP transport and gets every collective right", function()
    local out, rc = MPI.launch(2, "spec/dist/collectives.lua", {}, { tcp = true, verbose = true })
    assert.are.equal(0, rc, out)
    assert.is_truthy(out:find("btl: tcp: Using interface: lo", 1, true), out)
    assert.is_nil(out:find("vader", 1, true), out)   -- no shared memory between the ranks
    for r = 0, 1 do assert.is_truthy(out:find("rank " .. r .. " of 2: 71 checks passed", 1, true), out) end
  end)

  it("trains DistributedDataParallel + SyncBatchNorm to the weights of one process with the doubled batch", function()
    local dir = MPI.tmpdir()
    local ok, err = pcall(function()
      local out, rc = MPI.lua("spec/dist/equiv.lua", { "single", "bn", dir .. "/single.st" })
      assert.are.equal(0, rc, out)
      out, rc = MPI.launch(2, "spec/dist/equiv.lua", { "dist", "bn", dir .. "/dist.st" }, { tcp = true })
      assert.are.equal(0, rc, out)
      local a, b = lunet.load(dir .. "/single.st"), lunet.load(dir .. "/dist.st")
      for k, v in pairs(a) do
        if v:dtype() == "float32" then
          local scale = math.max(b[k]:abs():max():item(), 1e-30)
          assert.is_true((v - b[k]):abs():max():item() / scale <= 1e-5, k)
        end
      end
    end)
    os.execute("rm -rf " .. MPI.sh_quote(dir))
    if not ok then error(err, 0) end
  end)

  it("stops the job with a clear message when a rank fails", function()
    local out, rc = MPI.launch(2, "spec/dist/fault.lua", { "error", "120" }, { tcp = true, guard = 100 })
    assert.are_not.equal(124, rc, out)
    assert.are_not.equal(0, rc)
    assert.is_truthy(out:find("all_reduce: rank 1 ended", 1, true), out)
  end)
end)
