-- lunet.train: the training loop (fit), evaluation over a loader (evaluate) and training
-- checkpoints that resume bit-identically.
--
--   local train = require "lunet.train"
--   local history = train.fit{
--     model = model, loss = nn.CrossEntropyLoss{}, optimizer = optim.Adam(model:parameters(), {lr = 2e-3}),
--     train_loader = loader, val_loader = val_loader, epochs = 10,
--     metrics = {"miou", "pixel_accuracy", "dice"},   -- the default when val_loader is given
--     checkpoint = "run/unet.safetensors", resume = true, log = "run/log.csv",
--   }
--   print(history[#history].miou, history.best, history.best_epoch)
--
-- Each epoch: model:train(), for every batch of train_loader: optimizer:zero_grad(), logits =
-- model(batch.image), l = loss(logits, batch.mask), l:backward(), [clip_grad_norm],
-- optimizer:step(), [scheduler:step() when scheduler_interval = "step"]; then, with a
-- val_loader, model:eval() and a no-grad pass that accumulates the validation loss and a
-- metrics.ConfusionMatrix; then scheduler:step() (ReduceLROnPlateau: step(monitored value)),
-- the history entry, the CSV log and the checkpoints.
--
-- Options (one table; unknown keys raise, with a did-you-mean hint; every error is raised at
-- the line of the script that called fit):
--   model, loss, optimizer, train_loader, epochs     required. loss(logits, target) returns a
--                                                    scalar tensor (a loss module or function);
--                                                    epochs is an integer >= 0 (the epoch to
--                                                    train up to: a resume continues from the
--                                                    checkpoint's epoch)
--   scheduler = nil, scheduler_interval = "epoch"    or "step" (stepped after each optimizer step)
--   val_loader = nil, metrics = {...}                names (means skip classes absent from both
--                                                    prediction and target):
--       miou       mean IoU over all classes 0..C-1, background included
--       miou_fg    mean IoU over the foreground classes 1..C-1 (C = 2: the IoU of class 1)
--       dice       mean Dice over all classes, background included (= mdice)
--       dice_fg    mean Dice over classes 1..C-1 (= mdice_fg)
--       pixel_accuracy, mean_pixel_accuracy
--       iou_class, dice_class   per-class tables (entry k = class k-1); the history entry also
--                  holds them as numbers iou_class_0 .. iou_class_<C-1> (CSV columns,
--                  checkpoints); they cannot be the monitor
--       name = function(cm) returning a number (cm: the validation ConfusionMatrix).
--                                                    Default {"miou", "pixel_accuracy", "dice"}
--                                                    with a val_loader.
--   num_classes = model.config.num_classes or the logits' channel count (1 channel = binary,
--                 logits > 0 is class 1)
--   ignore_index = the label the validation metrics leave out (an integer). Default: the
--             loss's ignore_index; for a combination (CrossEntropyLoss{ignore_index = 255} +
--             DiceLoss{...}) the value its parts with an ignore_index agree on (parts without
--             one do not count). Parts that disagree raise: set ignore_index then. A validation
--             target label outside 0..num_classes-1 that is not ignored raises, naming this
--             option (VOC's 255 void label needs ignore_index = 255 somewhere).
--   monitor = first metric (or "val_loss", or "train_loss" without val_loader), mode = "max" for
--             metrics, "min" for names ending in "loss": chooses the best checkpoint
--   checkpoint = path: the last checkpoint is written there after every epoch (atomically;
--             stale temporary files of killed writes are removed, see train/checkpoint.lua), the best one
--             (same contents) to the path with ".best" inserted before its extension
--             (run/unet.safetensors -> run/unet.best.safetensors); see best_checkpoint_path
--   resume = true: when the checkpoint file exists, restore model, optimizer, scheduler,
--             random generators, history and best, and continue with the next epoch (a
--             checkpoint at or beyond `epochs` trains nothing and returns its history)
--   log = csv_path: rewritten (atomically) after every epoch from the whole history
--   progress = true: a bar (img/s, ETA, running loss) redrawn with "\r" when stdout is a
--             terminal, one plain line per epoch otherwise (pipes, files, CI); "bar" and
--             "lines" force a style, false prints nothing. Terminal = stdout is a TTY
--             (`test -t 1` via os.execute, once) and TERM is set and not "dumb".
--   output = io.stdout: anything with :write (and optionally :flush)
--   deep_supervision = {weights = {...}} | false: for a model that returns several outputs in
--             training mode (a list of logits with a `main` field, see models/shared.lua: U^2-Net's
--             side outputs, UNet++'s heads, the hourglass stacks, PSPNet's aux head), the training
--             loss is sum_i weights[i] * loss(outputs[i], target). Default weights:
--             model.deep_supervision_weights (U^2-Net all 1, the paper's BCE summed over the
--             seven outputs; UNet++ 1/4 each, its mean; PSPNet {1, 0.4}), else 1 for every
--             output; false trains on the main output alone. Validation loss, metrics and
--             predict use the main output (outputs.main: U^2-Net's fused d0, UNet++'s last head,
--             the last stack, PSPNet's main head). M.deep_supervision_loss is the same rule.
--   grad_clip = max_norm (optim.clip_grad_norm), generators = {name = Generator} (extra
--             generators to checkpoint), on_epoch_end = function(entry, history) (return
--             true to stop early), gc = false: the core already paces the collector by
--             tensor bytes (report_bytes in csrc/lua_tensor.c), which keeps the resident size bounded; gc = n
--             adds a full collectgarbage() every n steps and after every validation batch
--             (a lower peak for a few ms per collection)
--   distributed = true: data-parallel under lunet.distributed (after its init(), under mpirun):
--             model wrapped in DistributedDataParallel, losses and confusion matrices summed
--             over the ranks, progress, log and checkpoints on rank 0 only (details and the
--             random state on resume: lua/lunet/distributed.lua, "train.fit")
--
-- Random state in checkpoints: the default generator (lunet.manual_seed), each loader's
-- generator, and each loader's dataset transform generator (Compose{seed=}), plus
-- opts.generators. All are saved at the end of every epoch and restored on resume, so 4
-- epochs straight and 2 + 2 with a resume in a new process give bit-identical weights.
--
-- A NaN or infinite training loss raises "fit: loss is nan at epoch E, step S (...)".
-- A fit killed at any moment (even kill -9 during a checkpoint write) leaves the previous
-- checkpoint intact, and a resume continues from it (spec/kill_spec.lua).
--
-- Returns history: a list of entries {epoch=, train_loss=, val_loss=, <metrics>=, lr=,
-- seconds=}, with history.best, history.best_epoch, history.monitor, and history.confusion
-- (the last validation ConfusionMatrix, when there was validation in this process).
local lunet = require "lunet"
local metrics = require "lunet.metrics"
local ckpt = require "lunet.train.checkpoint"
local progress = require "lunet.train.progress"
local core = require "lunet.core"
local E = require "lunet.errors"

local type, pairs, ipairs, tostring, rawget = type, pairs, ipairs, tostring, rawget
local pcall, require, collectgarbage, getmetatable = pcall, require, collectgarbage, getmetatable
local fmt, concat, sort = string.format, table.concat, table.sort
local huge, mtype = math.huge, math.type
local io_open = io.open
local is_tensor = core.is_tensor

local M = {}
M.checkpoint = ckpt
M.load_checkpoint = ckpt.load
M.load_model = ckpt.load_model

-- Errors are raised at the caller's level (the user's script), see lunet.errors.
local function fail(msg) E.raise("fit: " .. msg) end

local known = {
  "model", "loss", "optimizer", "scheduler", "scheduler_interval", "train_loader", "val_loader",
  "epochs", "metrics", "num_classes", "ignore_index", "monitor", "mode", "checkpoint", "resume",
  "log", "progress", "output", "grad_clip", "generators", "on_epoch_end", "gc", "deep_supervision",
  "distributed",
}

-- The main output of what a model returned: a tensor as is; a list of outputs (deep
-- supervision) through its `main` field, else its first entry.
local function main_output(out)
  if type(out) == "table" and not is_tensor(out) then return out.main or out[1] end
  return out
end
M.main_output = main_output

--- deep_supervision_loss(loss, outputs, target, weights) -> sum_i weights[i] * loss(outputs[i],
--- target) for a list of outputs (weights nil: 1 each); loss(outputs, target) for a tensor.
function M.deep_supervision_loss(lossf, outputs, target, weights)
  if is_tensor(outputs) then return lossf(outputs, target) end
  if type(outputs) ~= "table" or #outputs == 0 then
    fail("the model must return a tensor or a list of tensors, got " .. E.typename(outputs))
  end
  if weights ~= nil and #weights ~= #outputs then
    fail(fmt("deep_supervision.weights has %d weights, the model returned %d outputs", #weights, #outputs))
  end
  local total
  for i, y in ipairs(outputs) do
    if not is_tensor(y) then fail(fmt("output %d of the model is %s, not a tensor", i, E.typename(y))) end
    local w = weights and weights[i] or 1
    if w ~= 0 then
      local l = lossf(y, target)
      if w ~= 1 then l = l * w end
      total = total and total + l or l
    end
  end
  if total == nil then fail("deep_supervision.weights are all 0") end
  return total
end

-- name -> function(cm) for the built-in metric names.
local builtin = {
  miou = function(cm) return cm:miou() end,
  miou_fg = function(cm) return cm:miou_fg() end,
  dice = function(cm) return cm:mdice() end,
  mdice = function(cm) return cm:mdice() end,
  dice_fg = function(cm) return cm:mdice_fg() end,
  mdice_fg = function(cm) return cm:mdice_fg() end,
  pixel_accuracy = function(cm) return cm:pixel_accuracy() end,
  mean_pixel_accuracy = function(cm) return cm:mean_pixel_accuracy() end,
  iou_class = function(cm) return (cm:iou()) end,
  dice_class = function(cm) return (cm:dice()) end,
}
M.metric_functions = builtin
-- The built-in metrics whose value is a per-class table (flattened to <name>_<class id>).
local table_metric = { iou_class = true, dice_class = true }
M.table_metrics = table_metric

local function callable(v)
  if type(v) == "function" then return true end
  local mt = (type(v) == "table" or type(v) == "userdata") and getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil
end

local function is_loader(v)
  return type(v) == "table" and type(v.iter) == "function"
end

local function is_generator(v)
  if type(v) ~= "userdata" and type(v) ~= "table" then return false end
  local ok, f = pcall(function() return v.get_state end)
  return ok and type(f) == "function"
end

--- "run/unet.safetensors" -> "run/unet.best.safetensors" (no extension: path .. ".best").
function M.best_checkpoint_path(path)
  local base, ext = path:match("^(.*)(%.[^./]+)$")
  if base and base ~= "" then return base .. ".best" .. ext end
  return path .. ".best"
end

local function file_exists(path)
  local f = io_open(path, "rb")
  if f then f:close() return true end
  return false
end

-- Normalised metric list: { {name, fn}, ... } in the given order (named entries sorted).
local function metric_list(spec)
  local list = {}
  if spec == nil then return list end
  if type(spec) ~= "table" then fail("metrics must be a list of names (or name = function), got " .. E.typename(spec)) end
  for i, v in ipairs(spec) do
    if type(v) ~= "string" or not builtin[v] then
      local names = {}
      for k in pairs(builtin) do names[#names + 1] = k end
      sort(names)
      fail(fmt("metrics[%d]: unknown metric %s (known: %s, or name = function(cm))", i, E.show(v), concat(names, ", ")))
    end
    list[#list + 1] = { v, builtin[v] }
  end
  local named = {}
  for k, v in pairs(spec) do
    if mtype(k) ~= "integer" then
      if type(k) ~= "string" or not callable(v) then
        fail(fmt("metrics.%s must be a function(cm) returning a number", tostring(k)))
      end
      named[#named + 1] = k
    end
  end
  sort(named)
  for _, k in ipairs(named) do list[#list + 1] = { k, spec[k] } end
  return list
end

local function scalar(x)
  if is_tensor(x) then return x:item() end
  return x
end

-- Labels from logits for the confusion matrix: 1 channel = binary (logit > 0).
local function labels_of(logits)
  if logits:dim() == 4 and logits:size(2) == 1 then
    return logits:select(2, 1):gt(0):to("int32")
  end
  return logits
end

-- The ignore_index options of a loss: a loss module's own (opts.ignore_index), or those of
-- every part of a combination built with + and * (terms = {{weight, loss}, ...}). Appends
-- {loss = the part, value = its ignore_index} to out; parts without one add nothing.
local function loss_ignores(l, out, depth)
  if type(l) ~= "table" or depth > 32 then return out end
  local terms = rawget(l, "terms")
  if type(terms) == "table" then
    for _, t in ipairs(terms) do
      if type(t) == "table" then loss_ignores(t.loss or t[2], out, depth + 1) end
    end
    return out
  end
  local o = rawget(l, "opts")
  if type(o) == "table" and o.ignore_index ~= nil then out[#out + 1] = { loss = l, value = o.ignore_index } end
  return out
end

--- The label a loss ignores, for the validation metrics: nil when no part of it has an
--- ignore_index, the value when every part that has one agrees; raises when they differ
--- (fit's ignore_index option then chooses).
function M.loss_ignore_index(lossf)
  local list = loss_ignores(lossf, {}, 0)
  if #list == 0 then return nil end
  for i = 2, #list do
    if list[i].value ~= list[1].value then
      local parts = {}
      for j, e in ipairs(list) do parts[j] = fmt("%s ignores %s", tostring(e.loss), E.show(e.value)) end
      fail(fmt("the parts of the loss ignore different labels (%s); set fit's ignore_index option " ..
               "to the label the validation metrics leave out", concat(parts, ", ")))
    end
  end
  return list[1].value
end

-- Checks that a validation target holds only class ids 0..C-1 or the ignored label, so the
-- confusion matrix cannot fail on it; names the option that fixes it. how = "fit" or
-- "evaluate" (whose option to name), from = where the ignore value came from (or nil).
local function check_target(how, target, C, ignore, from, b)
  if not is_tensor(target) or target:numel() == 0 then return end
  local dt = target:dtype()
  if dt ~= "int32" and dt ~= "uint8" then return end   -- the confusion matrix says what it needs
  local t = target
  if ignore ~= nil then t = t * t:ne(ignore) end
  local lo, hi = t:min():item(), t:max():item()
  local bad = lo < 0 and lo or (hi >= C and hi or nil)
  if bad == nil then return end
  local what = fmt("%s: validation batch %d: the target holds label %s, outside the class ids 0..%s (num_classes = %s)",
                   how, b, E.show(bad), E.show(C - 1), E.show(C))
  local fix
  if ignore == nil then
    fix = fmt("and nothing ignores it; set %s's ignore_index option (ignore_index = %s) to leave those pixels out " ..
              "of the metrics, or num_classes to count them", how, E.show(bad))
  else
    fix = fmt("and the ignore_index %s%s does not cover it; set %s's ignore_index option to the label to leave out, " ..
              "or num_classes to count it", E.show(ignore), from and (" (from " .. from .. ")") or "", how)
  end
  E.raise(what .. ", " .. fix)
end

-- The validation pass of evaluate and fit (how names the caller in messages; from says where
-- the ignore value came from, or nil).
local function run_evaluation(how, model, loader, opts, from)
  if type(model.eval) == "function" then model:eval() end
  local cm, loss_sum, n = nil, 0, 0
  local lossf = opts.loss
  local b = 0
  lunet.no_grad(function()
    for batch in loader:iter() do
      b = b + 1
      local logits = main_output(model(batch.image))
      local C = opts.num_classes
      if not C then
        C = logits:size(2)
        if C == 1 then C = 2 end
      end
      check_target(how, batch.mask, C, opts.ignore_index, from, b)
      if not cm then cm = metrics.ConfusionMatrix(C, { ignore_index = opts.ignore_index }) end
      local bs = batch.image:size(1)
      if lossf then
        loss_sum = loss_sum + scalar(lossf(logits, batch.mask)) * bs
      end
      n = n + bs
      cm:update(labels_of(logits), batch.mask)
      if opts.gc then collectgarbage() end
    end
  end)
  return cm, (lossf and n > 0) and loss_sum / n or nil
end

local evaluate_known = { "loss", "num_classes", "ignore_index", "gc" }

--- evaluate(model, loader, {loss=, num_classes=, ignore_index=, gc=}) -> ConfusionMatrix, mean
--- loss (model put in eval mode; no gradients; the mean loss is weighted by batch size). Every
--- target label must be a class id 0..num_classes-1 or ignore_index (else an error says which).
function M.evaluate(model, loader, opts)
  local fn = "evaluate"
  opts = E.options(opts, fn, evaluate_known)
  if not callable(model) then E.fail(fn, "model must be callable (a module or a function), got %s", E.typename(model)) end
  if not is_loader(loader) then E.fail(fn, "loader must have an iter() method (a DataLoader), got %s", E.typename(loader)) end
  if opts.num_classes ~= nil then E.integer(fn, "num_classes", opts.num_classes, 1) end
  if opts.ignore_index ~= nil then E.integer(fn, "ignore_index", opts.ignore_index) end
  if opts.loss ~= nil and not callable(opts.loss) then
    E.fail(fn, "loss must be callable (a loss module or a function), got %s", E.typename(opts.loss))
  end
  return run_evaluation(fn, model, loader, opts, nil)
end

-- CSV of the history (columns: epoch, train_loss, val_loss, metrics..., lr, seconds), written
-- atomically through the checkpoint module's temporary names (stale ones removed).
local function write_csv(path, history, columns)
  local cols = {}
  for _, c in ipairs(columns) do
    if table_metric[c] then
      local ids, seen = {}, {}
      for _, e in ipairs(history) do
        for k in pairs(e) do
          local id = type(k) == "string" and k:sub(1, #c + 1) == c .. "_" and k:sub(#c + 2):match("^%d+$")
          if id and not seen[id] then seen[id] = true; ids[#ids + 1] = tonumber(id) end
        end
      end
      sort(ids)
      for _, id in ipairs(ids) do cols[#cols + 1] = c .. "_" .. id end
    else
      cols[#cols + 1] = c
    end
  end
  columns = cols
  local lines = { concat(columns, ",") }
  for _, e in ipairs(history) do
    local row = {}
    for i, c in ipairs(columns) do
      local v = e[c]
      if v == nil then row[i] = ""
      elseif mtype(v) == "integer" then row[i] = tostring(v)
      else row[i] = fmt("%.6g", v) end
    end
    lines[#lines + 1] = concat(row, ",")
  end
  lines[#lines + 1] = ""
  ckpt.atomic_write(path, function(tmp)
    local f, msg = io_open(tmp, "w")
    if not f then fail("cannot write the log: " .. tostring(msg)) end
    local ok, err = f:write(concat(lines, "\n"))
    f:close()
    if not ok then os.remove(tmp); fail("cannot write the log: " .. tostring(err)) end
  end, "fit")
end

local function short(v)
  if v ~= v then return "nan" end
  if v ~= 0 and (math.abs(v) < 1e-3 or math.abs(v) >= 1e5) then return fmt("%.3e", v) end
  return fmt("%.4f", v)
end

local function current_lr(optimizer)
  local g = optimizer.param_groups and optimizer.param_groups[1]
  return g and g.lr
end

local function is_plateau(s)
  return s ~= nil and (s.__name == "ReduceLROnPlateau" or
                       (s.num_bad_epochs ~= nil and s.cooldown_counter ~= nil))
end

--- fit{...} -> history (see the top of this file).
function M.fit(opts)
  if type(opts) ~= "table" then fail("expects one table of options, got " .. E.typename(opts)) end
  E.options(opts, "fit", known)
  local model, lossf, optimizer = opts.model, opts.loss, opts.optimizer
  local train_loader, val_loader = opts.train_loader, opts.val_loader
  if model == nil then fail("missing option 'model'") end
  if not callable(model) then fail("model must be callable (a module), got " .. E.typename(model)) end
  if lossf == nil then fail("missing option 'loss'") end
  if not callable(lossf) then fail("loss must be callable (a loss module or a function), got " .. E.typename(lossf)) end
  if optimizer == nil then fail("missing option 'optimizer'") end
  if type(optimizer) ~= "table" or type(optimizer.step) ~= "function" or type(optimizer.zero_grad) ~= "function" then
    fail("optimizer must have step() and zero_grad() (an lunet.optim optimizer), got " .. E.typename(optimizer))
  end
  if train_loader == nil then fail("missing option 'train_loader'") end
  if not is_loader(train_loader) then
    fail("train_loader must have an iter() method (a DataLoader), got " .. E.typename(train_loader))
  end
  if val_loader ~= nil and not is_loader(val_loader) then
    fail("val_loader must have an iter() method (a DataLoader), got " .. E.typename(val_loader))
  end
  if opts.epochs == nil then fail("missing option 'epochs'") end
  local epochs = E.integer("fit", "epochs", opts.epochs, 0)
  local scheduler = opts.scheduler
  if scheduler ~= nil and (type(scheduler) ~= "table" or type(scheduler.step) ~= "function") then
    fail("scheduler must have a step() method, got " .. E.typename(scheduler))
  end
  local interval = E.choice("fit", "scheduler_interval", opts.scheduler_interval or "epoch", { "epoch", "step" })
  if interval == "step" and is_plateau(scheduler) then
    fail("ReduceLROnPlateau steps once per epoch on the monitored value (scheduler_interval = 'epoch')")
  end
  local mlist = metric_list(opts.metrics == nil and val_loader and { "miou", "pixel_accuracy", "dice" } or opts.metrics)
  if #mlist > 0 and not val_loader then fail("metrics need a val_loader") end
  local first_number
  for _, m in ipairs(mlist) do
    if not table_metric[m[1]] then first_number = first_number or m[1] end
  end
  local monitor = opts.monitor or first_number or (val_loader and "val_loss") or "train_loss"
  local mnames = { train_loss = true, val_loss = val_loader ~= nil }
  for _, m in ipairs(mlist) do mnames[m[1]] = true end
  if type(monitor) == "string" and mnames[monitor] and table_metric[monitor] then
    fail(fmt("monitor %s is a per-class table; monitor a number (miou, miou_fg, dice, ..., " ..
             "or name = function(cm) returning one)", E.show(monitor)))
  end
  if type(monitor) ~= "string" or not mnames[monitor] then
    fail(fmt("monitor %s is neither a chosen metric nor %s", E.show(monitor),
             val_loader and "train_loss/val_loss" or "train_loss (there is no val_loader)"))
  end
  local mode = E.choice("fit", "mode", opts.mode or (monitor:match("loss$") and "min" or "max"), { "min", "max" })
  local path = opts.checkpoint
  if path ~= nil and (type(path) ~= "string" or path == "") then
    fail("checkpoint must be a file path, got " .. E.show(path))
  end
  if opts.resume ~= nil and type(opts.resume) ~= "boolean" then
    fail("resume must be true or false, got " .. E.show(opts.resume))
  end
  local log = opts.log
  if log ~= nil and (type(log) ~= "string" or log == "") then fail("log must be a file path, got " .. E.show(log)) end
  if log ~= nil and log == path then fail(fmt("log and checkpoint are the same file %s", E.show(log))) end
  local grad_clip = opts.grad_clip
  if grad_clip ~= nil and (type(grad_clip) ~= "number" or not (grad_clip > 0)) then
    fail("grad_clip must be a positive number, got " .. E.show(grad_clip))
  end
  local on_epoch_end = opts.on_epoch_end
  if on_epoch_end ~= nil and not callable(on_epoch_end) then
    fail("on_epoch_end must be a function, got " .. E.typename(on_epoch_end))
  end
  local out = opts.output or io.stdout
  if (type(out) ~= "table" and type(out) ~= "userdata") or out.write == nil then
    fail("output must have a write method (a file), got " .. E.typename(out))
  end
  local pmode
  if opts.progress == false then pmode = "none"
  elseif opts.progress == nil or opts.progress == true then pmode = progress.detect(out)
  elseif opts.progress == "bar" or opts.progress == "lines" then pmode = opts.progress
  else fail("progress must be true, false, 'bar' or 'lines', got " .. E.show(opts.progress)) end
  local gc = opts.gc
  if gc == nil then gc = false elseif gc == true then gc = 1 end
  if gc ~= false and (mtype(gc) ~= "integer" or gc < 1) then
    fail("gc must be a positive integer (steps between full collections) or false, got " .. E.show(gc))
  end
  local num_classes = opts.num_classes
  if num_classes ~= nil then
    num_classes = E.integer("fit", "num_classes", num_classes, 1)
  elseif type(model.config) == "table" and mtype(model.config.num_classes) == "integer" then
    num_classes = model.config.num_classes
  end
  -- the label the validation metrics leave out: fit's option, else the loss's (all of its
  -- parts that have an ignore_index must agree)
  local ignore_index, ignore_from = opts.ignore_index, nil
  if ignore_index ~= nil then
    ignore_index = E.integer("fit", "ignore_index", ignore_index)
  else
    ignore_index = M.loss_ignore_index(lossf)
    if ignore_index ~= nil then ignore_from = "the loss" end
  end

  -- every generator whose state the run depends on, by a stable name
  local generators, seen = {}, {}
  local function add_gen(name, g)
    if is_generator(g) and not seen[g] then seen[g] = true; generators[name] = g end
  end
  add_gen("default", lunet.default_generator())
  add_gen("train_loader", train_loader.generator)
  local tds = train_loader.dataset
  if type(tds) == "table" and type(tds.transform) == "table" then add_gen("train_transform", tds.transform.generator) end
  if val_loader then
    add_gen("val_loader", val_loader.generator)
    local vds = val_loader.dataset
    if type(vds) == "table" and type(vds.transform) == "table" then add_gen("val_transform", vds.transform.generator) end
  end
  if opts.generators ~= nil then
    if type(opts.generators) ~= "table" then
      fail("generators must be a table name = Generator, got " .. E.typename(opts.generators))
    end
    local names = {}
    for k in pairs(opts.generators) do
      if type(k) ~= "string" then fail("generators must be a table name = Generator (string names), got key " .. E.show(k)) end
      names[#names + 1] = k
    end
    sort(names)
    for _, k in ipairs(names) do
      local g = opts.generators[k]
      if not is_generator(g) then fail("generators." .. k .. " is not a Generator, got " .. E.typename(g)) end
      if not seen[g] then seen[g] = true; generators[k] = g end
    end
  end

  -- distributed = true: lunet.distributed's helper (DDP wrapping, rank-0 output, sums over ranks)
  local D = opts.distributed and require("lunet.distributed").fit_support(opts) or nil
  if D then model, pmode = D.model, D:progress(pmode) end
  local P = progress.new{ mode = pmode, out = out }
  local history = { monitor = monitor }
  local best, best_epoch = nil, nil
  local start = 1
  local parts = { model = model, optimizer = optimizer, scheduler = scheduler, generators = generators }

  if path and opts.resume ~= false and (D and D:exists(path) or not D and file_exists(path)) then
    local c = D and D:load(ckpt, path) or ckpt.load(path)
    if D then D:restore(ckpt, c, parts) else ckpt.restore(c, parts) end
    for i, e in ipairs(c.history) do history[i] = e end
    best, best_epoch = c.best, c.best_epoch
    start = c.epoch + 1
    P:note(fmt("resumed from %s at epoch %d%s", path, c.epoch,
               best and fmt(" (best %s %s at epoch %d)", monitor, short(best), best_epoch or 0) or ""))
  end
  history.best, history.best_epoch = best, best_epoch

  local columns = { "epoch", "train_loss" }
  if val_loader then columns[#columns + 1] = "val_loss" end
  for _, m in ipairs(mlist) do columns[#columns + 1] = m[1] end
  columns[#columns + 1] = "lr"
  columns[#columns + 1] = "seconds"

  if start > 1 then
    -- A run killed after writing the last checkpoint but before the best one or the log:
    -- bring both in line with the checkpoint (the restored state is the checkpoint's).
    if best_epoch == start - 1 then
      local meta = { epoch = start - 1, monitor = monitor, mode = mode, best = best, best_epoch = best_epoch }
      ckpt.save(M.best_checkpoint_path(path), { model = model, optimizer = optimizer, scheduler = scheduler,
                                                generators = generators, meta = meta, history = history })
    end
    if log then write_csv(log, history, columns) end
  end

  -- several outputs: the loss weights (deep_supervision option, else the model's), or false
  local ds = opts.deep_supervision
  local ds_weights
  if ds == nil then
    ds_weights = type(model) == "table" and model.deep_supervision_weights or nil
  elseif ds ~= false then
    if type(ds) ~= "table" then fail("deep_supervision must be {weights = {...}} or false, got " .. tostring(ds)) end
    E.options(ds, "fit: deep_supervision", { "weights" })
    ds_weights = ds.weights
  end
  if ds_weights ~= nil then
    if type(ds_weights) ~= "table" or #ds_weights == 0 then
      fail("deep_supervision.weights must be a list of numbers, got " .. E.show(ds_weights))
    end
    for i, w in ipairs(ds_weights) do E.number("fit", fmt("deep_supervision.weights[%d]", i), w, 0) end
  end

  local params
  if grad_clip then params = model:parameters() end
  local clip = grad_clip and require("lunet.optim").clip_grad_norm

  for epoch = start, epochs do
    local t0 = progress.clock()
    if type(model.train) == "function" then model:train() end
    local nb = train_loader:len()
    P:start(epoch, epochs, nb)
    local loss_sum, items = 0, 0
    local step = 0
    for batch, b in train_loader:iter() do
      step = b or (step + 1)
      optimizer:zero_grad()
      local logits = model(batch.image)
      local l
      if ds == false then l = lossf(main_output(logits), batch.mask)
      else l = M.deep_supervision_loss(lossf, logits, batch.mask, ds_weights) end
      local lv = scalar(l)
      if type(lv) ~= "number" then fail("loss must return a scalar tensor, got " .. E.typename(l)) end
      if lv ~= lv or lv == huge or lv == -huge then
        fail(fmt("loss is %s at epoch %d, step %d (of %d); lower the learning rate, check the " ..
                 "inputs and targets, or use grad_clip", lv ~= lv and "nan" or (lv > 0 and "inf" or "-inf"),
                 epoch, step, nb))
      end
      l:backward()
      if clip then clip(params, grad_clip) end
      optimizer:step()
      if scheduler and interval == "step" then scheduler:step() end
      local bs = batch.image:size(1)
      loss_sum, items = loss_sum + lv * bs, items + bs
      logits, l, batch = nil, nil, nil
      if gc and step % gc == 0 then collectgarbage() end
      P:update(step, items, loss_sum / items)
    end
    if D then loss_sum, items = D:sum_epoch(loss_sum, items, train_loader) end
    local entry = { epoch = epoch, train_loss = items > 0 and loss_sum / items or 0 / 0 }
    entry.lr = current_lr(optimizer)
    local cm
    if val_loader then
      P:status(fmt("epoch %d/%d validating...", epoch, epochs))
      local vloss
      local eo = { loss = lossf, num_classes = num_classes, ignore_index = ignore_index, gc = gc and true or false }
      local function evaluate(m, l, o) return run_evaluation("fit", m, l, o, ignore_from) end
      if D then cm, vloss = D:evaluate(evaluate, model, val_loader, eo) else cm, vloss = evaluate(model, val_loader, eo) end
      entry.val_loss = vloss
      for _, m in ipairs(mlist) do
        local v = cm and m[2](cm) or 0 / 0
        entry[m[1]] = v
        if table_metric[m[1]] and type(v) == "table" then
          for k, x in ipairs(v) do entry[m[1] .. "_" .. (k - 1)] = x end
        end
      end
      history.confusion = cm
      if type(model.train) == "function" then model:train() end
    end
    if scheduler and interval == "epoch" then
      if is_plateau(scheduler) then scheduler:step(entry[monitor]) else scheduler:step() end
    end
    local value = entry[monitor]
    local improved = value == value and (best == nil or (mode == "max" and value > best) or (mode == "min" and value < best))
    if improved then best, best_epoch = value, epoch end
    history.best, history.best_epoch = best, best_epoch
    entry.seconds = progress.clock() - t0
    history[#history + 1] = entry
    local gens = (D and path) and D:generators(generators) or generators
    if path and (not D or D.rank == 0) then
      local meta = { epoch = epoch, monitor = monitor, mode = mode }
      if best then meta.best, meta.best_epoch = best, best_epoch end
      ckpt.save(path, { model = model, optimizer = optimizer, scheduler = scheduler, generators = gens,
                        meta = meta, history = history })
      if improved then
        ckpt.save(M.best_checkpoint_path(path), { model = model, optimizer = optimizer, scheduler = scheduler,
                                                 generators = gens, meta = meta, history = history })
      end
    end
    if log and (not D or D.rank == 0) then write_csv(log, history, columns) end
    local parts_txt = { fmt("epoch %d/%d", epoch, epochs), "train_loss " .. short(entry.train_loss) }
    if val_loader then
      if entry.val_loss then parts_txt[#parts_txt + 1] = "val_loss " .. short(entry.val_loss) end
      for _, m in ipairs(mlist) do
        local v = entry[m[1]]
        if type(v) == "table" then
          local xs = {}
          for k, x in ipairs(v) do xs[k] = short(x) end
          parts_txt[#parts_txt + 1] = m[1] .. " " .. concat(xs, "/")
        else
          parts_txt[#parts_txt + 1] = m[1] .. " " .. short(v)
        end
      end
    end
    if entry.lr then parts_txt[#parts_txt + 1] = fmt("lr %.3g", entry.lr) end
    parts_txt[#parts_txt + 1] = fmt("%.1fs (%.0f img/s)", entry.seconds, items / math.max(entry.seconds, 1e-9))
    if improved then parts_txt[#parts_txt + 1] = "*" end
    P:finish(concat(parts_txt, "  "))
    if on_epoch_end and on_epoch_end(entry, history) == true then break end
  end
  if gc then collectgarbage() end
  return history
end

return M
