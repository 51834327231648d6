-- The page of examples/serve in a real browser: headless Chromium (driven through chromedriver's
-- WebDriver API with curl, examples/serve/webdriver.lua) loads GET / from lighttpd, a PNG is
-- uploaded through the page's file input, and the check reads the page's DOM (per-class
-- areas) and the screenshot's pixels (the overlay the page shows must be the overlay of
-- model:predict, pixel for pixel at the centre of every upscaled pixel). Skipped with the
-- reason when lighttpd, mod_magnet, curl, chromium or chromium-driver is missing.
local lunet = require "lunet"
local image = require "lunet.image"
local predict = require "lunet.predict"
local UNet = require "lunet.models.unet"

package.path = "examples/serve/?.lua;" .. package.path
local webdriver = require "webdriver"
local fmt = string.format

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function exists(p)
  local f = io.open(p, "rb")
  if f then f:close() return true end
  return false
end

local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local s = f:read("a")
  f:close()
  return not s:match("^%d+ %b() Z")
end

local missing
if not exists("/usr/sbin/lighttpd") or not exists("/usr/lib/lighttpd/mod_magnet.so") then
  missing = "lighttpd or lighttpd-modules-lua is not installed (apt-get install lighttpd lighttpd-modules-lua)"
elseif not os.execute("command -v curl >/dev/null 2>&1") then
  missing = "curl is not installed (apt-get install curl)"
else
  local ok, why = webdriver.available()
  if not ok then missing = why end
end

describe("examples/serve page in headless Chromium", function()
  if missing then
    pending("skipped: " .. missing)
    return
  end
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. sh_quote(dir)))
  local pid, driver
  teardown(function()
    if driver then driver:quit() end
    if pid and alive(pid) then
      os.execute("kill " .. pid)
      for _ = 1, 50 do
        if not alive(pid) then break end
        os.execute("sleep 0.1")
      end
    end
    os.execute("rm -rf " .. sh_quote(dir))
  end)

  it("uploads an image and shows the overlay and the per-class areas", function()
    lunet.manual_seed(3)
    local model = UNet { in_channels = 3, num_classes = 3, base = 4, depth = 2, norm = "batch" }
    lunet.no_grad(function() model.head.bias:copy_(lunet.tensor { 0.0, 0.1, -0.05 }) end)
    local mpath = dir .. "/model.safetensors"
    predict.save_model(mpath, model, { metadata = { classes = "sky,road,car" } })
    -- smooth structure (gradients plus a square) so the classes form regions
    local H, W = 48, 64
    local yy = lunet.arange(0, H):view(H, 1):expand(H, W):to("float32")
    local xx = lunet.arange(0, W):view(1, W):expand(H, W):to("float32")
    local sq = yy:ge(12):to("float32"):mul(yy:lt(36):to("float32")):mul(xx:ge(20):to("float32")):mul(xx:lt(50):to("float32"))
    local img = lunet.stack({ xx:mul(4), yy:mul(5), sq:mul(255) }, 1):clamp(0, 255):to("uint8")
    local ipath = dir .. "/upload.png"
    image.save(ipath, img)

    local out = io.popen(fmt("lua5.4 examples/serve/launch.lua --model %s --port 0 --background --run-dir %s 2>&1",
                             sh_quote(mpath), sh_quote(dir .. "/run"))):read("a")
    pid = tonumber(out:match("pid=(%d+)"))
    local url = out:match("url=(%S+)")
    assert.truthy(pid and url, out)

    driver = webdriver.start { dir = dir, width = 900, height = 560 }
    driver:get(url)
    driver:wait("return document.getElementById('model').textContent.startsWith('model ') ? 'yes' : ''", "yes", 30)
    driver:upload("#file", ipath)
    driver:wait("return document.body.dataset.done || ''", "1", 60)

    -- the areas table against the model's own prediction
    package.loaded.segserve = nil
    local served = require("segserve").load(mpath)
    lunet.set_num_threads(1)
    local ids = served:predict(img, { output = "labels" })
    local rows = driver:execute([[return Array.from(document.querySelectorAll('#areas tbody tr'))
      .map(tr => Array.from(tr.cells).map(c => c.textContent.trim()).join('|')).join(';')]])
    local want = {}
    for c, name in ipairs { "sky", "road", "car" } do
      local n = ids:eq(c - 1):to("int32"):sum():item()
      want[c] = fmt("%d %s|%d|%.1f %%", c - 1, name, n, 100 * n / (H * W))
    end
    assert.are.equal(table.concat(want, ";"), rows)
    assert.truthy(driver:execute("return document.getElementById('status').textContent"):find("upload.png: 64x48 pixels", 1, true))

    -- the screenshot: the overlay image shown 4x (256 px wide, pixelated)
    local shot = driver:screenshot()
    local f = assert(io.open(dir .. "/screenshot.png", "wb"))
    f:write(shot)
    f:close()
    local s = image.decode(shot, { mode = "rgb" })
    local box = driver:execute([[const e = document.getElementById('overlay'), r = e.getBoundingClientRect();
      return [r.left + e.clientLeft, r.top + e.clientTop, e.clientWidth, e.clientHeight].join(',')]])
    local ox, oy, cw, ch = box:match("^([%d.]+),([%d.]+),(%d+),(%d+)$")
    ox, oy, cw, ch = tonumber(ox), tonumber(oy), tonumber(cw), tonumber(ch)
    assert.are.same({ 256, 192 }, { cw, ch })
    local expect = image.overlay(img, ids, { alpha = 0.5, palette = "voc" }):to("int32")
    local shown = s:to("int32")
    local worst, coloured = 0, 0
    for y = 0, H - 1 do
      for x = 0, W - 1 do
        local sy, sx = math.floor(oy + (y + 0.5) * 4), math.floor(ox + (x + 0.5) * 4)
        for c = 1, 3 do
          local d = math.abs(shown:get(c, sy + 1, sx + 1) - expect:get(c, y + 1, x + 1))
          if d > worst then worst = d end
        end
        if ids:get(y + 1, x + 1) ~= 0 then coloured = coloured + 1 end
      end
    end
    assert.is_true(coloured > 0 and coloured < H * W, "the model must give some class other than 0")
    assert.is_true(worst <= 2, fmt("screenshot differs from the overlay by up to %d", worst))
    driver:quit()
    driver = nil
    assert.are.same({}, webdriver.processes_with(dir .. "/chromium-profile"))
  end)
end)
