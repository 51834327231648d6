-- Screenshot of the page with an uploaded image, in headless Chromium through chromedriver
-- (examples/serve/webdriver.lua): made examples/figures/serve.png with `make serve` running.
--
--   lua5.4 examples/serve/screenshot.lua --url http://127.0.0.1:8088/ --image out/serve/samples/tux_1.png \
--          --out examples/figures/serve.png
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local webdriver = require "webdriver"

local o = {}
for i = 1, #arg, 2 do
  local k = arg[i]:match("^%-%-(%w+)$")
  if not k or arg[i + 1] == nil then
    io.stderr:write("usage: lua5.4 examples/serve/screenshot.lua --url URL --image FILE --out FILE.png\n")
    os.exit(2)
  end
  o[k] = arg[i + 1]
end
assert(o.url and o.image and o.out, "--url, --image and --out are required")
local ok, why = webdriver.available()
if not ok then io.stderr:write("screenshot: ", why, "\n") os.exit(1) end
local image = o.image:sub(1, 1) == "/" and o.image or (os.getenv("PWD") .. "/" .. o.image)
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p '" .. dir .. "'")
local d = webdriver.start{dir = dir, width = 900, height = 640}
local res, err = pcall(function()
  d:get(o.url)
  d:wait("return document.getElementById('model').textContent.startsWith('model ') ? 'yes' : ''", "yes", 30)
  d:upload("#file", image)
  d:wait("return document.body.dataset.done || ''", "1", 60)
  local f = assert(io.open(o.out, "wb"))
  f:write(d:screenshot())
  f:close()
end)
d:quit()
os.execute("rm -rf '" .. dir .. "'")
if not res then io.stderr:write("screenshot: ", tostring(err), "\n") os.exit(1) end
print("wrote " .. o.out)
