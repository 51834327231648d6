-- The portable build and its ISA levels (csrc/lt_isa.h). The default build has no
-- -march (it runs on any x86-64); the hot elementwise, activation and batch-norm loops are
-- compiled for baseline x86-64, x86-64-v3 (AVX2) and x86-64-v4 (AVX-512) and each state runs
-- the copy of its level: the best the CPU has, lowered by LUNET_ISA=generic|avx2|avx512 when
-- the state's context is created, or by lunet.core.set_isa. Every level the CPU has must
-- compute what the best level computes: the kernels one by one and a U-Net training step
-- (forward, loss, backward), in this process and in subprocesses started with LUNET_ISA.
local lunet = require "lunet"
local core = require "lunet.core"
local nn = require "lunet.nn"
local F = nn.functional
local UNet = require "lunet.models.unet"

local LEVELS = { "generic", "avx2", "avx512" }
local in_use, cpu = core.isa()
local cpu_rank = ({ generic = 1, avx2 = 2, avx512 = 3 })[cpu]

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

-- Runs fn with the state at level, restoring the previous level even if fn fails.
local function at_level(level, fn)
  local prev = core.set_isa(level)
  local ok, a, b = pcall(fn)
  core.set_isa(prev)
  if not ok then error(a, 0) end
  return a, b
end

-- max |a - b| / max(1, max |b|) over two tensors of one shape
local function rel_diff(a, b)
  assert.are.same(b:shape(), a:shape())
  if a:numel() == 0 then return 0 end
  local scale = math.max(1, b:abs():max():item())
  return (a - b):abs():max():item() / scale
end

-- Every kernel that has per-level copies, on shapes with odd tails (not multiples of any
-- vector width) and 2 threads (the chunked paths); returns a list of {name, tensor}.
local function kernels()
  lunet.manual_seed(7)
  local out = {}
  local function add(name, t) out[#out + 1] = { name, t } end
  local x = lunet.randn(3, 5, 37, 19)                -- 10545 elements
  local big = lunet.randn(2, 3, 151, 131)            -- above the kernels' parallel threshold
  local dy = lunet.randn(3, 5, 37, 19)
  for _, act in ipairs { "relu", "leaky_relu", "sigmoid", "tanh" } do
    for _, input in ipairs { x, big } do
      local xi = input:clone():requires_grad(true)
      local y = F[act](xi)
      local g = lunet.randn(y:shape())
      y:backward(g)
      add(act .. " forward " .. input:numel(), y:detach())
      add(act .. " backward " .. input:numel(), xi.grad)
    end
  end
  -- batch norm in training: statistics, normalisation, and the backward's reductions
  for _, input in ipairs { x, big } do
    local C = input:size(2)
    local xi = input:clone():requires_grad(true)
    local w = lunet.randn(C):requires_grad(true)
    local b = lunet.randn(C):requires_grad(true)
    local rm, rv = lunet.zeros(C), lunet.ones(C)
    local y = F.batch_norm(xi, rm, rv, w, b, { training = true })
    y:backward(lunet.randn(y:shape()))
    add("batch_norm y " .. input:numel(), y:detach())
    add("batch_norm running_var " .. input:numel(), rv)
    add("batch_norm x.grad " .. input:numel(), xi.grad)
    add("batch_norm w.grad " .. input:numel(), w.grad)
    add("batch_norm b.grad " .. input:numel(), b.grad)
  end
  -- elementwise: same shape, row broadcast, scalar, unary, axpy (add_ with alpha)
  add("add", x + dy)
  add("mul", x * dy)
  add("div", x / (dy:abs() + 1))
  add("max", x:maximum(dy))
  add("bias broadcast", big + lunet.randn(131))
  add("scalar mul", x * 1.7)
  add("scalar rsub", 2.5 - x)
  add("neg", -x)
  add("exp", x:exp())
  add("relu", x:relu())
  add("sqrt", x:abs():sqrt())
  add("add_ alpha", x:clone():add_(dy, 0.3))
  add("matmul", lunet.randn(67, 45):matmul(lunet.randn(45, 29)))
  add("conv2d", F.conv2d(lunet.randn(2, 3, 17, 24), lunet.randn(4, 3, 3, 3), lunet.randn(4), { padding = 1 }))
  return out
end

-- One U-Net training step at the state's level: the loss, the logits and every gradient.
local function unet_step()
  lunet.manual_seed(3)
  local model = UNet { in_channels = 2, num_classes = 3, base = 4, depth = 2, norm = "batch" }
  local x = lunet.randn(2, 2, 24, 20)
  local y = lunet.randint(0, 3, { 2, 24, 20 })
  local logits = model(x)
  local loss = F.cross_entropy(logits, y) + F.relu(logits):mean()
  loss:backward()
  local out = { { "loss", loss:detach() }, { "logits", logits:detach() } }
  for _, p in ipairs(model:parameters()) do out[#out + 1] = { "grad " .. #out, p.grad } end
  return out
end

local function compare(want, got, tol, where)
  assert.are.equal(#want, #got)
  for i, w in ipairs(want) do
    assert.are.equal(w[1], got[i][1])
    local d = rel_diff(got[i][2], w[2])
    assert(d <= tol, string.format("%s: %s differs from the best level by %g (tolerance %g)",
                                   where, w[1], d, tol))
  end
end

describe("ISA levels", function()
  it("reports the level in use and the CPU's best; the default is the CPU's best", function()
    assert.is_truthy(cpu_rank)
    if not os.getenv("LUNET_ISA") then assert.are.equal(cpu, in_use) end
    assert.are.equal(in_use, (core.isa()))
  end)

  it("set_isa returns the previous level and rejects unknown levels and levels above the CPU", function()
    assert.are.equal(in_use, core.set_isa("generic"))
    assert.are.equal("generic", (core.isa()))
    assert.are.equal("generic", core.set_isa(in_use))
    assert.has_error(function() core.set_isa("sse4") end,
      'set_isa: level must be "generic", "avx2" or "avx512", got "sse4"')
    assert.has_error(function() core.set_isa() end,
      'set_isa: level must be "generic", "avx2" or "avx512", got no value')
    assert.has_error(function() core.set_isa(2) end,
      'set_isa: level must be "generic", "avx2" or "avx512", got number')
    for r = cpu_rank + 1, 3 do
      assert.has_error(function() core.set_isa(LEVELS[r]) end,
        'set_isa: this CPU runs at most "' .. cpu .. '", not "' .. LEVELS[r] .. '"')
    end
    assert.are.equal(in_use, (core.isa()))
  end)

  it("sets the convolution ISA with the level (AVX2 below AVX-512)", function()
    if not core.nn.conv_isa_supported("avx2") then
      pending("no AVX2: the direct convolution kernels do not run here")
      return
    end
    at_level("avx2", function() assert.are.equal("avx2", core.nn.conv_set_isa()) end)
    at_level("generic", function() assert.are.equal("avx2", core.nn.conv_set_isa()) end)
    if cpu == "avx512" then
      at_level("avx512", function() assert.are.equal("avx512", core.nn.conv_set_isa()) end)
    end
  end)

  it("computes the same kernels at every level the CPU has", function()
    local old = lunet.get_num_threads()
    lunet.set_num_threads(2)
    local ok, err = pcall(function()
      local want = at_level(cpu, kernels)
      for r = 1, cpu_rank do
        compare(want, at_level(LEVELS[r], kernels), 2e-6, LEVELS[r])
      end
    end)
    lunet.set_num_threads(old)
    assert(ok, err)
  end)

  it("trains a U-Net step to the same loss and gradients at every level the CPU has", function()
    local want = at_level(cpu, unet_step)
    for r = 1, cpu_rank do
      compare(want, at_level(LEVELS[r], unet_step), 1e-4, LEVELS[r])
    end
  end)

  it("starts each new state at LUNET_ISA's level, which gives the same U-Net step", function()
    local lua = "lua5.4"
    local want = at_level(cpu, unet_step)
    local code = [[
      local lunet = require "lunet"
      local F, UNet = lunet.nn.functional, require "lunet.models.unet"
      lunet.manual_seed(3)
      local model = UNet { in_channels = 2, num_classes = 3, base = 4, depth = 2, norm = "batch" }
      local x = lunet.randn(2, 2, 24, 20)
      local y = lunet.randint(0, 3, { 2, 24, 20 })
      local logits = model(x)
      local loss = F.cross_entropy(logits, y) + F.relu(logits):mean()
      loss:backward()
      local g = 0
      for _, p in ipairs(model:parameters()) do g = g + p.grad:abs():sum():item() end
      io.write(lunet.core.isa(), " ", string.format("%.9g %.9g", loss:item(), g))
    ]]
    local gsum = 0
    for i = 3, #want do gsum = gsum + want[i][2]:abs():sum():item() end
    for r = 1, cpu_rank do
      local out, ok = sh(string.format("LUNET_ISA=%s %s -e %q", LEVELS[r], lua, code))
      assert(ok, out)
      local level, loss, g = out:match("^(%S+) (%S+) (%S+)$")
      assert(level, out)
      assert.are.equal(LEVELS[r], level)
      assert.is_true(math.abs(tonumber(loss) - want[1][2]:item()) <= 1e-5, out)
      assert.is_true(math.abs(tonumber(g) - gsum) <= 1e-4 * math.max(1, gsum), out)
    end
    -- a level above the CPU's is capped to the CPU's; an unknown name fails the require
    local out, ok = sh(string.format("LUNET_ISA=avx512 %s -e %q", lua,
                                     'io.write((require "lunet.core".isa()))'))
    assert(ok, out)
    assert.are.equal(cpu, out)
    out, ok = sh(string.format("LUNET_ISA=sse2 %s -e %q", lua, 'require "lunet.core"'))
    assert.is_falsy(ok)
    assert.is_truthy(out:find('lunet: LUNET_ISA must be "generic", "avx2" or "avx512", got "sse2"', 1, true), out)
  end)
end)

describe("the portable build", function()
  -- the compile command make would run for one object, with the given variables
  local function compile_line(vars)
    -- (without the sanitizer build's LD_PRELOAD: make and gcc are not lunet)
    local out, ok = sh("env -u LD_PRELOAD make -s -n -B BUILD=build-isa-probe " .. vars ..
                       " build-isa-probe/obj/lt_math.o")
    assert(ok, out)
    for line in out:gmatch("[^\n]+") do
      if line:find("-c csrc/lt_math.c", 1, true) then return line end
    end
    error("no compile line in: " .. out)
  end

  it("compiles without -march by default and with -march=native under NATIVE=1", function()
    local _, has_make = sh("command -v make")
    if not has_make then
      pending("make is not installed")
      return
    end
    local default = compile_line("")
    assert.is_nil(default:find("-march", 1, true), default)
    assert.is_truthy(default:find("-O3", 1, true), default)
    local native = compile_line("NATIVE=1")
    assert.is_truthy(native:find("-march=native", 1, true), native)
    -- the rock builds with the Makefile's default flags (no OPT override, no -march)
    local spec = {}
    assert(loadfile("lunet-scm-1.rockspec", "t", spec))()
    assert.is_nil(spec.build.build_variables.OPT)
    for k, v in pairs(spec.build.build_variables) do
      assert.is_nil(tostring(v):find("march", 1, true), k)
    end
  end)

  it("NATIVE=1 compiles the multiversioned files (one copy per loop for the native ISA)", function()
    local _, has_make = sh("command -v make")
    if not has_make then
      pending("make is not installed")
      return
    end
    local line = compile_line("NATIVE=1")
    for _, file in ipairs { "lt_activation.c", "lt_norm.c", "lt_math.c" } do
      local cmd = line:gsub("%-c csrc/lt_math%.c %-o %S+", "-c csrc/" .. file .. " -o /dev/null")
      assert.is_truthy(cmd:find("/dev/null", 1, true), cmd)
      local out, ok = sh("env -u LD_PRELOAD " .. cmd)
      assert(ok, out)
      assert.are.equal("", out)
    end
  end)

  it("holds baseline, AVX2 and AVX-512 copies of the hot loops in its objects", function()
    if os.getenv("LUNET_ASAN") then
      pending("the sanitizer build is compiled at -O1, without vectorisation")
      return
    end
    local _, has_objdump = sh("command -v objdump")
    if not has_objdump then
      pending("objdump (binutils) is not installed")
      return
    end
    local flags = io.open("build/obj/cflags.txt")
    local line = flags and flags:read("a") or ""
    if flags then flags:close() end
    if line:find("-march", 1, true) or not line:find("gcc", 1, true) and not line:find("^cc ") then
      pending("build/ is not the default gcc build: " .. line)
      return
    end
    local dis = assert(sh("objdump -d --no-show-raw-insn build/obj/lt_activation.o"))
    -- the body of one function of the disassembly
    local function body(name)
      local b = dis:match("<" .. name .. ">:\n(.-)\n\n")
      assert(b, name .. " is not in build/obj/lt_activation.o")
      return b
    end
    assert.is_nil(body("act_bwd_v1"):find("%%[yz]mm"))      -- baseline: SSE registers only
    assert.is_truthy(body("act_bwd_v3"):find("%%ymm"))
    assert.is_truthy(body("act_bwd_v4"):find("%%zmm"))
  end)
end)
