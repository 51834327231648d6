-- Helpers shared by the specs, loaded in the spec's environment (busted's it/assert):
--   local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()
local lunet = require "lunet"

local H = {}

-- The values of any tensor (any strides) as one flat row-major list.
function H.flat(t) return t:tolist() end

-- Marks t as requiring grad and returns it (gradcheck checks the inputs that do).
function H.rg(t)
  t:requires_grad(true)
  return t
end

-- Runs fn with n threads, restoring the previous count even if fn fails.
function H.with_threads(n, fn)
  local old = lunet.get_num_threads()
  lunet.set_num_threads(n)
  local ok, a, b, c, d = pcall(fn)
  lunet.set_num_threads(old)
  if not ok then error(a, 0) end
  return a, b, c, d
end

-- The ISA levels the CPU has, lowest first: "generic", then "avx2" and "avx512" where present.
function H.isa_levels()
  local _, cpu = require("lunet.core").isa()
  local n = ({ generic = 1, avx2 = 2, avx512 = 3 })[cpu]
  return table.move({ "generic", "avx2", "avx512" }, 1, n, 1, {})
end

-- Runs fn(level) at every ISA level the CPU has (lunet.core.set_isa), restoring the level in
-- use even if fn fails.
function H.each_isa(fn)
  local core = require "lunet.core"
  for _, level in ipairs(H.isa_levels()) do
    local prev = core.set_isa(level)
    local ok, err = pcall(fn, level)
    core.set_isa(prev)
    if not ok then error(err, 0) end
  end
end

-- max |a - b| / max |b|: the error relative to the output's scale (an elementwise relative
-- error is unbounded where outputs cross zero); b all zero counts as scale 1.
function H.rel_err(a, b)
  assert.are.same(b:shape(), a:shape())
  local scale = b:abs():max():item()
  if scale == 0 then scale = 1 end
  return (a - b):abs():max():item() / scale
end

-- Runs fn with convolution algorithm algo (lunet.core.nn.conv_set_algo), ISA level (nil: the
-- one in use) and thread count (nil: unchanged), restoring all three even if fn fails.
function H.with_conv(algo, level, threads, fn)
  local core = require "lunet.core"
  local prev_algo = core.nn.conv_set_algo(algo)
  local prev_level = level and core.set_isa(level)
  local prev_threads = lunet.get_num_threads()
  lunet.set_num_threads(threads or prev_threads)
  local ok, err = pcall(fn)
  core.nn.conv_set_algo(prev_algo)
  if prev_level then core.set_isa(prev_level) end
  lunet.set_num_threads(prev_threads)
  if not ok then error(err, 0) end
end

-- max |a - b| / max(1, max |b|): absolute below unit scale, relative above it.
function H.maxrel(a, b)
  local d = (a - b):abs():max():item()
  return d / math.max(1, b:abs():max():item())
end

-- The convolution ISA levels the CPU has, highest first, as { core level, conv ISA (nil for
-- generic) } pairs for lunet.core.set_isa and lunet.core.nn.conv_set_isa.
function H.conv_isa_levels()
  local nn = require("lunet.core").nn
  local out = {}
  if nn.conv_isa_supported("avx512") then out[#out + 1] = { "avx512", "avx512" } end
  if nn.conv_isa_supported("avx2") then out[#out + 1] = { "avx2", "avx2" } end
  out[#out + 1] = { "generic", nil }
  return out
end

-- One busted case per {name, fn, expected message}.
function H.error_cases(cases)
  for _, c in ipairs(cases) do
    it("rejects " .. c[1], function()
      assert.has_error(c[2], c[3])
    end)
  end
end

-- Quotes s for a POSIX shell command line.
function H.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- The whole content of file p (binary), or nil when it cannot be opened.
function H.slurp(p)
  local f = io.open(p, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Writes s to file p, replacing it.
function H.write(p, s)
  local f = assert(io.open(p, "wb"))
  f:write(s)
  f:close()
end

-- A fresh temporary directory named after tag, removed when the spec file's cases are done.
function H.tmpdir(tag)
  local d = os.tmpname()
  os.remove(d)
  d = d .. "_" .. tag
  assert(os.execute("mkdir -p " .. H.q(d)))
  teardown(function() os.execute("rm -rf " .. H.q(d)) end)
  return d
end

return H
