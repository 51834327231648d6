-- lunet.cli: the `lunet` command (bin/lunet installed by the rock and `make install`;
-- ./lunet in a source tree). Subcommands train, predict, eval and info, each with --help.
--
--   lunet train config.lua [--epochs N] [--out DIR] [--fresh]
--   lunet predict model.safetensors in/ out/ [--tile 512 --overlap 64]
--   lunet eval model.safetensors images/ masks/ [--ignore-index 255]
--   lunet info [model.safetensors | config.lua]
--
-- require("lunet.cli").main(argv) runs one command line and returns the exit status:
-- 0 done, 1 the work failed (a message on stderr: unreadable file, bad config value, ...),
-- 2 usage error (unknown subcommand or flag, missing argument; the usage goes to stderr).
-- Long work shows a progress bar on stderr when stderr is a terminal (fit's own bar for
-- train), one line per item on stdout otherwise; --quiet prints only the summary.
-- The config file of `train` is a Lua script returning a table (CONFIG_HELP below lists its
-- keys); paths in it are relative to the current directory, like any Lua script's.
local lunet = require "lunet"
local E = require "lunet.errors"

local type, pairs, ipairs, tostring, tonumber, select = type, pairs, ipairs, tostring, tonumber, select
local pcall, xpcall, error, setmetatable, getmetatable, require = pcall, xpcall, error, setmetatable, getmetatable, require
local fmt, concat, sort, rep = string.format, table.concat, table.sort, string.rep
local mtype, tointeger, floor, min, max, huge = math.type, math.tointeger, math.floor, math.min, math.max, math.huge

local M = {}

M.EXIT_OK, M.EXIT_FAILURE, M.EXIT_USAGE = 0, 1, 2

-- A usage error: raised as a table so main can tell it from a runtime failure.
local Usage = {}
Usage.__index = Usage
Usage.__tostring = function(u) return u.msg end
local function usage_error(cmd, f, ...)
  error(setmetatable({ cmd = cmd, msg = fmt(f, ...) }, Usage), 0)
end

-- A message without the "file:line: " an error() from a Lua file puts in front of it.
local function bare(msg)
  if type(msg) == "table" and getmetatable(msg) == Usage then return msg.msg end
  return (tostring(msg):gsub("^[^\n:]+:%d+: ", ""))
end

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function is_dir(path)
  return lunet.core.image.listdir(path) ~= nil
end

local function mkdir_p(path)
  if is_dir(path) then return end
  os.execute("mkdir -p " .. shell_quote(path) .. " 2>/dev/null")
  if not is_dir(path) then error(fmt("cannot create the directory '%s'", path), 0) end
end

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- ------------------------------------------------------------------ terminal progress

local tty_cache
local function stderr_is_tty()
  if tty_cache == nil then
    local term = os.getenv("TERM")
    tty_cache = term ~= nil and term ~= "" and term ~= "dumb" and os.execute("test -t 2") == true
  end
  return tty_cache
end

local clock = require("lunet.train.progress").clock
local hms = require("lunet.train.progress").hms

-- A bar over n items: redrawn in place on stderr when it is a terminal (at most ~10 times a
-- second), nothing otherwise. :step(i, what) after item i; :done() clears it.
local function new_bar(n, unit, enabled)
  local b = { n = n, t0 = clock(), last = -huge, len = 0, on = enabled and stderr_is_tty() }
  function b:step(i, what)
    if not self.on then return end
    local now = clock()
    if now - self.last < 0.1 and i < self.n then return end
    self.last = now
    local el = now - self.t0
    local frac = self.n > 0 and min(1, i / self.n) or 1
    local fill = floor(frac * 24 + 0.5)
    local bar = rep("=", fill) .. (fill < 24 and ">" or "") .. rep(" ", max(0, 24 - fill - 1))
    local eta = i > 0 and el / i * (self.n - i) or huge
    local line = fmt("[%s] %d/%d %s  %.1f %s/s  ETA %s  %s", bar, i, self.n, unit,
                     el > 0 and i / el or 0, unit, hms(eta), what or "")
    if #line > 100 then line = line:sub(1, 100) end
    io.stderr:write("\r", line, rep(" ", max(0, self.len - #line)))
    io.stderr:flush()
    self.len = #line
  end
  function b:done()
    if self.on and self.len > 0 then
      io.stderr:write("\r", rep(" ", self.len), "\r")
      io.stderr:flush()
      self.len = 0
    end
  end
  return b
end

-- ------------------------------------------------------------------ argument parsing

-- spec: {positional = {"MODEL", "INPUT"}, optional_positional = n, flags = {name = kind}}
-- kinds: "int", "num", "str", "bool". Returns opts (flags by name with "-" as "_"), args.
local function parse(cmd, argv, spec)
  local o, args = {}, {}
  local i = 1
  local only_positional = false
  while i <= #argv do
    local a = argv[i]
    if not only_positional and a == "--" then
      only_positional = true
    elseif not only_positional and (a == "-h" or a == "--help") then
      o.help = true
    elseif not only_positional and a:sub(1, 2) == "--" then
      local k, v = a:match("^%-%-([%w-]+)=(.*)$")
      if not k then k = a:match("^%-%-([%w-]+)$") end
      local kind = k and spec.flags[k]
      if not kind then
        local names = {}
        for n in pairs(spec.flags) do names[#names + 1] = n end
        sort(names)
        local hint = lunet.core.check_options({ [k or a] = true }, "x", names)
        local dym = hint and hint:match("(did you mean '[^']+'%?)")
        usage_error(cmd, "unknown option '%s'%s", a, dym and (" (" .. dym:gsub("'", "'--", 1) .. ")") or "")
      end
      local key = k:gsub("-", "_")
      if kind == "bool" then
        if v ~= nil then usage_error(cmd, "--%s takes no value", k) end
        o[key] = true
      else
        if v == nil then
          i = i + 1
          v = argv[i]
          if v == nil then usage_error(cmd, "--%s needs a value", k) end
        end
        if kind == "int" then
          local n = tointeger(tonumber(v))
          if not n then usage_error(cmd, "--%s must be an integer, got '%s'", k, v) end
          v = n
        elseif kind == "num" then
          local n = tonumber(v)
          if not n or n ~= n then usage_error(cmd, "--%s must be a number, got '%s'", k, v) end
          v = n
        end
        o[key] = v
      end
    elseif not only_positional and a:sub(1, 1) == "-" and a ~= "-" then
      usage_error(cmd, "unknown option '%s'", a)
    else
      args[#args + 1] = a
    end
    i = i + 1
  end
  if o.help then return o, args end
  local need, extra = #spec.positional, spec.optional_positional or 0
  if #args < need then
    usage_error(cmd, "missing %s", spec.positional[#args + 1])
  end
  if #args > need + extra then
    usage_error(cmd, "unexpected argument '%s'", args[need + extra + 1])
  end
  return o, args
end

local FLAG_KINDS = { int = true, num = true, str = true, bool = true }

--- parse_args(prog, argv, spec) -> opts, args: parses a script's command line the way the
--- lunet command does. spec = {flags = {name = "int" | "num" | "str" | "bool"},
--- positional = {"NAME", ...}, optional_positional = n}; flags are written `--name value`,
--- `--name=value` or `--name` (bool), opts holds them by name with "-" as "_" (and
--- opts.help for -h/--help, in which case positional arguments are not required), args the
--- positional ones. A bad command line raises "prog: unknown option '--epoch' (did you mean
--- '--epochs'?)", "prog: --lr must be a number, got 'x'", "prog: missing NAME", ...
function M.parse_args(prog, argv, spec)
  local fn = "cli.parse_args"
  if type(prog) ~= "string" then E.fail(fn, "prog must be a string, got %s", E.typename(prog)) end
  if type(argv) ~= "table" then E.fail(fn, "argv must be a table of strings, got %s", E.typename(argv)) end
  for i = 1, #argv do
    if type(argv[i]) ~= "string" then
      E.fail(fn, "argv[%d] must be a string, got %s", i, E.typename(argv[i]))
    end
  end
  spec = E.options(spec, fn, { "flags", "positional", "optional_positional" })
  local flags = spec.flags or {}
  if type(flags) ~= "table" then E.fail(fn, "spec.flags must be a table, got %s", E.typename(flags)) end
  for name, kind in pairs(flags) do
    if type(name) ~= "string" or not name:match("^[%w][%w-]*$") then
      E.fail(fn, "spec.flags: flag names are words without the leading '--', got %s", E.show(name))
    end
    if not FLAG_KINDS[kind] then
      E.fail(fn, "spec.flags['%s'] must be 'int', 'num', 'str' or 'bool', got %s", name, E.show(kind))
    end
  end
  local positional = spec.positional or {}
  if type(positional) ~= "table" then
    E.fail(fn, "spec.positional must be a list of names, got %s", E.typename(positional))
  end
  for i = 1, #positional do
    if type(positional[i]) ~= "string" then
      E.fail(fn, "spec.positional[%d] must be a string, got %s", i, E.show(positional[i]))
    end
  end
  local extra = spec.optional_positional
  if extra ~= nil then E.integer(fn, "spec.optional_positional", extra, 0) end
  local ok, o, args = pcall(parse, prog, argv, { flags = flags, positional = positional, optional_positional = extra })
  if not ok then
    if type(o) == "table" and getmetatable(o) == Usage then E.fail(prog, "%s", o.msg) end
    error(o, 0)
  end
  return o, args
end

local function set_threads(o)
  if o.threads ~= nil then
    if o.threads < 1 then usage_error(o._cmd, "--threads must be >= 1, got %d", o.threads) end
    lunet.set_num_threads(o.threads)
  end
end

-- The model and its metadata from a checkpoint (predict.load_model; --model/--config given
-- on the command line override the file's metadata).
local function load_model(o, path)
  local P = require "lunet.predict"
  local lopts = { model = o.model }
  if o.config then
    local ok, cfg = pcall(P.decode_config, o.config)
    if not ok then usage_error(o._cmd, "--config: %s", bare(cfg)) end
    lopts.config = cfg
  end
  local model, meta = P.load_model(path, lopts)
  return model, meta or {}, lopts.config
end

local CHANNEL_MODES = { [1] = "gray", [3] = "rgb", [4] = "rgba" }

local function image_mode(model, cfg)
  local c = (model.config or cfg or {}).in_channels or 3
  local mode = CHANNEL_MODES[c]
  if not mode then
    error(fmt("cannot feed images to a model with %s input channels (1, 3 or 4 work)", E.show(c)), 0)
  end
  return mode
end

local function tile_opts(o, popts)
  if o.tile then
    local h, w = o.tile:match("^(%d+)x(%d+)$")
    local n = tointeger(tonumber(o.tile))
    if h then popts.tile = { tonumber(h), tonumber(w) }
    elseif n then popts.tile = n
    else usage_error(o._cmd, "--tile must be N or HxW, got '%s'", o.tile) end
  end
  if o.overlap then
    if not o.tile then usage_error(o._cmd, "--overlap needs --tile") end
    popts.overlap = o.overlap
  end
  popts.batch_size = o.batch_size
  popts.blend, popts.border = o.blend, o.border
  return popts
end

local function normalize_of(meta)
  if meta.normalize == nil then return nil end
  local ok, nz = pcall(require("lunet.predict").decode_config, meta.normalize)
  if not ok then error("metadata.normalize: " .. bare(nz), 0) end
  return nz
end

local function is_image_name(name)
  local lower = name:lower()
  return (lower:match("%.png$") or lower:match("%.jpe?g$")) and name:sub(1, 1) ~= "."
end

-- ------------------------------------------------------------------ predict

local PREDICT_HELP = [[
usage: lunet predict MODEL INPUT OUTPUT [options]

Segments images with a saved model. MODEL is a .safetensors file written by `lunet train`
(model.safetensors), lunet.predict.save_model or lunet.train.fit (with --model/--config when
it carries no model metadata). INPUT is a PNG/JPEG file or a directory of them; for each image
OUTPUT/<name>_mask.png (palette PNG of class ids: image.load(p, {mode = "index"}) reads them
back) and OUTPUT/<name>_overlay.png are written.

options:
  --tile N | HxW       predict by overlapping tiles of this size (default: whole image)
  --overlap N          pixels shared by neighbouring tiles (default tile / 4; needs --tile)
  --batch-size N       tiles per forward pass (default 4)
  --blend crop|linear  how tiles are joined (default crop: Ronneberger's overlap-tile rule)
  --border zero|reflect  padding at image edges (default zero)
  --alpha A            overlay opacity in [0, 1] (default 0.5)
  --no-overlay         write only the masks
  --model NAME         model name under lunet.models (overrides the file's metadata)
  --config LITERAL     its options as a Lua table literal, e.g. '{in_channels = 3, num_classes = 2}'
  --threads N          threads for OpenBLAS and lunet's loops
  --quiet              print only the summary line
  -h, --help           this text

An unreadable image is reported and skipped; the exit status is then 1.]]

local PREDICT_FLAGS = { tile = "str", overlap = "int", ["batch-size"] = "int", blend = "str", border = "str",
                        alpha = "num", ["no-overlay"] = "bool", model = "str", config = "str",
                        threads = "int", quiet = "bool" }

--- predict(argv) -> exit status: `lunet predict MODEL INPUT OUTPUT [options]` (PREDICT_HELP).
function M.predict(argv)
  local o, args = parse("predict", argv, { positional = { "MODEL", "INPUT", "OUTPUT" }, flags = PREDICT_FLAGS })
  if o.help then io.stdout:write(PREDICT_HELP, "\n") return 0 end
  o._cmd = "predict"
  set_threads(o)
  local alpha = o.alpha or 0.5
  if alpha < 0 or alpha > 1 then usage_error("predict", "--alpha must be in [0, 1], got %s", E.show(alpha)) end
  local popts = tile_opts(o, { output = "labels" })
  local model_path, input, output = args[1], args[2], args[3]
  local model, meta, cfg = load_model(o, model_path)
  popts.normalize = normalize_of(meta)
  local mode = image_mode(model, cfg)
  local files = {}
  if is_dir(input) then
    local names = lunet.core.image.listdir(input)
    sort(names)
    for _, n in ipairs(names) do
      if is_image_name(n) then files[#files + 1] = { name = n, path = input .. "/" .. n } end
    end
    if #files == 0 then error(fmt("no PNG or JPEG files in '%s'", input), 0) end
  elseif file_exists(input) then
    files[1] = { name = input:match("([^/]+)$"), path = input }
  else
    error(fmt("INPUT '%s' is neither an image file nor a directory", input), 0)
  end
  mkdir_p(output)
  local image = require "lunet.image"
  local num_classes = (model.config or cfg or {}).num_classes
  local bar = new_bar(#files, "img", not o.quiet)
  local done, failed = 0, 0
  for i, f in ipairs(files) do
    local stem = f.name:gsub("%.[^.]*$", "")
    local ok, err = pcall(function()
      local img = image.load(f.path, { mode = mode })
      local ids = model:predict(img, popts)
      image.save(output .. "/" .. stem .. "_mask.png", ids, { palette = "voc" })
      if not o.no_overlay then
        local shown = img:size(1) == 4 and img:narrow(1, 1, 3) or img
        image.save(output .. "/" .. stem .. "_overlay.png", image.overlay(shown, ids, { alpha = alpha }))
      end
      if not o.quiet and not bar.on then
        local counts = {}
        for c = 0, (num_classes or 256) - 1 do
          local n = ids:eq(c):to("int32"):sum():item()
          if n > 0 then counts[#counts + 1] = fmt("%d:%.1f%%", c, 100 * n / ids:numel()) end
        end
        io.stdout:write(fmt("%s  %dx%d  classes %s\n", f.name, img:size(2), img:size(3), concat(counts, " ")))
      end
    end)
    if ok then
      done = done + 1
    else
      failed = failed + 1
      bar:done()
      io.stderr:write("lunet predict: ", f.name, ": ", bare(err), "\n")
    end
    bar:step(i, f.name)
  end
  bar:done()
  io.stdout:write(fmt("%d image%s segmented into %s%s\n", done, done == 1 and "" or "s", output,
                      failed > 0 and fmt(" (%d failed)", failed) or ""))
  return failed > 0 and 1 or 0
end

-- ------------------------------------------------------------------ eval

local EVAL_HELP = [[
usage: lunet eval MODEL IMAGES MASKS [options]

Evaluates a saved model on image/mask pairs: IMAGES and MASKS are directories paired by name
as lunet.data.SegmentationFolder pairs them (masks are index PNGs of class ids 0..C-1). Prints
the confusion-matrix table (per-class IoU, Dice, recall, precision) and the means, mIoU first.

options:
  --ignore-index N     mask label left out of the metrics (e.g. 255, VOC's void)
  --num-classes N      classes of the matrix (default: the model's num_classes)
  --split-file FILE    evaluate only the names listed in FILE (one per line, as VOC's val.txt)
  --mask-suffix S      masks are named <image name>S.png (default "")
  --tile N | HxW, --overlap N, --batch-size N, --blend crop|linear, --border zero|reflect
                       tiled prediction, as in `lunet predict`
  --csv FILE           also write class,iou,dice,precision,recall rows to FILE
  --model NAME, --config LITERAL   the model when the file carries no model metadata
  --threads N          threads for OpenBLAS and lunet's loops
  --quiet              print only the summary line
  -h, --help           this text]]

local EVAL_FLAGS = { ["ignore-index"] = "int", ["num-classes"] = "int", ["split-file"] = "str",
                     ["mask-suffix"] = "str", tile = "str", overlap = "int", ["batch-size"] = "int",
                     blend = "str", border = "str", csv = "str", model = "str", config = "str",
                     threads = "int", quiet = "bool" }

local function nan_str(v) return v ~= v and "nan" or fmt("%.6f", v) end

--- eval(argv) -> exit status: `lunet eval MODEL IMAGES MASKS [options]` (EVAL_HELP).
function M.eval(argv)
  local o, args = parse("eval", argv, { positional = { "MODEL", "IMAGES", "MASKS" }, flags = EVAL_FLAGS })
  if o.help then io.stdout:write(EVAL_HELP, "\n") return 0 end
  o._cmd = "eval"
  set_threads(o)
  local popts = tile_opts(o, { output = "labels" })
  local model, meta, cfg = load_model(o, args[1])
  popts.normalize = normalize_of(meta)
  local mode = image_mode(model, cfg)
  local C = o.num_classes or (model.config or cfg or {}).num_classes
  if C == nil then usage_error("eval", "the model has no num_classes in its config: give --num-classes") end
  local data = require "lunet.data"
  local ds = data.SegmentationFolder{ images = args[2], masks = args[3], image_mode = mode,
                                      split_file = o.split_file, mask_suffix = o.mask_suffix }
  local metrics = require "lunet.metrics"
  local cm = metrics.ConfusionMatrix(C, { ignore_index = o.ignore_index })
  local n = ds:len()
  local bar = new_bar(n, "img", not o.quiet)
  for i = 1, n do
    local s = ds:get(i)
    local ids = model:predict(s.image, popts)
    local ok, err = pcall(cm.update, cm, ids, s.mask)
    if not ok then
      bar:done()
      local msg = bare(err)
      if msg:find("outside", 1, true) and o.ignore_index == nil then
        msg = msg .. " (set --ignore-index to leave a void label out)"
      end
      error(fmt("%s: %s", ds.files[i].mask, msg), 0)
    end
    if not o.quiet and not bar.on then
      io.stdout:write(fmt("%s  pixel accuracy so far %s\n", s.name, nan_str(cm:pixel_accuracy())))
    end
    bar:step(i, s.name)
  end
  bar:done()
  if not o.quiet then io.stdout:write(tostring(cm), "\n") end
  if o.csv then
    local lines = { "class,iou,dice,precision,recall" }
    for c = 0, C - 1 do
      lines[#lines + 1] = fmt("%d,%s,%s,%s,%s", c, nan_str(cm:iou_of(c)), nan_str(cm:dice_of(c)),
                              nan_str(cm:precision_of(c)), nan_str(cm:recall_of(c)))
    end
    local f, msg = io.open(o.csv, "w")
    if not f then error(fmt("cannot write --csv '%s': %s", o.csv, tostring(msg)), 0) end
    f:write(concat(lines, "\n"), "\n")
    f:close()
  end
  io.stdout:write(fmt("%d image%s: mIoU %s  mIoU (classes 1..%d) %s  mDice %s  pixel accuracy %s\n", n,
                      n == 1 and "" or "s", nan_str(cm:miou()), C - 1, nan_str(cm:miou_fg()),
                      nan_str(cm:mdice()), nan_str(cm:pixel_accuracy())))
  return 0
end

-- ------------------------------------------------------------------ train

local CONFIG_KEYS = {
  "model", "train", "val", "val_split", "batch_size", "epochs", "seed", "optimizer", "lr", "weight_decay",
  "momentum", "loss", "scheduler", "scheduler_interval", "metrics", "monitor", "mode", "ignore_index",
  "num_classes", "grad_clip", "out", "threads", "shuffle", "drop_last",
}
M.CONFIG_KEYS = CONFIG_KEYS

local CONFIG_HELP = [=[
The config file is a Lua script that returns a table (it may require "lunet" and build
objects); unknown keys are errors. Keys (defaults in brackets):
  model        {name = "unet", <the model's options>} (a model under lunet.models), or an
               nn.Module (then model.safetensors is written only when it has a .config)
  train        a dataset (anything with len() and get(i)), or SegmentationFolder options
               {images = DIR, masks = DIR, transform =, names = | split_file =, ...}
  val          the same for validation [none]; or
  val_split    a fraction of train held out for validation, split with the seed [none]
  epochs [10], batch_size [4], seed [0] (lunet.manual_seed, shuffling, val_split),
  shuffle [true], drop_last [false]
  optimizer    "adam" | "adamw" | "sgd" | "rmsprop" ["adam"], or function(params) -> optimizer
  lr [1e-3], weight_decay [0], momentum [0.9, sgd and rmsprop]
  loss         a loss module or function [nn.CrossEntropyLoss{ignore_index = ignore_index}]
  scheduler    function(optimizer, steps_per_epoch, epochs) -> scheduler [none]
  scheduler_interval, metrics, monitor, mode, ignore_index, num_classes, grad_clip
               passed to lunet.train.fit (see its documentation)
  out          the run directory ["run"]: checkpoint.safetensors (resumable),
               checkpoint.best.safetensors, log.csv, model.safetensors (best model, with its
               name and options, for lunet predict / eval / info)
  threads      threads for OpenBLAS and lunet's loops [all cores]]=]

local TRAIN_HELP = [[
usage: lunet train CONFIG.lua [options]

Trains the model a config file describes with lunet.train.fit: a progress bar on a
terminal, one line per epoch otherwise; a rerun resumes from the run directory's checkpoint.

options:
  --epochs N     train up to epoch N (overrides the config)
  --out DIR      run directory (overrides the config's out)
  --fresh        start over: ignore an existing checkpoint
  --threads N    threads for OpenBLAS and lunet's loops
  --quiet        no progress output, only the summary
  -h, --help     this text

]] .. CONFIG_HELP

local TRAIN_FLAGS = { epochs = "int", out = "str", fresh = "bool", threads = "int", quiet = "bool" }

--- load_config(path) -> the table a config file returns (unknown keys raise).
local function load_config(path)
  if not file_exists(path) then error(fmt("cannot read the config file '%s'", path), 0) end
  local env = setmetatable({}, { __index = _G })
  local chunk, msg = loadfile(path, "t", env)
  if not chunk then error(fmt("config '%s': %s", path, msg), 0) end
  local ok, cfg = pcall(chunk)
  if not ok then error(fmt("config '%s': %s", path, tostring(cfg)), 0) end
  if type(cfg) ~= "table" then
    error(fmt("config '%s' must return a table of options, got %s", path, E.typename(cfg)), 0)
  end
  E.options(cfg, "config", CONFIG_KEYS)
  return cfg
end
M.load_config = load_config

local function is_module(v)
  return type(v) == "table" and type(v.state_dict) == "function" and type(v.parameters) == "function"
end

--- build_model(cfg) -> model, name, options: the model of a config ({name = "unet", ...} or a module).
local function build_model(cfg)
  local m = cfg.model
  if m == nil then E.fail("config", "missing key 'model' ({name = \"unet\", ...} or an nn.Module)") end
  if is_module(m) then return m, nil, m.config end
  if type(m) ~= "table" then
    E.fail("config", "model must be {name = \"unet\", <options>} or an nn.Module, got %s", E.typename(m))
  end
  local name = m.name
  if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
    E.fail("config", "model.name must be the name of a model under lunet.models (\"unet\", \"tiramisu\", " ..
                     "\"hrnet\", \"deeplabv3plus\"), got %s", E.show(name))
  end
  local ok, ctor = pcall(require, "lunet.models." .. name)
  if not ok then E.fail("config", "model.name: no model '%s' under lunet.models", name) end
  local opts = {}
  for k, v in pairs(m) do if k ~= "name" then opts[k] = v end end
  return ctor(opts), name, opts
end
M.build_model = build_model

local function build_dataset(cfg, key)
  local v = cfg[key]
  if v == nil then return nil end
  if type(v) ~= "table" then E.fail("config", "%s must be a dataset or SegmentationFolder options, got %s", key, E.typename(v)) end
  local ok, get = pcall(function() return v.get end)
  if ok and type(get) == "function" then return v end
  return require("lunet.data").SegmentationFolder(v)
end

local function datasets(cfg)
  local data = require "lunet.data"
  local tr = build_dataset(cfg, "train")
  if tr == nil then E.fail("config", "missing key 'train' (a dataset or {images = DIR, masks = DIR})") end
  local va = build_dataset(cfg, "val")
  if cfg.val_split ~= nil then
    if va ~= nil then E.fail("config", "val and val_split are exclusive") end
    local f = E.number("config", "val_split", cfg.val_split, 0, 1)
    if f <= 0 or f >= 1 then E.fail("config", "val_split must be a fraction in (0, 1), got %s", E.show(f)) end
    local parts = data.random_split(tr, { 1 - f, f }, { seed = cfg.seed or 0 })
    tr, va = parts[1], parts[2]
  end
  return tr, va
end

local function build_optimizer(cfg, model)
  local optim = require "lunet.optim"
  local o = cfg.optimizer or "adam"
  if type(o) == "function" then return o(model:parameters()) end
  local name = E.choice("config", "optimizer", o, { "adam", "adamw", "sgd", "rmsprop" })
  local lr = E.number("config", "lr", cfg.lr or 1e-3, 0)
  local wd = E.number("config", "weight_decay", cfg.weight_decay or 0, 0)
  local params = model:parameters()
  if name == "adam" then return optim.Adam(params, { lr = lr, weight_decay = wd }) end
  if name == "adamw" then return optim.AdamW(params, { lr = lr, weight_decay = wd }) end
  local mom = E.number("config", "momentum", cfg.momentum or 0.9, 0)
  if name == "sgd" then return optim.SGD(params, { lr = lr, weight_decay = wd, momentum = mom }) end
  return optim.RMSprop(params, { lr = lr, weight_decay = wd, momentum = mom })
end

--- train(argv) -> exit status: `lunet train CONFIG.lua [options]` (TRAIN_HELP, CONFIG_HELP).
function M.train(argv)
  local o, args = parse("train", argv, { positional = { "CONFIG" }, flags = TRAIN_FLAGS })
  if o.help then io.stdout:write(TRAIN_HELP, "\n") return 0 end
  o._cmd = "train"
  if o.epochs and o.epochs < 0 then usage_error("train", "--epochs must be >= 0, got %d", o.epochs) end
  local cfg = load_config(args[1])
  set_threads(o)
  if o.threads == nil and cfg.threads ~= nil then
    lunet.set_num_threads(E.integer("config", "threads", cfg.threads, 1))
  end
  local seed = E.integer("config", "seed", cfg.seed or 0)
  lunet.manual_seed(seed)
  local model, name, mopts = build_model(cfg)
  local tr, va = datasets(cfg)
  local data = require "lunet.data"
  local bs = E.integer("config", "batch_size", cfg.batch_size or 4, 1)
  local train_loader = data.DataLoader(tr, { batch_size = bs, shuffle = cfg.shuffle ~= false, seed = seed,
                                             drop_last = cfg.drop_last and true or false })
  local val_loader = va and data.DataLoader(va, { batch_size = bs }) or nil
  local epochs = o.epochs or E.integer("config", "epochs", cfg.epochs or 10, 0)
  local optimizer = build_optimizer(cfg, model)
  local scheduler
  if cfg.scheduler ~= nil then
    if type(cfg.scheduler) ~= "function" then
      E.fail("config", "scheduler must be a function(optimizer, steps_per_epoch, epochs), got %s", E.typename(cfg.scheduler))
    end
    scheduler = cfg.scheduler(optimizer, train_loader:len(), epochs)
  end
  local loss = cfg.loss
  if loss == nil then loss = require("lunet.nn").CrossEntropyLoss{ ignore_index = cfg.ignore_index } end
  local out = o.out or cfg.out or "run"
  if type(out) ~= "string" or out == "" then E.fail("config", "out must be a directory path, got %s", E.show(out)) end
  mkdir_p(out)
  local ckpt = out .. "/checkpoint.safetensors"
  local model_path = out .. "/model.safetensors"
  local P = require "lunet.predict"
  local config = mopts or model.config
  local model_name = name or (type(model.__name) == "string" and model.__name:lower())
  local can_save = type(config) == "table" and model_name ~= nil
                   and pcall(require, "lunet.models." .. model_name)
  local train = require "lunet.train"
  local history = train.fit{
    model = model, loss = loss, optimizer = optimizer, scheduler = scheduler,
    scheduler_interval = cfg.scheduler_interval, train_loader = train_loader, val_loader = val_loader,
    epochs = epochs, metrics = cfg.metrics, monitor = cfg.monitor, mode = cfg.mode,
    ignore_index = cfg.ignore_index, num_classes = cfg.num_classes, grad_clip = cfg.grad_clip,
    checkpoint = ckpt, resume = not o.fresh, log = out .. "/log.csv", progress = not o.quiet,
    on_epoch_end = function(entry, h)
      if can_save and h.best_epoch == entry.epoch then
        P.save_model(model_path, model, { model = model_name, config = config,
                                          metadata = { epoch = tostring(entry.epoch) } })
      end
    end,
  }
  if can_save and not file_exists(model_path) and file_exists(train.best_checkpoint_path(ckpt)) then
    -- resumed past the last epoch with no model file (removed): rebuild it from the best checkpoint
    local best = P.load_model(train.best_checkpoint_path(ckpt), { model = model_name, config = config })
    P.save_model(model_path, best, { model = model_name, config = config })
  end
  local last = history[#history]
  local summary = { fmt("%d epoch%s", #history, #history == 1 and "" or "s") }
  if last then summary[#summary + 1] = fmt("train_loss %.4f", last.train_loss) end
  if history.best then
    summary[#summary + 1] = fmt("best %s %.4f at epoch %d", history.monitor, history.best, history.best_epoch)
  end
  io.stdout:write(concat(summary, ", "), "\n")
  if can_save then
    io.stdout:write(fmt("model: %s (lunet predict %s IN/ OUT/)\n", model_path, model_path))
  else
    io.stdout:write(fmt("checkpoint: %s (the model has no .config: predict needs --model and --config)\n", ckpt))
  end
  return 0
end

-- ------------------------------------------------------------------ info

local INFO_HELP = [[
usage: lunet info [MODEL.safetensors | CONFIG.lua]

Without an argument: lunet's version, where it is loaded from, the thread budget.
With a .safetensors file: its metadata and tensors, and for a model file (model name and
options in the metadata) the module tree with parameter counts.
With a config file: its keys, the model it builds (tree and parameters) and the data sets.

options:
  --model NAME, --config LITERAL   the model for a checkpoint without model metadata
  -h, --help     this text]]

local INFO_FLAGS = { model = "str", config = "str" }

local function shape_str(t) return "[" .. concat(t:shape(), ", ") .. "]" end

local function count(n)
  local s = tostring(n)
  local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (out:gsub("^,", ""))
end

local function info_file(o, path)
  local ok, sd, meta, names = pcall(lunet.load, path)
  if not ok then error(bare(sd), 0) end
  meta = meta or {}
  local w = io.stdout
  w:write(fmt("file: %s\n", path))
  local keys = {}
  for k in pairs(meta) do keys[#keys + 1] = k end
  sort(keys)
  if #keys > 0 then
    w:write("metadata:\n")
    for _, k in ipairs(keys) do
      local v = meta[k]
      if #v > 200 then v = v:sub(1, 200) .. fmt("... (%d characters)", #v) end
      w:write(fmt("  %s = %s\n", k, v:gsub("\n", " | ")))
    end
  end
  local total, shown = 0, 0
  w:write(fmt("tensors: %d\n", #names))
  for _, k in ipairs(names) do
    local t = sd[k]
    total = total + t:numel()
    if shown < 40 then
      w:write(fmt("  %-48s %-8s %s\n", k, t:dtype(), shape_str(t)))
      shown = shown + 1
    end
  end
  if #names > shown then w:write(fmt("  ... and %d more\n", #names - shown)) end
  w:write(fmt("elements: %s\n", count(total)))
  if meta.model or o.model then
    local model = load_model(o, path)
    w:write(fmt("model: %s, %s parameters\n", meta.model or o.model, count(model:num_parameters())))
    w:write(tostring(model), "\n")
  end
  return 0
end

local function info_config(path)
  local cfg = load_config(path)
  local w = io.stdout
  w:write(fmt("config: %s\n", path))
  local keys = {}
  for k in pairs(cfg) do keys[#keys + 1] = k end
  sort(keys)
  for _, k in ipairs(keys) do
    local v = cfg[k]
    local s
    if type(v) == "table" and not is_module(v) and k == "model" then
      s = require("lunet.predict").encode_config(v)
    elseif type(v) == "string" then s = fmt("%q", v)
    elseif type(v) == "number" or type(v) == "boolean" then s = tostring(v)
    else s = E.typename(v) end
    w:write(fmt("  %s = %s\n", k, s))
  end
  lunet.manual_seed(E.integer("config", "seed", cfg.seed or 0))
  local model = build_model(cfg)
  w:write(fmt("model: %s parameters\n", count(model:num_parameters())))
  w:write(tostring(model), "\n")
  local tr, va = datasets(cfg)
  w:write(fmt("train: %d items (%s)\n", tr:len(), tostring(tr)))
  if va then w:write(fmt("val: %d items (%s)\n", va:len(), tostring(va))) end
  return 0
end

--- info(argv) -> exit status: `lunet info [MODEL | CONFIG]` (INFO_HELP).
function M.info(argv)
  local o, args = parse("info", argv, { positional = {}, optional_positional = 1, flags = INFO_FLAGS })
  if o.help then io.stdout:write(INFO_HELP, "\n") return 0 end
  o._cmd = "info"
  local path = args[1]
  if path == nil then
    local w = io.stdout
    w:write(lunet._VERSION, " on ", _VERSION, "\n")
    w:write("lunet:      ", package.searchpath("lunet", package.path) or "?", "\n")
    w:write("lunet.core: ", package.searchpath("lunet.core", package.cpath) or "?", "\n")
    w:write("models:     ", package.searchpath("lunet.models.unet", package.path) or "?", "\n")
    w:write("threads:    ", tostring(lunet.get_num_threads()), "\n")
    return 0
  end
  if path:match("%.lua$") then return info_config(path) end
  return info_file(o, path)
end

-- ------------------------------------------------------------------ main

local MAIN_HELP = [[
usage: lunet COMMAND [arguments]  (lunet COMMAND --help for each)

commands:
  train CONFIG.lua                       train a model described by a config file
  predict MODEL INPUT OUTPUT [--tile N]  segment an image or a folder of images
  eval MODEL IMAGES MASKS                mIoU, Dice and per-class scores on labelled images
  info [MODEL | CONFIG]                  what a model file or a config holds; lunet's setup

options: -h, --help (this text), --version
exit status: 0 done, 1 failed, 2 usage error]]
M.HELP = MAIN_HELP

local commands = { train = M.train, predict = M.predict, eval = M.eval, info = M.info }

--- main(argv) -> exit status (0, 1 or 2); argv is the command line without the program name.
function M.main(argv)
  argv = argv or {}
  local cmd = argv[1]
  if cmd == nil then
    io.stderr:write(MAIN_HELP, "\n")
    return 2
  end
  if cmd == "-h" or cmd == "--help" or cmd == "help" then
    if argv[2] and commands[argv[2]] then return M.main({ argv[2], "--help" }) end
    io.stdout:write(MAIN_HELP, "\n")
    return 0
  end
  if cmd == "--version" then
    io.stdout:write(lunet._VERSION, "\n")
    return 0
  end
  local run = commands[cmd]
  if not run then
    io.stderr:write(fmt("lunet: unknown command '%s'\n", cmd), MAIN_HELP, "\n")
    return 2
  end
  local rest = { table.unpack(argv, 2) }
  local trace
  local ok, status = xpcall(run, function(err)
    if type(err) ~= "table" and os.getenv("LUNET_TRACEBACK") then trace = debug.traceback(tostring(err), 2) end
    return err
  end, rest)
  if ok then return status or 0 end
  io.stdout:flush()
  if type(status) == "table" and getmetatable(status) == Usage then
    io.stderr:write(fmt("lunet %s: %s\n(see lunet %s --help)\n", cmd, status.msg, cmd))
    return 2
  end
  io.stderr:write(fmt("lunet %s: %s\n", cmd, trace or bare(status)))
  return 1
end

return M
