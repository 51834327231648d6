-- Prepares the model `make serve` serves: the demo's Tux Paint U-Net (examples/demo.lua,
-- foreground vs background on photo cut-outs pasted on textures, 48 x 48 training images).
--
--   lua5.4 examples/serve/model.lua [--checkpoint out/tuxpaint.safetensors]
--                                   [--output out/serve/tuxpaint_serve.safetensors]
--                                   [--samples out/serve/samples]
--
-- The demo's checkpoint (written by lunet.train.fit: the model under "model.<name>" beside the
-- optimizer state) is rebuilt with the demo's options and saved with
-- lunet.predict.save_model, so its metadata names the model, its options and the class names
-- (load_model rebuilds it from the file alone). When the checkpoint does not exist the caller
-- (make serve) trains it first with `lua5.4 examples/demo.lua --only tuxpaint`. --samples
-- writes a few held-out composites (another seed than training) as PNG and JPEG to try the
-- page with.
local lunet = require "lunet"
local predict = require "lunet.predict"
local image = require "lunet.image"
local data = require "lunet.data"

local o = {checkpoint = "out/tuxpaint.safetensors", output = "out/serve/tuxpaint_serve.safetensors",
           samples = "out/serve/samples"}
do
  local i = 1
  while arg[i] do
    local k = arg[i]:match("^%-%-(%w+)$")
    if not k or o[k] == nil or arg[i + 1] == nil then
      io.stderr:write("usage: lua5.4 examples/serve/model.lua [--checkpoint F] [--output F] [--samples DIR]\n")
      os.exit(1)
    end
    o[k] = arg[i + 1]
    i = i + 2
  end
end

-- The demo's Tux Paint model (examples/demo.lua).
local CONFIG = {in_channels = 3, num_classes = 2, base = 16, depth = 4, norm = "batch"}
local ok, model = pcall(predict.load_model, o.checkpoint, {model = "unet", config = CONFIG})
if not ok then
  io.stderr:write("serve: ", tostring(model):gsub("^[^\n:]+:%d+: ", ""), "\n")
  os.exit(1)
end
os.execute("mkdir -p '" .. (o.output:match("^(.*)/[^/]*$") or "."):gsub("'", "'\\''") .. "'")
predict.save_model(o.output, model, {model = "unet", config = CONFIG,
  metadata = {classes = "background,foreground", trained_on = "Tux Paint composites 48x48 (examples/demo.lua)"}})
print("wrote " .. o.output)

if o.samples ~= "" then
  os.execute("mkdir -p '" .. o.samples:gsub("'", "'\\''") .. "'")
  local ds = data.tuxpaint{n = 4, size = 64, seed = 7}
  for i = 1, ds:len() do
    local img = ds:get(i).image
    image.save(string.format("%s/tux_%d.png", o.samples, i), img)
    image.save(string.format("%s/tux_%d.jpg", o.samples, i), img, {quality = 92})
  end
  print(string.format("wrote %d sample images to %s", ds:len(), o.samples))
end
