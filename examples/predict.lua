-- Segments a folder of images with a saved model: for every PNG/JPEG in --input writes
-- <name>_mask.png (palette PNG of class ids, VOC colours; lunet.image.load(p, {mode="index"})
-- reads the ids back) and <name>_overlay.png (the classes blended over the image) to --output.
--
--   lua5.4 examples/predict.lua --checkpoint ck.safetensors --input DIR --output DIR \
--          [--tile 256 --overlap 32] [--batch-size 4] [--blend crop|linear] [--border zero|reflect]
--          [--alpha 0.5] [--threads N] [--model unet --config '{in_channels = 3, num_classes = 2}']
--
-- Checkpoint convention (lunet.predict.save_model writes it; lunet.train.fit checkpoints
-- carry it when their metadata includes lunet.predict.checkpoint_metadata(name, config)):
--   metadata.model  = "unet"     the model's name under lunet.models (require "lunet.models.unet")
--   metadata.config = "{base = 16, depth = 3, in_channels = 3, norm = \"batch\", num_classes = 11}"
--                     the option table given to the constructor, as a Lua table literal
--                     (lunet.predict.encode_config; parsed by decode_config, never run)
--   tensors: the model's state dict ("down.1.1.weight", ...), either alone (a plain state dict
--   file, lunet.save(path, model:state_dict(), meta)) or under "model.<name>" next to the
--   optimizer/scheduler entries of a lunet.train.fit checkpoint.
--   metadata.normalize (optional) = "{mean = {0.485, 0.456, 0.406}, std = {0.229, 0.224, 0.225}}"
--                     when the model was trained on normalized images (predict's normalize)
-- A checkpoint without that metadata works when --model and --config are given.
-- Images are read as RGB, gray (in_channels = 1) or RGBA (in_channels = 4), scaled to [0, 1];
-- without --tile each image is one forward pass. Exits with status 1 and a message on error;
-- an unreadable image is reported and skipped (status 1 at the end).
local lunet = require "lunet"
local image = require "lunet.image"
local predict = require "lunet.predict"
local core = require "lunet.core"

local usage = [==[
usage: lua5.4 examples/predict.lua --checkpoint FILE --input DIR --output DIR
       [--tile N | --tile HxW] [--overlap N] [--batch-size N] [--blend crop|linear]
       [--border zero|reflect] [--alpha A] [--threads N] [--model NAME --config LITERAL]]==]

-- Prints msg (without the "file:line: " of a Lua error: this script's line is noise to a
-- command-line user) and exits with status 1.
local function die(msg)
  io.stderr:write("predict: ", (tostring(msg):gsub("^[^\n:]+:%d+: ", "")), "\n")
  os.exit(1)
end

local function parse(argv)
  local o, i = {}, 1
  local flags = { checkpoint = true, input = true, output = true, tile = true, overlap = true,
                  ["batch-size"] = true, blend = true, border = true, alpha = true, threads = true,
                  model = true, config = true }
  while i <= #argv do
    local a = argv[i]
    if a == "-h" or a == "--help" then io.stdout:write(usage, "\n"); os.exit(0) end
    local k, v = a:match("^%-%-([%w-]+)=(.*)$")
    if not k then
      k = a:match("^%-%-([%w-]+)$")
      v = argv[i + 1]
      i = i + 1
    end
    if not k or not flags[k] then die("unknown argument '" .. a .. "'\n" .. usage) end
    if v == nil then die("--" .. k .. " needs a value") end
    o[k] = v
    i = i + 1
  end
  for _, k in ipairs { "checkpoint", "input", "output" } do
    if not o[k] then die("--" .. k .. " is required\n" .. usage) end
  end
  return o
end

local function int(o, k)
  local v = o[k]
  if v == nil then return nil end
  local n = math.tointeger(tonumber(v))
  if not n then die("--" .. k .. " must be an integer, got '" .. v .. "'") end
  return n
end

local args = parse(arg)
local popts = { output = "labels", blend = args.blend, border = args.border,
                batch_size = int(args, "batch-size") }
if args.tile then
  local h, w = args.tile:match("^(%d+)x(%d+)$")
  popts.tile = h and { tonumber(h), tonumber(w) } or int(args, "tile")
end
popts.overlap = int(args, "overlap")
if popts.overlap and not popts.tile then die("--overlap needs --tile") end
if int(args, "threads") then lunet.set_num_threads(int(args, "threads")) end
local alpha = tonumber(args.alpha or "0.5") or die("--alpha must be a number")

local lopts = { model = args.model }
if args.config then
  local ok, cfg = pcall(predict.decode_config, args.config)
  if not ok then die(tostring(cfg)) end
  lopts.config = cfg
end
local ok, model, meta = pcall(predict.load_model, args.checkpoint, lopts)
if not ok then die(tostring(model)) end
if meta.normalize then
  local nok, nz = pcall(predict.decode_config, meta.normalize)
  if not nok then die("metadata.normalize: " .. tostring(nz):gsub("^[^\n:]+:%d+: ", "")) end
  popts.normalize = nz
end
local cfg = model.config or lopts.config or {}
local mode = ({ [1] = "gray", [3] = "rgb", [4] = "rgba" })[cfg.in_channels or 3]
if not mode then
  die("cannot feed images to a model with " .. tostring(cfg.in_channels) .. " input channels")
end

local names, msg = core.image.listdir(args.input)
if not names then die("cannot read --input '" .. args.input .. "': " .. tostring(msg)) end
if not core.image.listdir(args.output) then
  os.execute("mkdir -p '" .. args.output:gsub("'", "'\\''") .. "'")
  if not core.image.listdir(args.output) then die("cannot create --output '" .. args.output .. "'") end
end
table.sort(names)

local done, failed = 0, 0
for _, name in ipairs(names) do
  local lower = name:lower()
  if lower:match("%.png$") or lower:match("%.jpe?g$") then
    local stem = name:gsub("%.[^.]*$", "")
    local path = args.input .. "/" .. name
    local iok, err = pcall(function()
      local img = image.load(path, { mode = mode })
      local ids = model:predict(img, popts)             -- H x W int32 class ids
      image.save(args.output .. "/" .. stem .. "_mask.png", ids, { palette = "voc" })
      local shown = img:size(1) == 4 and img:narrow(1, 1, 3) or img
      image.save(args.output .. "/" .. stem .. "_overlay.png", image.overlay(shown, ids, { alpha = alpha }))
      local counts = {}
      for c = 0, (cfg.num_classes or 256) - 1 do
        local n = ids:eq(c):to("int32"):sum():item()
        if n > 0 then counts[#counts + 1] = string.format("%d:%.1f%%", c, 100 * n / ids:numel()) end
      end
      print(string.format("%s  %dx%d  classes %s", name, img:size(2), img:size(3), table.concat(counts, " ")))
    end)
    if iok then done = done + 1 else
      failed = failed + 1
      io.stderr:write("predict: ", name, ": ", (tostring(err):gsub("^[^\n]-:%d+: ", "")), "\n")
    end
  end
end
print(string.format("%d image%s segmented into %s%s", done, done == 1 and "" or "s", args.output,
  failed > 0 and string.format(" (%d failed)", failed) or ""))
if done == 0 and failed == 0 then die("no PNG or JPEG files in '" .. args.input .. "'") end
os.exit(failed > 0 and 1 or 0)
