-- The core context: each Lua state owns one (csrc/lt_context.h) holding every piece of mutable
-- state of the C core: the thread budget, the conv algorithm / ISA choice, the scratch buffers,
-- the storage block cache and the collector pacing. The core keeps no writable process-wide
-- data (checked on the object files with nm), loading lunet.core again in a state reuses the
-- state's context, and the cache statistics are the context's. Two states in two threads and a
-- storage shared between them: examples/embed/threads.c, built and run by spec/embed_spec.lua.
local lunet = require "lunet"
local core = require "lunet.core"

local function sh(cmd)
  local p = io.popen(cmd .. " 2>/dev/null")
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

-- Writable data the core's object files may hold, as "object symbol" -> section:
-- - gomp: the OpenMP runtime's settings (csrc/lt_omp.c), set in core.so's constructor, which
--   runs once when the library is mapped, before any Lua state or context exists; every later
--   access only reads them (once-initialised, read-only after, like a CPU feature probe);
-- - me: the OpenMP runtime's per-thread state (thread-local: the region a thread runs a slot
--   of, its spin budget, the team of workers it owns), shared with no other thread.
-- Everything else that changes is a context's (the last range error included).
local ALLOWED = {
  ["lt_omp.o gomp"] = ".bss",
  ["lt_omp.o me"] = ".tbss",
}

-- "object symbol" -> section for every symbol of class b, B, d or D in dir/*.o outside the
-- sections that are read-only after relocation (.data.rel.ro*: const tables of pointers,
-- such as luaL_Reg arrays, which nm also prints as d); returns the map and the object count.
local function writable_symbols(dir)
  local found, nobj = {}, 0
  local list = sh("ls " .. dir .. "/*.o")
  for path in list:gmatch("[^\n]+") do
    nobj = nobj + 1
    local obj = path:match("([^/]+)$")
    local out = assert(sh("nm -f sysv " .. path))
    for line in out:gmatch("[^\n]+") do
      -- name | value | class | type | size | line | section
      local f = {}
      for field in (line .. "|"):gmatch("([^|]*)|") do f[#f + 1] = field:match("^%s*(.-)%s*$") end
      local name, class, section = f[1], f[3], f[7]
      if class and class:match("^[bBdD]$") and not (section or ""):match("^%.data%.rel%.ro") then
        found[obj .. " " .. name] = section
      end
    end
  end
  return found, nobj
end

describe("the C core", function()
  it("has no writable process-wide data: nm finds only the allow-listed symbols", function()
    local _, has_nm = sh("command -v nm")
    if not has_nm then
      pending("nm (binutils) is not installed: the object files were not checked")
      return
    end
    local dir = (os.getenv("LUNET_ASAN") and "build-asan" or "build") .. "/obj"
    local found, nobj = writable_symbols(dir)
    if nobj == 0 then
      pending("no object files in " .. dir .. ": build first (make)")
      return
    end
    assert.is_true(nobj >= 20, "only " .. nobj .. " object files in " .. dir)
    if os.getenv("LUNET_ASAN") then
      -- AddressSanitizer adds its own globals (redzone descriptors): drop those
      for k in pairs(found) do
        if k:match(" __asan") or k:match(" %.L") or k:match(" __odr_asan") or k:match(" __ubsan") then
          found[k] = nil
        end
      end
    end
    assert.are.same(ALLOWED, found)
  end)

  it("writes lt_omp.c's gomp table only in its constructor (once, when core.so is mapped)", function()
    local f = assert(io.open("csrc/lt_omp.c"))
    local src = f:read("a")
    f:close()
    local s, e = src:find("static void lt_omp_load%(void%) {.-\n}\n")
    assert.is_truthy(s, "lt_omp_load not found in csrc/lt_omp.c")
    assert.is_truthy(src:sub(s, e):find("gomp%.ok = ok"))
    local rest = src:sub(1, s - 1) .. src:sub(e + 1)
    rest = rest:gsub("/%*.-%*/", "")                     -- comments
    for line in rest:gmatch("[^\n]+") do
      -- an assignment, compound assignment, increment or address taken of gomp or its fields
      local bad = line:match("gomp[%.%w_]*%s*[-+*/|&]?=[^=]") or line:match("&%s*gomp")
        or line:match("gomp[%.%w_]*%s*%+%+") or line:match("%+%+%s*gomp")
      assert.is_nil(bad, "csrc/lt_omp.c writes gomp outside lt_omp_load: " .. line)
    end
  end)
end)

describe("the state's core context", function()
  it("holds the thread budget that set_num_threads / get_num_threads read and write", function()
    local old = lunet.get_num_threads()
    lunet.set_num_threads(3)
    assert.are.equal(3, lunet.get_num_threads())
    lunet.set_num_threads(1)
    assert.are.equal(1, core.get_num_threads())
    lunet.set_num_threads(old)
    assert.are.equal(old, lunet.get_num_threads())
  end)

  it("counts live and cached storage bytes, cache hits and misses", function()
    lunet.empty_cache()
    local s0 = lunet.memory_stats()
    assert.are.equal(0, s0.cached_bytes)
    assert.are.equal(1 << 30, s0.cache_limit)
    -- 1 MiB exactly: a cache size class of its own (blocks >= 64 kB are recycled)
    local t = lunet.zeros(262144)
    local s1 = lunet.memory_stats()
    assert.are.equal(s0.live_bytes + 1048576, s1.live_bytes)
    assert.are.equal(s0.cache_misses + 1, s1.cache_misses)
    t:free()
    local s2 = lunet.memory_stats()
    assert.are.equal(s0.live_bytes, s2.live_bytes)
    assert.are.equal(1048576, s2.cached_bytes)
    local u = lunet.empty(262144)       -- served from the cache
    local s3 = lunet.memory_stats()
    assert.are.equal(s2.cache_hits + 1, s3.cache_hits)
    assert.are.equal(s0.cache_misses + 1, s3.cache_misses)
    assert.are.equal(0, s3.cached_bytes)
    u:free()
    lunet.empty_cache()
    assert.are.equal(0, lunet.memory_stats().cached_bytes)
    -- small blocks are not cached: their bytes count as live, exactly
    local v = lunet.zeros(1000)
    assert.are.equal(s0.live_bytes + 4000, lunet.memory_stats().live_bytes)
    v:free()
    assert.are.equal(s0.live_bytes, lunet.memory_stats().live_bytes)
  end)

  it("holds the convolution algorithm and ISA choice", function()
    local nn = core.nn
    assert.are.equal("auto", nn.conv_set_algo("gemm"))
    assert.are.equal("gemm", nn.conv_set_algo("direct"))
    assert.are.equal("direct", nn.conv_set_algo("auto"))
    local isa = nn.conv_set_isa()        -- the ISA in use
    if nn.conv_isa_supported("avx2") then
      assert.are.equal(isa, nn.conv_set_isa("avx2"))
      assert.are.equal("avx2", nn.conv_set_isa(isa))
    end
    assert.are.equal(isa, nn.conv_set_isa())
  end)

  -- Last in this file: loading lunet.core again rebuilds the module's tables and metatables
  -- (lunet's Lua side had extended the tensor metatable's method table: restored after).
  it("is created once per state: loading lunet.core again reuses it", function()
    local reg = debug.getregistry()
    local saved = {}
    for _, name in ipairs { "lunet.Tensor", "lunet.Generator" } do
      local mt, copy = reg[name], {}
      for k, v in pairs(mt) do copy[k] = v end
      saved[name] = copy
    end
    local old = lunet.get_num_threads()
    local t = lunet.zeros(1000)             -- storage from the state's context
    package.loaded["lunet.core"] = nil
    local ok, again = pcall(require, "lunet.core")
    package.loaded["lunet.core"] = core
    for name, copy in pairs(saved) do
      local mt = reg[name]
      for k in pairs(mt) do mt[k] = nil end
      for k, v in pairs(copy) do mt[k] = v end
    end
    assert.is_true(ok, again)
    assert.are_not.equal(core, again)      -- a new module table ...
    again.set_num_threads(1)
    assert.are.equal(1, core.get_num_threads())   -- ... over the same context
    core.set_num_threads(2)
    assert.are.equal(2, again.get_num_threads())
    core.set_num_threads(old)
    assert.are.equal(core.memory_stats().live_bytes, again.memory_stats().live_bytes)
    local live = again.memory_stats().live_bytes
    t:free()
    assert.are.equal(live - 4000, core.memory_stats().live_bytes)
  end)
end)
