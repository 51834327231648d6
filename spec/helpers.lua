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

-- A 3x3 convolution case c = {n, cin, cout, h, w, padding, bias} under conv algorithm algo at
-- ISA level (nil: the one in use) and thread count (nil: unchanged): the forward pass, input
-- gradient and weight gradient within bound (default 1e-4, relative: H.rel_err) of the naive
-- direct-loop kernels; repeat_: also the same forward bits on a second call. Random data from
-- lunet's generator. Returns the three errors.
function H.check_conv_vs_naive(c, algo, level, threads, bound, repeat_)
  local nn = require("lunet.core").nn
  bound = bound or 1e-4
  local x = lunet.randn(c.n, c.cin, c.h, c.w)
  local w = lunet.randn(c.cout, c.cin, 3, 3)
  local b = c.bias and lunet.randn(c.cout) or nil
  local opts = { padding = c.padding }
  local yref = nn.conv2d_forward_naive(x, w, b, opts)
  local gy = lunet.randn(yref:shape())
  local dxref, dwref = nn.conv2d_backward_naive(gy, x, w, opts)
  local what = string.format("%s %s %d thread(s), x %s, w %s, padding %s, bias %s", algo,
    level or "default", threads or lunet.get_num_threads(), table.concat(x:shape(), "x"),
    table.concat(w:shape(), "x"), tostring(c.padding), tostring(c.bias))
  local ey, ex, ew, same
  H.with_conv(algo, level, threads, function()
    local y = nn.conv2d_forward(x, w, b, opts)
    local dx, dw = nn.conv2d_backward(gy, x, w, opts)
    ey, ex, ew = H.rel_err(y, yref), H.rel_err(dx, dxref), H.rel_err(dw, dwref)
    same = not repeat_ or H.rel_err(nn.conv2d_forward(x, w, b, opts), y) == 0
  end)
  assert(ey <= bound, string.format("%s: forward error %.3g > %g", what, ey, bound))
  assert(ex <= bound, string.format("%s: input-gradient error %.3g > %g", what, ex, bound))
  assert(ew <= bound, string.format("%s: weight-gradient error %.3g > %g", what, ew, bound))
  assert(same, what .. ": forward not repeatable")
  return ey, ex, ew
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
