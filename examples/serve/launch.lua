-- Starts the lighttpd segmentation endpoint (examples/serve): fills the templates
-- lighttpd.conf.in and entry.lua.in with the port, the paths and this Lua's package.path /
-- package.cpath (so lighttpd's Lua state finds lunet in the build tree), writes them to
-- --run-dir and runs `lighttpd -D -f <run-dir>/lighttpd.conf` on 127.0.0.1.
--
--   eval "$(make -s env)"
--   lua5.4 examples/serve/launch.lua --model M.safetensors [--port 8088 | --port 0]
--       [--bind 127.0.0.1] [--workers 0] [--threads 1] [--max-body BYTES] [--max-pixels N]
--       [--classes background,foreground] [--run-dir out/serve/run] [--background] [--testing]
--
-- --port 0 (or a busy port) picks a free one (scanning /proc/net/tcp for listeners and
-- retrying when the bind still fails). In the foreground (default) it prints the URL and runs
-- lighttpd until Ctrl-C. --background starts lighttpd, waits until GET /healthz answers (the
-- model is loaded by then), prints "pid=<lighttpd pid> port=<port> url=<url>" and exits;
-- stop it with kill <pid>. --workers N > 0 forks N lighttpd workers (each loads its own
-- model); keep workers x threads <= cores. --testing enables GET /_error (a Lua error raised
-- inside the handler, for the specs).
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local fmt = string.format

local function die(msg)
  io.stderr:write("serve: ", msg, "\n")
  os.exit(1)
end

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function abspath(p)
  if p:sub(1, 1) == "/" then return p end
  local cwd = os.getenv("PWD") or io.popen("pwd"):read("l")
  return cwd .. "/" .. p
end

local usage = [==[
usage: lua5.4 examples/serve/launch.lua --model FILE [--port N] [--bind ADDR] [--workers N]
       [--threads N] [--max-body BYTES] [--max-pixels N] [--classes a,b,...] [--run-dir DIR]
       [--background] [--testing]]==]

local o = {port = "8088", bind = "127.0.0.1", workers = "0", threads = "1",
           ["max-body"] = tostring(8 * 1024 * 1024), ["max-pixels"] = tostring(4 * 1024 * 1024),
           ["run-dir"] = "out/serve/run"}
local flags = {model = true, port = true, bind = true, workers = true, threads = true, ["max-body"] = true,
               ["max-pixels"] = true, classes = true, ["run-dir"] = true}
do
  local i = 1
  while arg[i] do
    local a = arg[i]
    local k, v = a:match("^%-%-([%w-]+)=(.*)$")
    if a == "-h" or a == "--help" then print(usage); os.exit(0)
    elseif a == "--background" then o.background = true
    elseif a == "--testing" then o.testing = true
    else
      k = k or a:match("^%-%-([%w-]+)$")
      if not k or not flags[k] then die("unknown argument '" .. a .. "'\n" .. usage) end
      if v == nil then i = i + 1; v = arg[i] end
      if v == nil then die("--" .. k .. " needs a value") end
      o[k] = v
    end
    i = i + 1
  end
end
if not o.model then die("--model is required\n" .. usage) end
local function int(k, lo)
  local n = math.tointeger(tonumber(o[k]))
  if not n or n < lo then die(fmt("--%s must be an integer >= %d, got '%s'", k, lo, o[k])) end
  return n
end
local port, workers, threads = int("port", 0), int("workers", 0), int("threads", 1)
local max_body, max_pixels = int("max-body", 1), int("max-pixels", 1)
if port > 65535 then die("--port must be <= 65535") end
local model = abspath(o.model)
do
  local f = io.open(model, "rb")
  if not f then die("cannot read the model '" .. model .. "'") end
  f:close()
end

local lighttpd
for _, p in ipairs {"/usr/sbin/lighttpd", "/usr/bin/lighttpd"} do
  local f = io.open(p, "rb")
  if f then f:close(); lighttpd = p; break end
end
if not lighttpd then die("lighttpd is not installed (apt-get install lighttpd lighttpd-modules-lua)") end

local run = abspath(o["run-dir"])
os.execute("mkdir -p " .. sh_quote(run .. "/www"))
local serve_dir = abspath(here)

-- Ports with a listening TCP socket (IPv4 and IPv6), from /proc/net/tcp{,6}.
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

local function pick_port(start)
  local used = listening()
  local p = start
  if p == 0 then p = 20000 + (os.time() * 7919 + math.floor(os.clock() * 1e6)) % 30000 end
  while used[p] do p = p + 1; if p > 65000 then p = 20000 end end
  return p
end

local function fill(template, vars)
  local f = assert(io.open(serve_dir .. "/" .. template, "rb"))
  local s = f:read("a")
  f:close()
  s = s:gsub("@([%u_]+)@", function(k)
    local v = vars[k]
    if v == nil then die("template " .. template .. ": no value for @" .. k .. "@") end
    return tostring(v)
  end)
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function lua_literal(t)
  local keys, out = {}, {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = t[k]
    out[#out + 1] = fmt("%s = %s", k, type(v) == "string" and fmt("%q", v) or tostring(v))
  end
  return "{" .. table.concat(out, ", ") .. "}"
end

local function generate(p)
  local settings = {model = model, threads = threads, max_body = max_body, max_pixels = max_pixels,
                    index = serve_dir .. "/index.html", testing = o.testing or nil, classes = o.classes}
  write(run .. "/entry.lua", fill("entry.lua.in", {
    LUA_PATH = fmt("%q", serve_dir .. "/?.lua;" .. package.path),
    LUA_CPATH = fmt("%q", package.cpath),
    SETTINGS = lua_literal(settings),
  }))
  write(run .. "/lighttpd.conf", fill("lighttpd.conf.in", {
    BIND = o.bind, PORT = p, RUN_DIR = run, WORKERS = workers, ENTRY = run .. "/entry.lua",
    SERVE_DIR = serve_dir, MAX_REQUEST_KB = (max_body + 1023) // 1024 + 64,
  }))
  local t = io.popen(lighttpd .. " -t -f " .. sh_quote(run .. "/lighttpd.conf") .. " 2>&1")
  local out = t:read("a")
  if not t:close() then die("lighttpd rejects the generated configuration:\n" .. out) end
end

local function url_of(p)
  local host = o.bind:find(":") and ("[" .. o.bind .. "]") or o.bind
  return fmt("http://%s:%d/", host, p)
end

if not o.background then
  local p = pick_port(port)
  generate(p)
  print(fmt("serving %s on %s (configuration %s/lighttpd.conf; Ctrl-C stops)", model, url_of(p), run))
  io.stdout:flush()
  -- lighttpd runs in its own session: with workers, the master stops them with kill(0, SIGTERM),
  -- which would otherwise reach make and this launcher. The shell forwards Ctrl-C (and TERM,
  -- HUP) to it and waits until it has stopped.
  local ok = os.execute(fmt("setsid %s -D -f %s & pid=$!; trap 'stop=1; kill $pid 2>/dev/null' INT TERM HUP; " ..
                            "wait $pid; st=$?; wait $pid 2>/dev/null; [ -n \"$stop\" ] && st=0; exit $st",
                            lighttpd, sh_quote(run .. "/lighttpd.conf")))
  os.exit(ok and 0 or 1)
end

-- Background: start, wait for /healthz, report the pid. curl runs without LD_PRELOAD (under
-- `make asan` the sanitizer runtime is preloaded for lighttpd, which loads the ASan build of
-- lunet.core, but a preloaded ASan can hang curl's exit).
local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local s = f:read("a")
  f:close()
  return not s:match("^%d+ %b() Z")
end

local function sleep(s) os.execute("sleep " .. s) end

for _ = 1, 5 do
  local p = pick_port(port)
  generate(p)
  local log = run .. "/stderr.log"
  -- its own session (setsid): see above; $! is lighttpd's pid (setsid execs it, no fork)
  local h = io.popen(fmt("setsid %s -D -f %s >>%s 2>&1 </dev/null & echo $!", lighttpd,
                         sh_quote(run .. "/lighttpd.conf"), sh_quote(log)))
  local pid = tonumber(h:read("l"))
  h:close()
  local url = url_of(p)
  for _ = 1, 300 do   -- up to 60 s (the first request loads the model)
    if not alive(pid) then break end
    local c = io.popen("env -u LD_PRELOAD curl -s -m 30 -w '\n%{http_code}' " .. sh_quote(url .. "healthz"))
    local answer = c:read("a")
    c:close()
    local body, code = answer:match("^(.-)\n(%d%d%d)$")
    if code == "200" then
      print(fmt("pid=%d port=%d url=%s", pid, p, url))
      os.exit(0)
    elseif code and code:sub(1, 1) == "5" then   -- e.g. the model cannot be loaded
      os.execute("kill " .. pid)
      die(fmt("the server answered %shealthz with %s; stopped it (see %s)", url, body:gsub("%s+$", ""), log))
    end
    sleep(0.2)
  end
  if alive(pid) then
    os.execute("kill " .. pid)
    die(fmt("lighttpd (pid %d) did not answer %shealthz within 60 s; see %s and %s/error.log", pid, url, log, run))
  end
  local f = io.open(run .. "/error.log")
  local err = f and f:read("a") or ""
  if f then f:close() end
  if not err:find("Address already in use", 1, true) then
    die(fmt("lighttpd exited at start; see %s and %s/error.log:\n%s", log, run, err:sub(-2000)))
  end
  os.remove(run .. "/error.log")
  port = p + 1
end
die("no free port found after 5 attempts")
