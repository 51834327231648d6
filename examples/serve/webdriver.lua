-- webdriver: drives headless Chromium through chromedriver's W3C WebDriver HTTP API with curl
-- (Debian chromium + chromium-driver; no other dependency). Used by spec/browser_spec.lua and
-- examples/serve/screenshot.lua to load the page, upload an image through its file input and
-- take a screenshot. chromedriver, Chromium and curl run without LD_PRELOAD (make asan
-- preloads the sanitizer runtime for the Lua side only).
--
--   local wd = require "webdriver"
--   local d = wd.start{dir = tmpdir, width = 900, height = 560}  -- chromedriver + a session
--   d:get("http://127.0.0.1:8088/")
--   d:upload("#file", "/abs/path/image.png")          -- sets the <input type=file>
--   d:wait("return document.body.dataset.done || ''", "1", 30)
--   local png = d:screenshot()                         -- PNG bytes of the viewport
--   d:quit()                                           -- ends the session, stops chromedriver
local M = {}
local fmt = string.format

local LIST = {}   -- metatable marking a table as a JSON list (also when empty)

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function exists(p)
  local f = io.open(p, "rb")
  if f then f:close() return true end
  return false
end

--- available() -> true, or false and the reason (chromium or chromedriver missing).
function M.available()
  if not exists("/usr/bin/chromium") then return false, "chromium is not installed (apt-get install chromium)" end
  if not exists("/usr/bin/chromedriver") then
    return false, "chromedriver is not installed (apt-get install chromium-driver)"
  end
  return true
end

-- JSON string literal (the requests only hold strings, numbers, lists and flat objects).
local function json(v)
  local t = type(v)
  if t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c) return fmt("\\u%04x", c:byte()) end) .. '"'
  elseif t == "number" or t == "boolean" then return tostring(v)
  elseif t == "table" then
    local out = {}
    if #v > 0 or getmetatable(v) == LIST then
      for i = 1, #v do out[i] = json(v[i]) end
      return "[" .. table.concat(out, ",") .. "]"
    end
    for k, x in pairs(v) do out[#out + 1] = json(tostring(k)) .. ":" .. json(x) end
    return "{" .. table.concat(out, ",") .. "}"
  end
  return "null"
end

local function unescape(s)
  return (s:gsub("\\u(%x%x%x%x)", function(h)
    local n = tonumber(h, 16)
    return n < 128 and string.char(n) or utf8.char(n)
  end):gsub("\\(.)", {n = "\n", t = "\t", r = "\r", ['"'] = '"', ["\\"] = "\\", ["/"] = "/"}))
end

local B64 = {}
do
  local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  for i = 1, 64 do B64[chars:byte(i)] = i - 1 end
end

--- base64(s) -> the bytes s encodes (standard alphabet, padding and line breaks allowed).
function M.base64(s)
  local out, acc, bits = {}, 0, 0
  for i = 1, #s do
    local v = B64[s:byte(i)]
    if v then
      acc = (acc << 6) | v
      bits = bits + 6
      if bits >= 8 then
        bits = bits - 8
        out[#out + 1] = string.char((acc >> bits) & 0xff)
      end
    end
  end
  return table.concat(out)
end

local function listening()
  local used = {}
  for _, f in ipairs {"/proc/net/tcp", "/proc/net/tcp6"} do
    local h = io.open(f)
    if h then
      for line in h:lines() do
        local p, st = line:match("^%s*%d+: %x+:(%x+) %x+:%x+ (%x%x)")
        if p and st == "0A" then used[tonumber(p, 16)] = true end
      end
      h:close()
    end
  end
  return used
end

local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local s = f:read("a")
  f:close()
  return not s:match("^%d+ %b() Z")
end

local Driver = {}
Driver.__index = Driver

-- One WebDriver command: method, path under the session (or absolute), body table -> the raw
-- JSON answer; raises with chromedriver's message on an error answer.
function Driver:cmd(method, path, body)
  local file = self.dir .. "/wd_body.json"
  local f = assert(io.open(file, "wb"))
  f:write(body and json(body) or "{}")
  f:close()
  local url = self.base .. path:gsub("^~", "/session/" .. (self.session or ""))
  local cmd = fmt("env -u LD_PRELOAD curl -s -m 120 -X %s -H 'Content-Type: application/json' %s %s", method,
                  method == "POST" and ("--data-binary @" .. sh_quote(file)) or "", sh_quote(url))
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  local err = out:match('"error"%s*:%s*"([^"]*)"')
  if err or out == "" then
    local msg = out:match('"message"%s*:%s*"(.-[^\\])"') or out
    error(fmt("webdriver: %s %s: %s: %s", method, path, err or "no answer", unescape(msg):sub(1, 300)), 2)
  end
  return out
end

--- start({dir, width, height}) -> a driver: starts chromedriver on a free loopback port and
--- a headless Chromium session (its profile in dir, sRGB colours, device scale 1).
function M.start(opts)
  local dir = assert(opts.dir, "webdriver.start: dir is required")
  local used, port = listening(), 21000 + (os.time() * 131) % 20000
  while used[port] do port = port + 1 end
  -- the shell stays chromedriver's parent and reaps it (quit closes the pipe after the kill)
  local h = io.popen(fmt("env -u LD_PRELOAD chromedriver --port=%d --allowed-ips=127.0.0.1 >%s 2>&1 </dev/null & echo $!; wait", port,
                         sh_quote(dir .. "/chromedriver.log")))
  local pid = tonumber(h:read("l"))
  local d = setmetatable({dir = dir, pid = pid, proc = h, base = fmt("http://127.0.0.1:%d", port)}, Driver)
  local ready = false
  for _ = 1, 100 do
    local c = io.popen("env -u LD_PRELOAD curl -s -m 5 " .. sh_quote(d.base .. "/status"))
    local s = c:read("a")
    c:close()
    if s:find('"ready"%s*:%s*true') then ready = true break end
    if not alive(pid) then break end
    os.execute("sleep 0.1")
  end
  if not ready then
    d:quit()
    error("webdriver: chromedriver did not start (see " .. dir .. "/chromedriver.log)", 2)
  end
  local args = setmetatable({"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--force-color-profile=srgb", "--force-device-scale-factor=1", "--hide-scrollbars",
    fmt("--window-size=%d,%d", opts.width or 900, opts.height or 560),
    "--user-data-dir=" .. dir .. "/chromium-profile"}, LIST)
  local ok, out = pcall(d.cmd, d, "POST", "/session", {capabilities = {alwaysMatch = {
    browserName = "chrome", ["goog:chromeOptions"] = {binary = "/usr/bin/chromium", args = args}}}})
  if not ok then d:quit() error(out, 2) end
  d.session = out:match('"sessionId"%s*:%s*"([^"]+)"')
  return d
end

--- d:get(url) navigates and waits for the page to load.
function Driver:get(url) self:cmd("POST", "~/url", {url = url}) end

--- d:execute(script) -> the script's return value as a string (the script must return a
--- string or a number).
function Driver:execute(script)
  local out = self:cmd("POST", "~/execute/sync", {script = script, args = setmetatable({}, LIST)})
  local s = out:match('"value"%s*:%s*"(.-)"%s*}%s*$')
  if s then return unescape(s) end
  return out:match('"value"%s*:%s*([^,}]+)')
end

--- d:wait(script, want, seconds) polls until execute(script) returns want; raises on timeout.
function Driver:wait(script, want, seconds)
  local last
  for _ = 1, (seconds or 30) * 10 do
    last = self:execute(script)
    if last == want then return true end
    os.execute("sleep 0.1")
  end
  error(fmt("webdriver: waited %d s for %s to return %q, last %q", seconds or 30, script, want, tostring(last)), 2)
end

--- d:upload(css, path) types an absolute file path into the <input type=file> css selects.
function Driver:upload(css, path)
  local out = self:cmd("POST", "~/element", {using = "css selector", value = css})
  local id = out:match('"element%-6066%-11e4%-a52e%-4f735466cecf"%s*:%s*"([^"]+)"')
  assert(id, "webdriver: no element " .. css)
  self:cmd("POST", "~/element/" .. id .. "/value", {text = path})
end

--- d:screenshot() -> PNG bytes of the viewport.
function Driver:screenshot()
  local out = self:cmd("GET", "~/screenshot")
  return M.base64(assert(out:match('"value"%s*:%s*"([^"]+)"'), "webdriver: no screenshot"))
end

--- d:quit() ends the session and stops chromedriver (and with it Chromium).
function Driver:quit()
  if self.session then pcall(self.cmd, self, "DELETE", "~") self.session = nil end
  if self.pid and alive(self.pid) then
    os.execute("kill " .. self.pid)
    for _ = 1, 50 do
      if not alive(self.pid) then break end
      os.execute("sleep 0.1")
    end
    if alive(self.pid) then os.execute("kill -9 " .. self.pid) end
  end
  if self.proc then self.proc:close() self.proc = nil end
  -- Chromium processes of this profile still running (a session that did not end cleanly)
  local profile = self.dir .. "/chromium-profile"
  for _ = 1, 20 do
    local left = M.processes_with(profile)
    if #left == 0 then break end
    for _, pid in ipairs(left) do os.execute("kill " .. pid .. " 2>/dev/null") end
    os.execute("sleep 0.1")
  end
end

--- processes_with(s) -> pids of the live processes whose command line contains s.
function M.processes_with(s)
  local pids = {}
  local ls = io.popen("ls /proc")
  for name in ls:lines() do
    if name:match("^%d+$") and alive(name) then
      local f = io.open("/proc/" .. name .. "/cmdline", "rb")
      local cmd = f and f:read("a") or ""
      if f then f:close() end
      if cmd:find(s, 1, true) then pids[#pids + 1] = tonumber(name) end
    end
  end
  ls:close()
  return pids
end

return M
