-- Memory: the collector sees tensor memory, so a long training-like loop holds a flat
-- resident set without the user calling collectgarbage().
local lunet = require "lunet"

local function rss_kb()
  local f = assert(io.open("/proc/self/statm"))
  local _, resident = f:read("n", "n")
  f:close()
  return resident * 4
end

describe("memory", function()
  it("stays flat over 2,000 forward/backward iterations without collectgarbage()", function()
    if os.getenv("LUNET_ASAN") then
      pending("AddressSanitizer's quarantine holds freed memory: RSS is not meaningful")
      return
    end
    local g = lunet.Generator(0)
    local w1 = (g:randn(64, 128) * 0.1):requires_grad()
    local w2 = (g:randn(128, 8) * 0.1):requires_grad()
    local x = g:randn(32, 64)
    local target = g:randn(32, 8)
    local baseline
    for it = 1, 2000 do
      local h = x:matmul(w1):relu()
      local loss = (h:matmul(w2) - target):square():mean()
      loss:backward()
      lunet.no_grad(function()
        w1:sub_(w1.grad, 1e-3)
        w2:sub_(w2.grad, 1e-3)
      end)
      w1.grad, w2.grad = nil, nil
      if it == 100 then baseline = rss_kb() end
    end
    local final = rss_kb()
    assert.is_true(final <= baseline * 1.10,
      ("resident memory grew from %d kB to %d kB"):format(baseline, final))
  end)

  it("frees every temporary of an operation that raises", function()
    local big = lunet.full({ 512, 512 }, 300)                 -- 1 MB of values uint8 cannot hold
    local u = lunet.full({ 512, 512 }, 250, { dtype = "uint8" })
    collectgarbage()
    collectgarbage()
    local before = lunet.memory_stats().live_bytes
    for _ = 1, 200 do
      assert.is_false(pcall(big.to, big, "uint8"))             -- scan fails before any write
      assert.is_false(pcall(u.add_, u, 10))                     -- works on a copy, then raises
      assert.is_false(pcall(function() return u + u end))       -- the result tensor is dropped
      assert.is_false(pcall(lunet.zeros, 2 ^ 40, 2 ^ 40))       -- nothing allocated
    end
    collectgarbage()
    collectgarbage()
    assert.are.equal(before, lunet.memory_stats().live_bytes)
    assert.are.equal(250, u:get(1, 1))
  end)
end)
