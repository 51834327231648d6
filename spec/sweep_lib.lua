-- The bad-input sweep's helpers (spec/sweep_*_spec.lua), loaded in the spec's environment:
--   local S = assert(loadfile("spec/sweep_lib.lua", "t", _ENV))()
-- A spec defines its own invoker so that the public function is called from a line of the
-- spec file itself (the error position the sweep checks):
--   local function invoke(f, ...) local r = table.pack(f(...)) return table.unpack(r, 1, r.n) end
local lunet = require "lunet"

local S = {}

-- Values of the wrong type for an argument (a tensor argument, a number argument, ...).
S.WRONG = {
  { "nil", nil }, { "a string", "x" }, { "a table", {} }, { "a boolean", true },
  { "a function", function() end },
}

-- Variants of a valid tensor t: { label, tensor, kind } with kind one of "dtype", "rank",
-- "noncontig" (same shape and values, other strides), "empty" (a zero-size dim), "one" (every
-- size 1), "nan", "inf".
function S.variants(t)
  local out = {}
  local dt = t:dtype()
  for _, d in ipairs { "float32", "int32", "uint8" } do
    if d ~= dt then out[#out + 1] = { "a " .. d .. " tensor", t:to(d), "dtype" } end
  end
  out[#out + 1] = { "a tensor of one more dim", t:unsqueeze(1), "rank" }
  if t:dim() > 1 then out[#out + 1] = { "a tensor of one dim less", t:select(1, 1), "rank" } end
  out[#out + 1] = { "a 0-d tensor", lunet.tensor(1):to(dt), "rank" }
  if t:dim() >= 2 then
    local n = t:dim()
    out[#out + 1] = { "a transposed view", t:transpose(n - 1, n):contiguous():transpose(n - 1, n), "noncontig" }
  end
  -- a strided view: t interleaved with a copy of itself, every other row taken
  out[#out + 1] = { "a strided slice", lunet.stack({ t, t }, 2):select(2, 1), "noncontig" }
  local es = t:shape()
  es[#es] = 0
  out[#out + 1] = { "an empty tensor " .. S.shape(es), lunet.zeros(es, { dtype = dt }), "empty" }
  local os = {}
  for i = 1, t:dim() do os[i] = 1 end
  out[#out + 1] = { "a tensor of size 1 " .. S.shape(os), lunet.ones(os, { dtype = dt }), "one" }
  if dt == "float32" then
    local n = t:clone()
    n:view(-1):set(0 / 0, 1)
    out[#out + 1] = { "a tensor holding NaN", n, "nan" }
    local i = t:clone()
    i:view(-1):set(math.huge, 1)
    out[#out + 1] = { "a tensor holding inf", i, "inf" }
  end
  return out
end

function S.shape(s)
  local p = {}
  for i = 1, #s do p[i] = tostring(s[i]) end
  return "[" .. table.concat(p, ", ") .. "]"
end

-- Checks a failed pcall: the message is "<spec file>:<line>: <name>: ..." and holds every
-- string of frags. Returns the message without the position.
function S.check_error(spec, name, ok, e, frags, label)
  label = label or name
  assert.is_false(ok, label .. ": no error was raised")
  e = tostring(e)
  local pat = "^" .. spec:gsub("%p", "%%%0") .. ":%d+: (.*)$"
  local msg = e:match(pat)
  assert.is_truthy(msg, label .. ": the error is not raised at the caller's line in " .. spec .. ": " .. e)
  assert.are.equal(name .. ": ", msg:sub(1, #name + 2), label .. ": the message does not start with '" .. name .. ": ': " .. e)
  for _, f in ipairs(frags or {}) do
    assert.is_truthy(msg:find(f, 1, true), label .. ": the message does not mention '" .. f .. "': " .. e)
  end
  return msg
end

-- Compares two results (tensors, numbers, tables of them) for equality (NaN equals NaN).
function S.same(a, b, what)
  if lunet.is_tensor(a) then
    assert.is_true(lunet.is_tensor(b), what .. ": not a tensor")
    assert.are.same(a:shape(), b:shape(), what .. ": shapes differ")
    assert.are.equal(a:dtype(), b:dtype(), what .. ": dtypes differ")
    local x, y = a:tolist(), b:tolist()
    local function flat(t, out)
      if type(t) ~= "table" then out[#out + 1] = t return out end
      for i = 1, #t do flat(t[i], out) end
      return out
    end
    x, y = flat(x, {}), flat(y, {})
    for i = 1, #x do
      if not (x[i] == y[i] or (x[i] ~= x[i] and y[i] ~= y[i])) then
        error(what .. ": element " .. i .. " differs: " .. tostring(x[i]) .. " vs " .. tostring(y[i]), 2)
      end
    end
  elseif type(a) == "table" then
    assert.are.equal("table", type(b), what)
    for k, v in pairs(a) do S.same(v, b[k], what .. "." .. tostring(k)) end
  elseif type(a) == "number" and a ~= a then
    assert.is_true(b ~= b, what .. ": NaN vs " .. tostring(b))
  else
    assert.are.equal(a, b, what)
  end
end

-- Bad values for an integer argument, and for an option of any kind.
S.BAD_NUMBERS = { 1e18, 2 ^ 31, -1, 0.5, 0 / 0, math.huge, -math.huge }
S.BAD_OPTION_VALUES = { { "nan", 0 / 0 }, { "a string", "x" }, { "a function", print }, { "a table", {} } }
local BAD_NUMBERS, BAD_OPTION_VALUES = S.BAD_NUMBERS, S.BAD_OPTION_VALUES

-- The sweep of a list of public functions, one describe block each. api: entries
-- { name, f, valid_args, kinds, option_keys } with kinds per argument "tensor", "tensor?",
-- "int", "opts", "model" or anything else (only the wrong types are tried). invoke(f, ...) is
-- the spec's own caller (the error position checked is spec's). cfg: prefix (of the describe
-- titles), allowed (set of "name.key=value label" that may succeed), option_frags (the
-- option's name must be in its error).
function S.sweep(spec, api, invoke, cfg)
  cfg = cfg or {}
  local allowed = cfg.allowed or {}
  for _, entry in ipairs(api) do
    local name, f, args, kinds, keys = entry[1], entry[2], entry[3], entry[4], entry[5] or {}
    local n = #kinds
    local function call(a) return pcall(invoke, f, table.unpack(a, 1, n)) end
    local function with(i, v)
      local a = { table.unpack(args, 1, n) }
      a[i] = v
      return a
    end
    describe((cfg.prefix or "") .. name, function()
      local ok0, base = call(args)
      it("runs on the valid arguments", function() assert.is_true(ok0, tostring(base)) end)
      for i = 1, n do
        local kind = kinds[i]
        it(("rejects the wrong types for argument %d"):format(i), function()
          for _, w in ipairs(S.WRONG) do
            local optional = kind == "opts" or kind == "tensor?"
            local skip = (optional and w[2] == nil) or (kind == "opts" and w[1] == "a table")
              or (kind == "model" and w[1] == "a function")
            if not skip then
              local ok, e = call(with(i, w[2]))
              S.check_error(spec, name, ok, e, nil, ("%s arg %d = %s"):format(name, i, w[1]))
            end
          end
        end)
        if kind == "int" then
          it(("rejects bad numbers for argument %d"):format(i), function()
            for _, v in ipairs(BAD_NUMBERS) do
              local ok, e = call(with(i, v))
              S.check_error(spec, name, ok, e, nil, ("%s arg %d = %s"):format(name, i, tostring(v)))
            end
          end)
        end
        if (kind == "tensor" or kind == "tensor?") and args[i] then
          it(("argument %d: other dtypes, ranks, views, empty, size 1, NaN: a result or a clear error"):format(i),
            function()
              for _, v in ipairs(S.variants(args[i])) do
                local label = ("%s arg %d = %s"):format(name, i, v[1])
                local ok, r = call(with(i, v[2]))
                if ok then
                  if v[3] == "noncontig" then S.same(base, r, label .. " (vs the contiguous input)") end
                else
                  S.check_error(spec, name, ok, r, nil, label)
                end
              end
            end)
        end
        if kind == "opts" then
          it("rejects NaN, strings, functions and tables as option values", function()
            for _, k in ipairs(keys) do
              for _, bv in ipairs(BAD_OPTION_VALUES) do
                local o = {}
                for kk, vv in pairs(args[i] or {}) do o[kk] = vv end
                o[k] = bv[2]
                local ok, e = call(with(i, o))
                if not allowed[name .. "." .. k .. "=" .. bv[1]] or not ok then
                  S.check_error(spec, name, ok, e, cfg.option_frags and { k } or nil,
                    ("%s option %s = %s"):format(name, k, bv[1]))
                end
              end
            end
          end)
        end
      end
    end)
  end
end

return S
