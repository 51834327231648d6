-- The multi-tensor Adam update (core.nn.adam_step -> lt_adam_update_multi: one parallel
-- region over the concatenated elements of all parameters) against the same kernel run one
-- tensor per call (bit-identical: the update is elementwise, only the split across threads
-- differs) and against the naive loop, with 1 and 2 threads, per-tensor steps, every option,
-- sizes around the threading threshold, and a parameter listed twice.
local lunet = require "lunet"
local core = require "lunet.core"
local adam_step = core.nn.adam_step

local function clone_all(list)
  local out = {}
  for i, t in ipairs(list) do out[i] = t:clone() end
  return out
end

local function state(g, sizes)
  local P, G, M, V, VM, S = {}, {}, {}, {}, {}, {}
  for i, n in ipairs(sizes) do
    P[i], G[i] = g:randn(n), g:randn(n)
    M[i], V[i], VM[i] = g:randn(n) * 0.1, g:rand(n) * 0.01, g:rand(n) * 0.02
    S[i] = 1 + (i * 7) % 5
  end
  return P, G, M, V, VM, S
end

local function max_diff(a, b)
  local m = 0
  for i = 1, #a do
    if a[i]:numel() > 0 then m = math.max(m, (a[i] - b[i]):abs():max():item()) end
  end
  return m
end

describe("multi-tensor Adam (lt_adam_update_multi)", function()
  after_each(function() lunet.set_num_threads(2) end)

  local option_sets = {
    {}, { weight_decay = 0.1 }, { amsgrad = true }, { maximize = true, weight_decay = 0.05, amsgrad = true },
    { decoupled = true, weight_decay = 0.2 }, { decoupled = true, amsgrad = true, maximize = true, eps = 1e-3 },
  }
  local size_sets = {
    { 1, 7, 0, 33 },                          -- all below the threshold: one thread
    { 40000, 3, 30000, 17, 1 },               -- 70020 in total: two threads split inside tensors
    { 65536 }, { 5, 100003, 9, 64, 2 },
  }

  for oi, o in ipairs(option_sets) do
    it("equals one call per tensor bit for bit and the naive loop within 1e-6 (options " .. oi .. ")", function()
      for si, sizes in ipairs(size_sets) do
        for _, threads in ipairs { 1, 2 } do
          lunet.set_num_threads(threads)
          local g = lunet.Generator(100 * oi + si)
          local P, G, M, V, VM, S = state(g, sizes)
          local opts = { lr = 0.01 }
          for k, v in pairs(o) do opts[k] = v end
          local P2, M2, V2, VM2 = clone_all(P), clone_all(M), clone_all(V), clone_all(VM)
          local P3, M3, V3, VM3 = clone_all(P), clone_all(M), clone_all(V), clone_all(VM)
          local vm = opts.amsgrad and VM or nil
          assert.are.equal(#sizes, adam_step(P, G, M, V, vm, S, opts))
          for i = 1, #sizes do
            adam_step({ P2[i] }, { G[i] }, { M2[i] }, { V2[i] }, opts.amsgrad and { VM2[i] } or nil, { S[i] }, opts)
          end
          local no = {}
          for k, v in pairs(opts) do no[k] = v end
          no.naive = true
          adam_step(P3, G, M3, V3, opts.amsgrad and VM3 or nil, S, no)
          local what = string.format("sizes %d threads %d", si, threads)
          assert.are.equal(0, max_diff(P, P2), "p " .. what)
          assert.are.equal(0, max_diff(M, M2), "m " .. what)
          assert.are.equal(0, max_diff(V, V2), "v " .. what)
          if opts.amsgrad then assert.are.equal(0, max_diff(VM, VM2), "vmax " .. what) end
          assert.is_true(max_diff(P, P3) <= 1e-6, "p vs naive " .. what)
          assert.is_true(max_diff(M, M3) <= 1e-6, "m vs naive " .. what)
          assert.is_true(max_diff(V, V3) <= 1e-6, "v vs naive " .. what)
        end
      end
    end)
  end

  it("updates a parameter listed twice twice, in order, as one call per entry", function()
    local g = lunet.Generator(9)
    local p, g1, g2 = g:randn(70000), g:randn(70000), g:randn(70000)
    local m1, v1, m2, v2 = lunet.zeros(70000), lunet.zeros(70000), lunet.zeros(70000), lunet.zeros(70000)
    local q = p:clone()
    adam_step({ p, p }, { g1, g2 }, { m1, m2 }, { v1, v2 }, nil, { 1, 1 }, { lr = 0.1 })
    local n1, w1, n2, w2 = lunet.zeros(70000), lunet.zeros(70000), lunet.zeros(70000), lunet.zeros(70000)
    adam_step({ q }, { g1 }, { n1 }, { w1 }, nil, { 1 }, { lr = 0.1 })
    adam_step({ q }, { g2 }, { n2 }, { w2 }, nil, { 1 }, { lr = 0.1 })
    assert.are.equal(0, (p - q):abs():max():item())
  end)

  it("checks every entry before updating any", function()
    local p1, p2 = lunet.ones(4), lunet.ones(4)
    local ok, err = pcall(adam_step, { p1, p2 }, { lunet.ones(4), lunet.ones(4) }, { lunet.zeros(4), lunet.zeros(4) },
      { lunet.zeros(4), lunet.zeros(4) }, nil, { 1, 0 }, { lr = 0.1 })
    assert.is_false(ok)
    assert.are.equal("adam_step: steps[2] must be an integer >= 1", err)
    assert.are.equal(4, p1:sum():item())
  end)
end)
