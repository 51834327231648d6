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

-- One busted case per {name, fn, expected message}.
function H.error_cases(cases)
  for _, c in ipairs(cases) do
    it("rejects " .. c[1], function()
      assert.has_error(c[2], c[3])
    end)
  end
end

return H
