-- docs/gen_api.lua: writes docs/api.md, the reference of every public function of lunet,
-- from the sources' own doc comments.
--
--   eval "$(make -s env)"; lua5.4 docs/gen_api.lua   rewrites docs/api.md
--   lua5.4 docs/gen_api.lua --check              exit 1 listing public functions without a doc
--   lua5.4 docs/gen_api.lua --stdout             print instead of writing docs/api.md
--
-- It loads lunet and walks its public tables: lunet.*, the tensor methods, Generator
-- methods, lunet.nn (layers, losses, Module methods, functional, init), optim (optimizers,
-- schedulers, Optimizer methods), data (datasets, DataLoader, their methods), transforms,
-- metrics (and ConfusionMatrix methods), train (and train.checkpoint), image, io, predict,
-- errors, autograd, cli, every model file in models/, and any other lunet.<name> module
-- present in lua/lunet. For each function it takes:
--   * Lua functions: the comment block right above the definition (debug.getinfo gives the
--     line; for a class, above its __init or the `extend` line before it), the option names
--     of its E.options / check_opts call, and the messages its own body raises;
--   * C functions: the comment above the C function registered under that name in
--     csrc/lua_*.c ({"name", c_function});
--   * otherwise the text in docs/api_notes.lua (name -> doc), for functions whose source
--     carries no comment.
-- Each module section opens with the module file's header comment. A function with none of
-- these is undocumented: --check (run by spec/docs_spec.lua) lists it and fails.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local root = here .. "/.."

local lunet = require "lunet"
local core = lunet.core

local fmt, concat, sort = string.format, table.concat, table.sort

-- ------------------------------------------------------------------ source access

local file_cache = {}
local function lines_of(path)
  if file_cache[path] == nil then
    local f = io.open(path, "r")
    local t = {}
    if f then
      for l in f:lines() do t[#t + 1] = l end
      f:close()
    end
    file_cache[path] = t
  end
  return file_cache[path]
end

-- A path relative to the repository root ("lua/lunet/nn/layers.lua"), for the "source" line.
local function rel(path)
  path = path:gsub("^@", "")
  local i = path:find("/lua/lunet/", 1, true) or path:find("/models/", 1, true) or path:find("/build/lua/lunet/models/", 1, true)
  local r = path
  if path:find("/build/lua/lunet/models/", 1, true) then
    r = "models/" .. path:match("/build/lua/lunet/models/(.*)$")
  elseif path:match("^lua/") or path:match("^models/") then
    r = path
  elseif i then
    r = path:sub(i + 1)
  end
  return r:gsub("^%./", "")
end

-- The comment block ending right above line n (1-based) of lines, as text; skips up to
-- `skip` code lines matching one of the patterns first (the `X = Module:extend(...)` line).
local function comment_above(lines, n, skip_patterns)
  local i = n - 1
  if skip_patterns then
    local skipped = 0
    while i >= 1 and skipped < 2 do
      local l = lines[i]
      local hit = false
      for _, p in ipairs(skip_patterns) do if l:find(p) then hit = true end end
      if not hit then break end
      i, skipped = i - 1, skipped + 1
    end
  end
  local out = {}
  while i >= 1 do
    local l = lines[i]
    local c = l:match("^%s*%-%-%-?%s?(.*)$")
    if not c or l:match("^%s*%-%-%-%-%-%-%-%-") then break end
    table.insert(out, 1, c)
    i = i - 1
  end
  while out[1] == "" do table.remove(out, 1) end
  if #out == 0 then return nil end
  return concat(out, "\n")
end

-- The header comment of a source file (its first comment block).
local function file_header(path)
  local lines = lines_of(path)
  local out = {}
  for _, l in ipairs(lines) do
    local c = l:match("^%-%-%-?%s?(.*)$")
    if not c then break end
    out[#out + 1] = c
  end
  if #out == 0 then return nil end
  return concat(out, "\n")
end

-- Registered C functions: name -> list of {file, line, comment}.
local cdocs = {}
do
  local p = io.popen("ls " .. root .. "/csrc/lua_*.c 2>/dev/null")
  local files = {}
  for f in p:lines() do files[#files + 1] = f end
  p:close()
  for _, path in ipairs(files) do
    local lines = lines_of(path)
    local defs = {}
    for i, l in ipairs(lines) do
      local fname = l:match("^static int ([%w_]+)%s*%(lua_State")
      if fname then defs[fname] = i end
    end
    local function ccomment(n)
      local i, out = n - 1, {}
      -- /* ... */ block or // lines right above
      if lines[i] and lines[i]:match("%*/%s*$") then
        while i >= 1 do
          table.insert(out, 1, lines[i])
          if lines[i]:match("/%*") then break end
          i = i - 1
        end
        local text = concat(out, "\n"):gsub("^%s*/%*+%s?", ""):gsub("%s*%*+/%s*$", "")
        text = text:gsub("\n%s*%*%s?", "\n")
        return text
      end
      while i >= 1 and lines[i]:match("^%s*//") do
        table.insert(out, 1, (lines[i]:gsub("^%s*//%s?", "")))
        i = i - 1
      end
      return #out > 0 and concat(out, "\n") or nil
    end
    local text = concat(lines, "\n")
    for name, cf in text:gmatch('{%s*"([%w_]+)"%s*,%s*([%w_]+)%s*}') do
      if defs[cf] then
        cdocs[name] = cdocs[name] or {}
        table.insert(cdocs[name], { file = rel(path:gsub("^" .. root:gsub("%p", "%%%0") .. "/", "")), line = defs[cf],
                                    doc = ccomment(defs[cf]) })
      end
    end
  end
end

local notes = {}
do
  local ok, t = pcall(dofile, here .. "/api_notes.lua")
  if ok and type(t) == "table" then notes = t end
end

-- ------------------------------------------------------------------ one entry

-- Option names of the E.options / check_opts calls in a body (literal lists, or a local
-- list/set defined in the same file).
local function options_in(lines, from, to)
  local names, seen = {}, {}
  local function add(n) if not seen[n] then seen[n] = true; names[#names + 1] = n end end
  local body = concat(lines, "\n", from, to)
  local all = concat(lines, "\n")
  local function scan(args)
    local list = args:match("(%b{})%s*%)$")
    if not list then
      local var = args:match(",%s*([%a_][%w_]*)%s*%)$")
      if var then
        list = all:match("local%s+" .. var .. "%s*=%s*(%b{})") or all:match("\n" .. var .. "%s*=%s*(%b{})")
      end
    end
    if list then
      for n in list:gmatch('"([%w_]+)"') do add(n) end
      for n in list:gmatch("([%a_][%w_]*)%s*=%s*true") do add(n) end
    end
  end
  for args in body:gmatch("%f[%w_]E%.options%s*(%b())") do scan(args) end
  for args in body:gmatch("%f[%w_]check_opts%s*(%b())") do scan(args) end
  return names
end

-- Messages a body raises directly (format templates as written).
local function raises_in(lines, from, to, key)
  local out, seen = {}, {}
  local function add(s)
    s = s:gsub("%s+", " ")
    if #s > 4 and not seen[s] then seen[s] = true; out[#out + 1] = s end
  end
  for i = from, to do
    local l = lines[i] or ""
    for fn, msg in l:gmatch('fail%(%s*"([^"]+)"%s*,%s*"([^"]*)"') do add(fn .. ": " .. msg) end
    for msg in l:gmatch('fail%(%s*fn%s*,%s*"([^"]*)"') do add(key .. ": " .. msg) end
    for msg in l:gmatch('%f[%w_]fail%(%s*"([^"]*)"%s*%)') do add(key .. ": " .. msg) end
    for msg in l:gmatch('%f[%w_]fail%(%s*fmt%(%s*"([^"]*)"') do add(key .. ": " .. msg) end
    for msg in l:gmatch('raise%(%s*"([^"]*)"') do add(msg) end
    for msg in l:gmatch('raise%(%s*format%(%s*"([^"]*)"') do add(msg) end
    for msg in l:gmatch('raise%(%s*fmt%(%s*"([^"]*)"') do add(msg) end
    for msg in l:gmatch('usage_error%(%s*"[^"]*"%s*,%s*"([^"]*)"') do add(msg) end
  end
  return out
end

local entries_by_section = {}
-- The source files of the section being walked (for factory-made functions and headers).
local current_files = {}
local function files(...)
  current_files = {}
  for _, m in ipairs({ ... }) do
    local p = m:find("/", 1, true) and m or package.searchpath(m, package.path)
    if p then current_files[#current_files + 1] = p end
  end
end
local undocumented = {}
local documented_names = {}

-- name: display name; f: the function (or a class table with __init); where: section
local function describe_function(name, f, opts)
  opts = opts or {}
  opts.files = opts.files or current_files
  local doc, src, optnames, raises
  local fn = f
  if type(f) == "table" then fn = rawget(f, "__init") or (getmetatable(f) and getmetatable(f).__call) end
  if opts.by_assignment then fn = nil end   -- a class made by a shared factory: see below
  if type(fn) == "function" then
    local info = debug.getinfo(fn, "S")
    if info.what == "Lua" and info.source:sub(1, 1) == "@" then
      local path = info.source:sub(2)
      local lines = lines_of(path)
      doc = comment_above(lines, info.linedefined, { "extend%(", "^%s*$", "setmetatable%(%{%}", "^local [%w_]+ = {}$",
                                                      "__index = ", "__name = " })
      -- one comment over a group of one-line definitions / aliases right below it
      local i = info.linedefined - 1
      while not doc and i >= 1 and i > info.linedefined - 12 do
        local l = lines[i]
        if l:match("^%s*function .*end%s*$") or l:match("^%s*[%w_%.:]+%s*=%s*[%w_%.:]+%s*$") then
          doc = comment_above(lines, i)
          i = i - 1
        else
          break
        end
      end
      if not doc and type(f) == "table" and opts.class_line then
        doc = comment_above(lines, opts.class_line)
      end
      src = fmt("%s:%d", rel(path), info.linedefined)
      optnames = options_in(lines, info.linedefined, info.lastlinedefined)
      raises = raises_in(lines, info.linedefined, info.lastlinedefined, name:match("([%w_]+)$"))
    elseif info.what == "C" then
      local key = name:match("[%.:]([%w_]+)$") or name
      for _, c in ipairs(cdocs[key] or {}) do
        if c.doc then doc, src = c.doc, fmt("%s:%d", c.file, c.line) break end
      end
      if not src and cdocs[key] and cdocs[key][1] then src = fmt("%s:%d", cdocs[key][1].file, cdocs[key][1].line) end
    end
  end
  local key = name:match("[%.:]([%w_]+)$") or name
  if not doc and opts.files then
    -- a function made by a factory (M.conv2d = make(...)): the comment above the line that
    -- assigns it in one of the section's files
    for _, path in ipairs(opts.files) do
      local lines = lines_of(path)
      for i, l in ipairs(lines) do
        if l:match("[%.%[\"']" .. key .. "[\"'%]]?%s*=[^=]") or l:match("^%s*" .. key .. "%s*=%s*[%w_]") then
          doc = comment_above(lines, i)
          if doc then
            src = src or fmt("%s:%d", rel(path), i)
            break
          end
        end
      end
      if doc then break end
    end
    -- else the lines of the module headers that show a call of it ("F.conv2d(x, w, b, {...})")
    if not doc then
      local hits = {}
      for _, path in ipairs(opts.files) do
        for _, l in ipairs(lines_of(path)) do
          local c = l:match("^%-%-%-?%s?(.*)$")
          if c and (c:find("[%.:]" .. key .. "%(") or c:find("^%s*" .. key .. "%(") or c:find("[%s,]" .. key .. "%(")) then
            hits[#hits + 1] = c
          end
        end
      end
      if #hits > 0 and #hits <= 6 then doc = concat(hits, "\n") end
    end
  end
  if notes[name] then doc = doc and (doc .. "\n\n" .. notes[name]) or notes[name] end
  if opts.doc and not doc then doc = opts.doc end
  if not doc then undocumented[#undocumented + 1] = name end
  documented_names[name] = doc ~= nil
  return { name = name, doc = doc, src = src, options = optnames or {}, raises = raises or {} }
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do if type(k) == "string" then ks[#ks + 1] = k end end
  sort(ks)
  return ks
end

local sections = {}
local function section(title, path, entries, intro)
  sections[#sections + 1] = { title = title, path = path, entries = entries,
                              intro = intro or (path and file_header(path)) }
end

-- The functions of a plain module table, and its classes (tables with __init or __call).
local function module_entries(prefix, t, methods_of)
  local out = {}
  for _, k in ipairs(sorted_keys(t)) do
    local v = rawget(t, k)
    if k:sub(1, 1) ~= "_" then
      if type(v) == "function" then
        out[#out + 1] = describe_function(prefix .. k, v)
      elseif type(v) == "table" and (rawget(v, "__init") or (getmetatable(v) and getmetatable(v).__call)) then
        out[#out + 1] = describe_function(prefix .. k, v)
        if methods_of then methods_of(k, v, out) end
      end
    end
  end
  return out
end

-- Methods defined on a class table itself (not inherited), shown as Class:method.
local function own_methods(cls_name, cls, out, skip)
  for _, k in ipairs(sorted_keys(cls)) do
    local v = rawget(cls, k)
    if type(v) == "function" and k:sub(1, 1) ~= "_" and not (skip and skip[k]) then
      out[#out + 1] = describe_function(cls_name .. ":" .. k, v)
    end
  end
end

-- ------------------------------------------------------------------ the walk

local src_of = function(mod) return package.searchpath(mod, package.path) end

do -- lunet
  files("lunet", "lunet.tensor", "lunet.autograd", "lunet.io")
  local out = {}
  for _, k in ipairs(sorted_keys(lunet)) do
    local v = rawget(lunet, k)
    if type(v) == "function" then out[#out + 1] = describe_function("lunet." .. k, v) end
  end
  out[#out + 1] = describe_function("lunet.save", require("lunet.io").save)
  out[#out + 1] = describe_function("lunet.load", require("lunet.io").load)
  sort(out, function(a, b) return a.name < b.name end)
  local intro = (file_header(src_of("lunet")) or "") .. "\n\n" .. (file_header(src_of("lunet.tensor")) or "")
  section("lunet", src_of("lunet"), out, intro)
end

do -- tensor methods
  files("lunet.tensor", "lunet.autograd")
  local out = {}
  local methods = core.methods
  for _, k in ipairs(sorted_keys(methods)) do
    local v = methods[k]
    if type(v) == "function" and k:sub(1, 1) ~= "_" then out[#out + 1] = describe_function("x:" .. k, v) end
  end
  section("Tensor methods (x:name)", src_of("lunet.tensor"), out,
          "Methods of tensor userdata; operators `+ - * / ^ unary- ==` map to add, sub, mul, div, pow, neg.")
end

do -- Generator
  files("lunet.tensor")
  local g = lunet.Generator(1)
  local mt = getmetatable(g)
  local idx = mt and mt.__index
  local out = {}
  if type(idx) == "table" then
    for _, k in ipairs(sorted_keys(idx)) do
      if type(idx[k]) == "function" and k:sub(1, 1) ~= "_" then out[#out + 1] = describe_function("g:" .. k, idx[k]) end
    end
  end
  section("Generator methods (g = lunet.Generator(seed))", nil, out,
          "A seeded random stream (xoshiro256** seeded through splitmix64); the same seed gives the same draws on every machine.")
end

do -- nn
  local nn = require "lunet.nn"
  files("lunet.nn", "lunet.nn.layers", "lunet.nn.losses", "lunet.nn.module", "lunet.nn.functional",
        "lunet.nn.functional.conv", "lunet.nn.functional.pool", "lunet.nn.functional.norm",
        "lunet.nn.functional.activation", "lunet.nn.functional.loss", "lunet.nn.init_")
  local layers, losses = {}, {}
  for _, k in ipairs(sorted_keys(nn)) do
    local v = rawget(nn, k)
    if type(v) == "table" and k ~= "Module" and k ~= "functional" and k ~= "init" and rawget(v, "__init") then
      local e = describe_function("nn." .. k, v)
      local path = e.src and e.src:match("^(.-):")
      if path and path:find("losses") then losses[#losses + 1] = e else layers[#layers + 1] = e end
    elseif type(v) == "table" and rawget(v, "__lunet_loss") then
      -- a loss module made by define(name, defaults, optional, validate, forward) in losses.lua
      local path = src_of("lunet.nn.losses")
      local lines = lines_of(path)
      local line
      for i, l in ipairs(lines) do if l:find('define("' .. k .. '"', 1, true) then line = i break end end
      local defaults, optional = {}, {}
      for _, n in ipairs(sorted_keys(rawget(v, "defaults") or {})) do
        local d = v.defaults[n]
        defaults[#defaults + 1] = n .. " = " .. (type(d) == "string" and fmt("%q", d) or tostring(d))
      end
      local names = {}
      local on = rawget(v, "option_names") or {}
      local listed = #on > 0 and { table.unpack(on) } or sorted_keys(on)
      sort(listed)
      for _, n in ipairs(listed) do
        names[#names + 1] = n
        if rawget(v, "defaults") == nil or v.defaults[n] == nil then optional[#optional + 1] = n .. "=" end
      end
      local fwd = line and concat(lines, "\n", line, math.min(#lines, line + 40)):match("F%.([%w_]+)%(x, y")
      local doc = fmt("nn.%s{%s}: a loss module, called as loss(logits, target) -> scalar tensor; combines with\n" ..
                      "+ and scalar * (nn.CrossEntropyLoss{} + 0.5 * nn.DiceLoss{}). Options are checked when it is\n" ..
                      "built; the computation is F.%s's (see lunet.nn.functional).", k,
                      concat(defaults, ", ") .. ((#defaults > 0 and #optional > 0) and ", " or "") .. concat(optional, ", "),
                      fwd or "?")
      local above = line and comment_above(lines, line)
      if above then doc = above .. "\n" .. doc end
      documented_names["nn." .. k] = true
      losses[#losses + 1] = { name = "nn." .. k, doc = doc, src = line and fmt("%s:%d", rel(path), line),
                              options = names, raises = {} }
    elseif type(v) == "function" then
      layers[#layers + 1] = describe_function("nn." .. k, v)
    end
  end
  section("lunet.nn: layers", src_of("lunet.nn.layers"), layers, (file_header(src_of("lunet.nn")) or "") .. "\n\n" ..
          (file_header(src_of("lunet.nn.layers")) or ""))
  section("lunet.nn: loss modules", src_of("lunet.nn.losses"), losses)
  local mods = {}
  own_methods("m", nn.Module, mods, { util = true })
  section("lunet.nn.Module (m:name)", src_of("lunet.nn.module"), mods)
  section("lunet.nn.functional (F)", src_of("lunet.nn.functional"), module_entries("F.", nn.functional),
          (file_header(src_of("lunet.nn.functional")) or "") .. "\n\n" .. (file_header(src_of("lunet.nn.functional.loss")) or ""))
  section("lunet.nn.init", src_of("lunet.nn.init_"), module_entries("nn.init.", nn.init))
end

do -- optim
  local optim = require "lunet.optim"
  files("lunet.optim", "lunet.optim.optimizer", "lunet.optim.lr_scheduler", "lunet.optim.adam", "lunet.optim.sgd",
        "lunet.optim.rmsprop")
  local out = {}
  for _, k in ipairs(sorted_keys(optim)) do
    local v = rawget(optim, k)
    if k ~= "Optimizer" and type(v) == "function" then
      out[#out + 1] = describe_function("optim." .. k, v)
    elseif k ~= "Optimizer" and type(v) == "table" and getmetatable(v) and getmetatable(v).__call then
      -- optimizers and schedulers are made by Optimizer.class / the schedulers' class():
      -- the comment above `M.Name = class(...)`, else the header of the optimizer's own file
      local own = package.searchpath("lunet.optim." .. k:lower(), package.path)
      local e = describe_function("optim." .. k, v, { by_assignment = true })
      if not e.doc and own then
        e.doc, e.src = file_header(own), rel(own)
        for i = #undocumented, 1, -1 do if undocumented[i] == e.name then table.remove(undocumented, i) end end
        documented_names[e.name] = e.doc ~= nil
        if not e.doc then undocumented[#undocumented + 1] = e.name end
      end
      local d = rawget(v, "defaults") or rawget(v, "defaults_spec")
      if type(d) == "table" then
        local shown = {}
        for _, n in ipairs(sorted_keys(d)) do
          e.options[#e.options + 1] = n
          local x = d[n]
          shown[#shown + 1] = n .. " = " .. (type(x) == "table" and "{" .. concat(x, ", ") .. "}" or tostring(x))
        end
        if e.doc then e.doc = fmt("%s(params, {%s})\n%s", k, concat(shown, ", "), e.doc) end
      end
      out[#out + 1] = e
      own_methods(k, v, out, { __init = true, validate = true, update = true, lr_at = true })
    end
  end
  section("lunet.optim", src_of("lunet.optim"), out, (file_header(src_of("lunet.optim")) or "") .. "\n\n" ..
          (file_header(src_of("lunet.optim.lr_scheduler")) or ""))
  local opt = {}
  own_methods("opt", optim.Optimizer, opt)
  section("Optimizer methods (opt:name)", src_of("lunet.optim.optimizer"), opt)
end

do -- data
  local data = require "lunet.data"
  files("lunet.data", "lunet.data.dataset", "lunet.data.loader", "lunet.data.makers")
  local out = module_entries("data.", data)
  local ds = data.TensorDataset{ image = lunet.zeros(2, 1, 1, 1) }
  local function add_methods(label, obj)
    local mt = getmetatable(obj)
    local idx = mt and (type(mt.__index) == "table" and mt.__index or mt)
    if idx then own_methods(label, idx, out, { __tostring = true, __len = true }) end
  end
  add_methods("TensorDataset", ds)
  add_methods("Subset", data.Subset(ds, { 1 }))
  add_methods("DataLoader", data.DataLoader(ds, { batch_size = 1 }))
  local classes = require("lunet.data.dataset").classes
  if classes and classes.SegmentationFolder then
    own_methods("SegmentationFolder", classes.SegmentationFolder, out, { __tostring = true, __len = true })
  end
  section("lunet.data", src_of("lunet.data"), out, (file_header(src_of("lunet.data")) or "") .. "\n\n" ..
          (file_header(src_of("lunet.data.loader")) or "") .. "\n\n" .. (file_header(src_of("lunet.data.makers")) or ""))
end

do -- transforms
  local T = require "lunet.transforms"
  files("lunet.transforms", "lunet.transforms.base", "lunet.transforms.spatial", "lunet.transforms.pixel")
  section("lunet.transforms", src_of("lunet.transforms"), module_entries("T.", T))
end

do -- metrics
  local metrics = require "lunet.metrics"
  files("lunet.metrics")
  local out = module_entries("metrics.", metrics)
  own_methods("cm", metrics.ConfusionMatrixClass, out)
  section("lunet.metrics", src_of("lunet.metrics"), out)
end

do -- train
  local train = require "lunet.train"
  files("lunet.train", "lunet.train.checkpoint")
  section("lunet.train", src_of("lunet.train"), module_entries("train.", train))
  section("lunet.train.checkpoint", src_of("lunet.train.checkpoint"), module_entries("train.checkpoint.", train.checkpoint))
end

for _, m in ipairs({ "image", "io", "predict", "errors", "autograd", "cli" }) do
  local t = require("lunet." .. m)
  files("lunet." .. m)
  section("lunet." .. m, src_of("lunet." .. m), module_entries(m .. ".", t))
end

do -- models: every models/*.lua but init and common; the constructor's doc is the file header
  local out = {}
  files()
  local p = io.popen("ls " .. root .. "/models/*.lua 2>/dev/null")
  local names = {}
  for f in p:lines() do
    local n = f:match("([%w_]+)%.lua$")
    if n and n ~= "init" and n ~= "common" then names[#names + 1] = n end
  end
  p:close()
  sort(names)
  for _, n in ipairs(names) do
    local ok, ctor = pcall(require, "lunet.models." .. n)
    if ok and type(ctor) == "table" then
      local path = root .. "/models/" .. n .. ".lua"
      local e = describe_function("lunet.models." .. n, ctor, { doc = file_header(path) })
      if e.doc == nil or (e.doc and #e.doc < 40 and file_header(path)) then e.doc = file_header(path) end
      e.src = "models/" .. n .. ".lua"
      out[#out + 1] = e
      for _, k in ipairs(sorted_keys(ctor)) do
        local v = rawget(ctor, k)
        if type(v) == "function" and k:sub(1, 1) ~= "_" and k ~= "forward" and k ~= "extra_repr" and k ~= "__init"
           and not k:match("^[A-Z]") then
          out[#out + 1] = describe_function(n .. "." .. k, v)
        end
      end
    end
  end
  section("lunet.models", root .. "/models/init.lua", out)
end

do -- any other lunet.<name> module present (added after this generator was written)
  local known = { nn = 1, optim = 1, data = 1, transforms = 1, metrics = 1, train = 1, image = 1, models = 1, io = 1,
                  predict = 1, errors = 1, autograd = 1, cli = 1, tensor = 1, core = 1, init = 1 }
  local p = io.popen("ls " .. root .. "/lua/lunet 2>/dev/null")
  for f in p:lines() do
    local n = f:match("^([%w_]+)%.lua$") or (f:match("^([%w_]+)$"))
    if n and not known[n] then
      local ok, t = pcall(require, "lunet." .. n)
      if ok and type(t) == "table" then
        files("lunet." .. n)
        section("lunet." .. n, src_of("lunet." .. n), module_entries(n .. ".", t))
      end
    end
  end
  p:close()
end

-- ------------------------------------------------------------------ output

local function anchor(s) return (s:lower():gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")) end

local function render()
  local o = {}
  local function w(s) o[#o + 1] = s end
  w("# lunet API reference")
  w("")
  w("Generated by `docs/gen_api.lua` from the doc comments of the sources (Lua files, and the C")
  w("binding in `csrc/lua_*.c`); do not edit by hand: change the comment and rerun the generator.")
  w("The conventions every function follows (1-based dims, class ids 0..C-1, option tables,")
  w("errors) are in [conventions.md](conventions.md). \"Options\" lists the names a function's option")
  w("table accepts (any other name raises `fn: unknown option 'x' (did you mean 'y'?)`); defaults")
  w("are in the text. \"Raises\" lists the messages its own body raises (printf templates); every")
  w("function also raises on arguments of the wrong type, naming them.")
  w("")
  w("## Contents")
  w("")
  for _, s in ipairs(sections) do
    if #s.entries > 0 then w(fmt("- [%s](#%s) (%d)", s.title, anchor(s.title), #s.entries)) end
  end
  for _, s in ipairs(sections) do
    if #s.entries > 0 then
      w("")
      w("## " .. s.title)
      w("")
      if s.intro and s.intro:match("%S") then
        w("```")
        w((s.intro:gsub("%s+$", "")))
        w("```")
        w("")
      end
      for _, e in ipairs(s.entries) do
        w("### `" .. e.name .. "`")
        w("")
        if e.doc then
          w("```")
          w((e.doc:gsub("%s+$", "")))
          w("```")
        end
        if #e.options > 0 then
          local t = {}
          for i, n in ipairs(e.options) do t[i] = "`" .. n .. "`" end
          w("")
          w("Options: " .. concat(t, ", "))
        end
        if #e.raises > 0 then
          w("")
          w("Raises:")
          for _, r in ipairs(e.raises) do w("- `" .. r:gsub("`", "'") .. "`") end
        end
        if e.src then
          w("")
          w("Source: `" .. e.src .. "`")
        end
        w("")
      end
    end
  end
  return concat(o, "\n")
end

local mode = arg and arg[1]
if mode == "--check" then
  if #undocumented > 0 then
    io.stderr:write(fmt("%d public function%s without documentation (add a comment above the definition, or an\n" ..
                        "entry in docs/api_notes.lua):\n  %s\n", #undocumented, #undocumented == 1 and "" or "s",
                        concat(undocumented, "\n  ")))
    os.exit(1)
  end
  local count = 0
  for _ in pairs(documented_names) do count = count + 1 end
  io.stdout:write(fmt("%d public functions, all documented\n", count))
  os.exit(0)
elseif mode == "--list" then
  local names = {}
  for n in pairs(documented_names) do names[#names + 1] = n end
  sort(names)
  io.stdout:write(concat(names, "\n"), "\n")
  os.exit(0)
end
local text = render()
if mode == "--stdout" then
  io.stdout:write(text, "\n")
else
  local path = here .. "/api.md"
  local f = assert(io.open(path, "w"))
  f:write(text, "\n")
  f:close()
  local n = 0
  for _ in pairs(documented_names) do n = n + 1 end
  io.stdout:write(fmt("wrote %s: %d functions, %d undocumented\n", path, n, #undocumented))
end
